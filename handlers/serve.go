package handlers

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// Config is what Serve runs with.
type Config struct {
	// Backends are the backends clients may choose, in the order
	// initialize lists them; DefaultBackend is used by queries that name
	// none.
	Backends       []backends.Backend
	DefaultBackend string
	// Version is reported by initialize.
	Version string
	Framing rpc.Framing
	// Trace logs every message at debug level.
	Trace bool
	// ShutdownTimeout bounds how long closing the sessions may take.
	ShutdownTimeout time.Duration
	Log             *slog.Logger
}

// Serve runs Tether on one connection (in, out: stdin and stdout for the
// binary, pipes for tests and in-process hosts) and returns the exit code
// the process should end with: 0 after shutdown and exit, or when the input
// ended and what it asked was answered; 1 for exit without shutdown, a
// broken stream, a client that stopped reading, or ctx ending (a signal).
// Every session is closed, and every goroutine Serve started has ended,
// when it returns. Serve closes in; it never closes out.
func Serve(ctx context.Context, in io.ReadCloser, out io.Writer, cfg Config) int {
	log := cfg.Log
	srv := rpc.NewServer(log)
	reg := sessions.NewRegistry(sessions.Config{
		Backends:       cfg.Backends,
		DefaultBackend: cfg.DefaultBackend,
		Client:         srv,
		Log:            log,
	})
	h := New(reg, protocol.ServerInfo{Name: "tether", Version: cfg.Version}, cfg.ShutdownTimeout, log)
	h.Register(srv)
	stream := rpc.NewStream(in, out, in, cfg.Framing, log)
	srv.Start(stream, cfg.Trace)
	log.Info("serving", "default_backend", cfg.DefaultBackend)

	code := 0
	select {
	case <-h.Exit():
		if !h.ShutDown() {
			code = 1
		}
	case <-stream.InputEnded():
		// A shell pipe ends its input right after its requests: answer
		// them, then go; unless nobody is there to read the answers.
		log.Info("input ended; finishing the queries in flight")
		gone, stop := context.WithCancel(ctx)
		unwatch := watchGone(gone, stop, stream.WriteFailed(), srv.Done())
		if err := reg.Drain(gone); err != nil {
			log.Warn("client gone before its queries ended", "err", err)
		}
		stop()
		unwatch()
	case <-stream.WriteFailed():
		log.Warn("client stopped reading")
		code = 1
	case <-srv.Done():
		log.Error("connection broken")
		code = 1
	case <-ctx.Done():
		log.Info("stopped", "cause", context.Cause(ctx))
		code = 1
	}
	closing, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := reg.Shutdown(closing); err != nil {
		log.Error("closing sessions", "err", err)
		code = 1
	}
	h.Wait()
	srv.Close()
	log.Info("exit", "code", code)
	return code
}

// watchGone calls stop when either channel closes, or when ctx ends; the
// returned func waits for the watcher to end (call it after stop).
func watchGone(ctx context.Context, stop func(), a, b <-chan struct{}) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-a:
		case <-b:
		case <-ctx.Done():
		}
		stop()
	}()
	return func() { <-done }
}
