// Package handlers runs one connection of Tether to its end, whatever the
// wire dialect: it wires the transport (rpc), the session registry and a
// dialect (handlers/tether for Tether's own protocol, handlers/acp for the
// Agent Client Protocol) together, and owns the lifecycle that both share:
// end of input, signals, shutdown deadlines and the exit code. The binary,
// `tether ask` and the tests all serve through Serve.
package handlers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/handlers/tether"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
	"github.com/tether-dev/tether/store"
)

// Dialect is one wire protocol over the engine.
type Dialect interface {
	// ConnOptions are what the dialect needs of the connection: its
	// cancellation method and its error codes.
	ConnOptions() rpc.Options
	// Framing is the framing the dialect speaks (FramingAuto: whatever
	// the client sends).
	Framing() rpc.Framing
	// Bind registers the dialect's methods on conn, serving reg.
	Bind(conn *rpc.Conn, reg *sessions.Registry)
	// Exit is closed when the client asked Tether to exit (nil for a
	// dialect without such a message); ShutDown reports whether it shut
	// Tether down cleanly first.
	Exit() <-chan struct{}
	ShutDown() bool
	// Wait waits for the goroutines the dialect started.
	Wait()
}

// Config is what Serve runs with.
type Config struct {
	// Backends are the backends clients may choose, in the order
	// initialize lists them; DefaultBackend is used by sessions that name
	// none.
	Backends       []backends.Backend
	DefaultBackend string
	// Dialect speaks on the connection; nil means Tether's own protocol.
	Dialect Dialect
	// Version is reported by initialize.
	Version string
	// Framing forces a framing; FramingAuto leaves it to the dialect.
	Framing rpc.Framing
	// MaxMessageSize bounds one incoming message; 0 means the default.
	MaxMessageSize int
	// Trace logs every message at debug level.
	Trace bool
	// ShutdownTimeout bounds how long closing the sessions may take before
	// their processes are killed.
	ShutdownTimeout time.Duration
	// IdleStop and MaxProcesses bound the sessions' backend processes
	// (see sessions.Config).
	IdleStop     time.Duration
	MaxProcesses int
	// Store keeps sessions across restarts; nil keeps none. Serve uses it
	// and leaves it open: its opener closes it. StoreProblem says why there
	// is none when one was wanted (initialize tells the client).
	Store        *store.Store
	StoreProblem string
	// OnReplyProblem, when set, is told of a request answered twice or
	// never (a check for tests).
	OnReplyProblem func(method, problem string)
	Log            *slog.Logger
}

// Serve runs Tether on one connection (in, out: stdin and stdout for the
// binary, pipes for tests and in-process hosts) and returns the exit code
// the process should end with: 0 after shutdown and exit, or when the input
// ended and what it asked was answered; 1 for exit without shutdown, a
// broken stream, a client that stopped reading, ctx ending (a signal), or
// sessions that would not close in time. Every session is closed, and every
// goroutine Serve started has ended, when it returns (unless a backend
// outlived even being killed, which is logged). Serve closes in; it never
// closes out.
func Serve(ctx context.Context, in io.ReadCloser, out io.Writer, cfg Config) int {
	log := cfg.Log
	d := cfg.Dialect
	if d == nil {
		d = tether.New(protocol.ServerInfo{Name: "tether", Version: cfg.Version}, cfg.ShutdownTimeout, log)
	}
	framing := cfg.Framing
	if framing == rpc.FramingAuto {
		framing = d.Framing()
	}
	opts := d.ConnOptions()
	opts.Trace, opts.OnReplyProblem = cfg.Trace, cfg.OnReplyProblem
	conn := rpc.NewConn(rpc.NewStream(in, out, in, framing, cfg.MaxMessageSize, log), log, opts)
	reg := sessions.NewRegistry(sessions.Config{
		Backends:       cfg.Backends,
		DefaultBackend: cfg.DefaultBackend,
		IdleStop:       cfg.IdleStop,
		MaxProcesses:   cfg.MaxProcesses,
		Store:          cfg.Store,
		StoreProblem:   cfg.StoreProblem,
		Log:            log,
	})
	d.Bind(conn, reg)
	conn.Start()
	log.Info("serving", "default_backend", cfg.DefaultBackend)

	code := 0
	select {
	case <-d.Exit():
		if !d.ShutDown() {
			code = 1
		}
	case <-conn.InputEnded():
		if exited(d) {
			// exit came before the end of input (the read loop handles
			// messages in order): a client that sends exit and closes
			// its end at once means exit, not "finish what runs".
			if !d.ShutDown() {
				code = 1
			}
			break
		}
		// A shell pipe ends its input right after its requests: answer
		// them, then go; unless nobody is there to read the answers, or
		// a signal says stop.
		log.Info("input ended; finishing the prompts in flight")
		gone, stop := context.WithCancelCause(ctx)
		unwatch := watchGone(gone, stop, conn.WriteFailed())
		if err := reg.Drain(gone); err != nil {
			log.Warn("stopped before the prompts in flight ended", "err", err)
			code = 1
		}
		stop(nil)
		unwatch()
	case <-conn.WriteFailed():
		log.Warn("client stopped reading")
		code = 1
	case <-conn.Broken():
		log.Error("connection broken", "err", conn.Err())
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
	d.Wait()
	conn.Close()
	log.Info("exit", "code", code)
	return code
}

// exited reports whether the client has asked the dialect to exit.
func exited(d Dialect) bool {
	select {
	case <-d.Exit():
		return true
	default:
		return false
	}
}

// errClientGone is why a drain stops when the client stops reading.
var errClientGone = errors.New("client stopped reading")

// watchGone calls stop when failed closes, or when ctx ends; the returned
// func waits for the watcher to end (call it after stop).
func watchGone(ctx context.Context, stop context.CancelCauseFunc, failed <-chan struct{}) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-failed:
			stop(errClientGone)
		case <-ctx.Done():
		}
	}()
	return func() { <-done }
}
