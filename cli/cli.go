// Package cli is Tether's command line: it picks the command (serving
// Tether's protocol on stdio by default, `ask`), parses its flags and runs
// it. main.go only calls Main, so every command can also be run in-process
// by tests.
package cli

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

	"github.com/tether-dev/tether/ask"
	"github.com/tether-dev/tether/backends/builtin"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// Main runs the command in args (os.Args[1:]) and returns the process's exit
// code. version is the build's version.
func Main(args []string, stdin io.ReadCloser, stdout, stderr io.Writer, version string) int {
	if len(args) > 0 && args[0] == "ask" {
		return ask.Run(args[1:], stdin, stdout, stderr, version)
	}
	if len(args) > 0 && args[0] == "acp" {
		return serve(args[1:], stdin, stdout, stderr, version, &acpCommand{})
	}
	return serve(args, stdin, stdout, stderr, version, nil)
}

// serve parses args and serves on stdin/stdout until the client exits; it
// returns the process's exit code. Nothing but the protocol is written to
// stdout. cmd, when not nil, adds its flags and serves its dialect instead
// of Tether's own (`tether acp`).
func serve(args []string, stdin io.ReadCloser, stdout, stderr io.Writer, version string, cmd dialectCommand) int {
	fs := flag.NewFlagSet("tether", flag.ContinueOnError)
	fs.SetOutput(stderr)
	framing := fs.String("framing", "auto", "message framing: auto, lsp (Content-Length) or ndjson")
	backend := fs.String("backend", "", "default backend (mock, ...); by default the first available of claude, openai, mock")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	logFile := fs.String("log-file", "", "write logs to this file instead of stderr")
	trace := fs.Bool("trace", false, "log every JSON-RPC message (at debug level)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long shutdown waits for sessions to close before their processes are killed")
	idleStop := fs.Duration("idle-stop", sessions.DefaultIdleStop, "stop the backend process of a session idle this long (the session stays; its next query resumes it); 0 never does")
	maxProcesses := fs.Int("max-processes", sessions.DefaultMaxProcesses, "most backend processes (claude CLIs) alive at once; beyond it the least recently used idle one is stopped, or queries wait; 0 for no bound")
	maxMessage := fs.Int("max-message-size", rpc.DefaultMaxMessageSize, "largest message accepted, in bytes; larger ones are answered with an error and skipped")
	showVersion := fs.Bool("version", false, "print the version to stderr and exit")
	newBackends := builtin.Flags(fs)
	if cmd != nil {
		cmd.flags(fs)
	}
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
		MaxMessageSize:  *maxMessage,
		IdleStop:        *idleStop,
		MaxProcesses:    *maxProcesses,
		Log:             slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})),
	}
	var err error
	if cfg.Framing, err = rpc.ParseFraming(*framing); err != nil {
		fmt.Fprintf(stderr, "tether: %v\n", err)
		return 2
	}
	cfg.Backends = newBackends(cfg.Log)
	if cfg.DefaultBackend, err = builtin.Default(cfg.Backends, *backend); err != nil {
		fmt.Fprintf(stderr, "tether: %v\n", err)
		return 2
	}
	if cmd != nil {
		var code int
		if cfg.Dialect, code = cmd.dialect(&cfg, stdin, stdout, stderr); cfg.Dialect == nil {
			return code
		}
	}

	// A write to a closed stdout must fail with EPIPE, not kill Tether
	// before it has stopped its backends: being notified of SIGPIPE is
	// what tells the runtime so (os/signal).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	in, restore := pollable(stdin)
	defer restore()
	return handlers.Serve(ctx, in, stdout, cfg)
}
