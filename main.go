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
	"syscall"
	"time"

	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/rpc"
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
	newBackends := backendFlags(fs)
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
	cfg := handlers.Config{
		Version:         version,
		Trace:           *trace,
		ShutdownTimeout: *shutdownTimeout,
		Log:             slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})),
	}
	var err error
	if cfg.Framing, err = rpc.ParseFraming(*framing); err != nil {
		fmt.Fprintf(stderr, "tether: %v\n", err)
		return 2
	}
	cfg.Backends = newBackends(cfg.Log)
	if cfg.DefaultBackend, err = defaultBackend(cfg.Backends, *backend); err != nil {
		fmt.Fprintf(stderr, "tether: %v\n", err)
		return 2
	}

	// A write to a closed stdout must fail with EPIPE, not kill Tether
	// before it has stopped its backends: being notified of SIGPIPE is
	// what tells the runtime so (os/signal).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return handlers.Serve(ctx, stdin, stdout, cfg)
}
