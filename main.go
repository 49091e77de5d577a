// Command tether is a sidecar that editors, shell pipes and host apps spawn
// to talk to AI coding agents: JSON-RPC 2.0 on stdin/stdout, one actor per
// agent session. protocol.md is the contract; README.md shows how to run it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/claude"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/backends/openai"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// "tether ask" runs one query for a shell (ask.go); anything else is
	// the server's command line.
	if len(os.Args) > 1 && os.Args[1] == "ask" {
		os.Exit(ask(os.Args[2:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// config is what the flags decide.
type config struct {
	framing         rpc.Framing
	backend         string
	trace           bool
	shutdownTimeout time.Duration
	log             *slog.Logger
	stop            <-chan os.Signal // SIGINT, SIGTERM
}

// run parses args and serves on stdin/stdout until the client exits; it
// returns the process's exit code. Nothing but the protocol is written to
// stdout.
func run(args []string, stdin io.ReadCloser, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("tether", flag.ContinueOnError)
	fs.SetOutput(stderr)
	framing := fs.String("framing", "auto", "message framing: auto, lsp (Content-Length) or ndjson")
	backend := fs.String("backend", "", "default backend (mock, ...); by default the first available of claude, openai, mock")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFile := fs.String("log-file", "", "write logs to this file instead of stderr")
	trace := fs.Bool("trace", false, "log every JSON-RPC message (at debug level)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long shutdown waits for sessions to close")
	showVersion := fs.Bool("version", false, "print the version to stderr and exit")
	claudeCfg := claude.RegisterFlags(fs)
	openaiCfg := openai.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stderr, "tether", version)
		return 0
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "tether: bad --log-level: %v\n", err)
		return 2
	}
	logOut := stderr
	if *logFile != "" {
		f, err := os.OpenFile(*logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(stderr, "tether: %v\n", err)
			return 2
		}
		defer f.Close()
		logOut = f
	}
	cfg := config{
		backend:         *backend,
		trace:           *trace,
		shutdownTimeout: *shutdownTimeout,
		log:             slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})),
	}
	var err error
	if cfg.framing, err = rpc.ParseFraming(*framing); err != nil {
		fmt.Fprintf(stderr, "tether: %v\n", err)
		return 2
	}
	// The order is the order initialize lists them in.
	all := []backends.Backend{
		claude.New(*claudeCfg, cfg.log),
		openai.New(*openaiCfg, cfg.log),
		mock.Backend{},
	}
	def, err := defaultBackend(all, cfg.backend)
	if err != nil {
		fmt.Fprintf(stderr, "tether: %v\n", err)
		return 2
	}
	cfg.backend = def

	// A write to a closed stdout must fail with EPIPE, not kill Tether
	// before it has stopped its backends: being notified of SIGPIPE is
	// what tells the runtime so (os/signal).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stop)
	cfg.stop = stop
	return serve(stdin, stdout, all, cfg)
}

// defaultBackend is the backend queries use when they name none: the one
// asked for, else the first available of claude, openai and mock.
func defaultBackend(all []backends.Backend, asked string) (string, error) {
	var names []string
	for _, b := range all {
		names = append(names, b.Name())
		if b.Name() == asked {
			return asked, nil
		}
	}
	if asked != "" {
		return "", fmt.Errorf("unknown --backend %q (known: %s)", asked, strings.Join(names, ", "))
	}
	for _, want := range []string{"claude", "openai", mock.Name} {
		for _, b := range all {
			if ok, _ := b.Available(); ok && b.Name() == want {
				return want, nil
			}
		}
	}
	return mock.Name, nil
}

// serve runs Tether on one connection and returns the exit code: 0 after a
// shutdown request or end of input, 1 for exit without shutdown or a broken
// stream. Every session is closed before it returns.
func serve(in io.ReadCloser, out io.Writer, all []backends.Backend, cfg config) int {
	log := cfg.log
	srv := rpc.NewServer(log)
	reg := sessions.NewRegistry(sessions.Config{
		Backends:       all,
		DefaultBackend: cfg.backend,
		Client:         srv,
		Log:            log,
	})
	h := handlers.New(reg, protocol.ServerInfo{Name: "tether", Version: version}, cfg.shutdownTimeout, log)
	h.Register(srv)
	stream := rpc.NewStream(in, out, in, cfg.framing, log)
	srv.Start(stream, cfg.trace)
	log.Info("serving", "default_backend", cfg.backend)

	// gone ends when nobody is there to answer any more: a write failed,
	// the connection broke, or a signal asked Tether to stop.
	gone, stop := context.WithCancel(context.Background())
	defer stop()
	code := 0
	select {
	case <-h.Exit():
		if !h.ShutDown() {
			code = 1
		}
	case <-stream.InputEnded():
		// A shell pipe ends its input right after its requests: answer
		// them, then go.
		log.Info("input ended; finishing the queries in flight")
		go func() {
			select {
			case <-stream.WriteFailed():
			case <-srv.Done():
			case <-cfg.stop:
			case <-gone.Done():
			}
			stop()
		}()
		if err := reg.Drain(gone); err != nil {
			log.Warn("client gone before its queries ended", "err", err)
		}
	case <-stream.WriteFailed():
		log.Warn("client stopped reading")
		code = 1
	case <-srv.Done():
		log.Error("connection broken")
		code = 1
	case <-cfg.stop:
		log.Info("stopped by signal")
		code = 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := reg.Shutdown(ctx); err != nil {
		log.Error("closing sessions", "err", err)
		code = 1
	}
	h.Wait()
	srv.Close()
	log.Info("exit", "code", code)
	return code
}
