package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/builtin"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/internal/storeflags"
	"github.com/tether-dev/tether/internal/term"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// serveFlags are the flags of `tether [flags]`, which serves Tether's
// protocol on stdio. help prints them too.
type serveFlags struct {
	framing         *string
	backend         *string
	logLevel        *string
	logFile         *string
	trace           *bool
	shutdownTimeout *time.Duration
	idleStop        *time.Duration
	maxProcesses    *int
	maxMessage      *int
	version         *bool
	store           *storeflags.Flags
	newBackends     func(*slog.Logger) []backends.Backend
}

// newServeFlags registers the server's flags, the backends' included, on fs.
func newServeFlags(fs *flag.FlagSet) *serveFlags {
	return &serveFlags{
		framing:         fs.String("framing", "auto", "message `framing`: auto (detected from the first message), lsp (Content-Length headers) or ndjson (one message per line)"),
		backend:         fs.String("backend", "", "the default `backend`: claude, openai, mock, or an ACP agent's name (default: the first available of claude, openai and mock)"),
		logLevel:        fs.String("log-level", "info", "log `level`: debug, info, warn or error"),
		logFile:         fs.String("log-file", "", "write logs to this `file` instead of stderr"),
		trace:           fs.Bool("trace", false, "log every JSON-RPC message (at debug level)"),
		shutdownTimeout: fs.Duration("shutdown-timeout", 30*time.Second, "how long shutdown waits for sessions to close before their processes are killed"),
		idleStop:        fs.Duration("idle-stop", sessions.DefaultIdleStop, "stop the backend process of a session idle this long (the session stays; its next query resumes it); 0 never does"),
		maxProcesses:    fs.Int("max-processes", sessions.DefaultMaxProcesses, "most backend processes (claude CLIs) alive at once; beyond it the least recently used idle one is stopped, or queries wait; 0 for no bound"),
		maxMessage:      fs.Int("max-message-size", rpc.DefaultMaxMessageSize, "largest message accepted, in `bytes`; larger ones are answered with an error and skipped"),
		version:         fs.Bool("version", false, "print the version and exit"),
		store:           storeflags.Register(fs, true),
		newBackends:     builtin.Flags(fs),
	}
}

// serve is `tether [flags]`: it serves Tether's protocol on stdin/stdout
// until the client exits, and returns the process's exit code. Nothing but
// the protocol is written to stdout, except for --help and --version,
// which serve nothing.
func serve(args []string, std Stdio) int { return serveDialect(args, std, nil) }

// serveDialect serves Tether's protocol, or, when cmd is not nil, the
// dialect cmd makes (`tether acp`), which takes the same flags plus its
// own.
func serveDialect(args []string, std Stdio, cmd dialectCommand) int {
	name := "tether"
	if cmd != nil {
		name = "tether " + cmd.name()
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(std.Err)
	fs.Usage = func() {} // parse errors get a hint below; --help the whole help
	flags := newServeFlags(fs)
	if cmd != nil {
		cmd.flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if cmd != nil {
				printCommandHelp(std.Out, cmd.name())
			} else {
				printHelp(std.Out)
			}
			return exitOK
		}
		if cmd == nil {
			fmt.Fprintln(std.Err, "Run tether help for the flags and commands.")
		} else {
			fmt.Fprintf(std.Err, "Run %s --help for the flags.\n", name)
		}
		return exitUsage
	}
	if *flags.version {
		fmt.Fprintln(std.Out, std.Version)
		return exitOK
	}
	if fs.NArg() > 0 {
		stray := fs.Arg(0)
		if _, ok := lookup(stray); ok {
			return usageError(std, fmt.Sprintf("the command comes first: tether %s [flags] ...", stray))
		}
		return usageError(std, fmt.Sprintf("unexpected argument %q: serving the protocol takes flags only", stray))
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*flags.logLevel)); err != nil {
		fmt.Fprintf(std.Err, "tether: bad --log-level: %v\n", err)
		return exitUsage
	}
	logOut := std.Err
	if *flags.logFile != "" {
		f, err := os.OpenFile(*flags.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(std.Err, "tether: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		logOut = f
	}
	cfg := handlers.Config{
		Version:         std.Version,
		Trace:           *flags.trace,
		ShutdownTimeout: *flags.shutdownTimeout,
		MaxMessageSize:  *flags.maxMessage,
		IdleStop:        *flags.idleStop,
		MaxProcesses:    *flags.maxProcesses,
		Log:             slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})),
	}
	var err error
	if cfg.Framing, err = rpc.ParseFraming(*flags.framing); err != nil {
		fmt.Fprintf(std.Err, "tether: %v\n", err)
		return exitUsage
	}
	cfg.Backends = flags.newBackends(cfg.Log)
	if cfg.DefaultBackend, err = builtin.Default(cfg.Backends, *flags.backend); err != nil {
		fmt.Fprintf(std.Err, "tether: %v\n", err)
		return exitUsage
	}
	if cmd != nil {
		var code int
		if cfg.Dialect, code = cmd.dialect(&cfg, std.In, std.Out, std.Err); cfg.Dialect == nil {
			return code
		}
	}
	if f, ok := std.In.(*os.File); ok && term.IsTerminal(f) && cmd == nil {
		// Someone typed `tether` to see what it does: say it, and serve
		// anyway (a person may well type JSON-RPC to it).
		fmt.Fprintln(std.Err, "tether: reading JSON-RPC messages on stdin (this is how editors run it); to ask from a shell run: tether ask 'your question' (tether help for more; Ctrl-D ends)")
	}

	// A write to a closed stdout must fail with EPIPE, not kill Tether
	// before it has stopped its backends: being notified of SIGPIPE is
	// what tells the runtime so (os/signal).
	// A store that cannot be opened is no reason to stop: Tether serves
	// without one, and initialize says why.
	st, problem := flags.store.Open(cfg.Log)
	if st != nil {
		defer func() {
			if err := st.Close(); err != nil {
				cfg.Log.Error("closing the session store", "err", err)
			}
		}()
	}
	cfg.Store, cfg.StoreProblem = st, problem

	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	in, restore := pollable(std.In)
	defer restore()
	return handlers.Serve(ctx, in, std.Out, cfg)
}
