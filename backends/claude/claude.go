// Package claude is the Claude Code backend: one persistent `claude` CLI
// process per session, driven over stream-json and its control protocol
// (issue 3).
//
// Each session's actor owns one [backends.Conn] from [Backend.Open]; the Conn
// owns one CLI process at a time and reuses it for every query of the
// session. The wire facts this package relies on (argv, message shapes, the
// control protocol, resume) are collected in
// ../shared/research/claude-cli-protocol.md; protocol.md documents what
// clients see.
//
// Files: process.go starts and stops the CLI (the stop ladder), stream.go
// decodes its stdout, control.go speaks the control protocol, turn.go maps
// one turn onto a [backends.Sink], summary.go writes the one-line tool
// summaries.
package claude

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/tether-dev/tether/backends"
)

// Name is the name clients select this backend by.
const Name = "claude"

// pathEnv names the environment variable consulted when --claude-path is
// not given.
const pathEnv = "TETHER_CLAUDE_PATH"

// installHint tells a user without the CLI how to get it.
const installHint = "install it with `npm install -g @anthropic-ai/claude-code`, or pass --claude-path / set " + pathEnv

// Config configures the backend; RegisterFlags fills it from the command
// line. The zero value is usable: defaults apply to zero durations.
type Config struct {
	// Path is the claude executable; empty means $TETHER_CLAUDE_PATH, then
	// "claude" on PATH.
	Path string
	// Grace is how long Close waits for the CLI to exit on its own after
	// stdin is closed (it writes the end of its transcript then, which a
	// later --resume needs), and again after SIGTERM, before escalating.
	Grace time.Duration
	// Watchdog is how long a turn may go without any output from the CLI
	// before the process is treated as dead (the CLI is known to hang
	// without a result sometimes). It does not run while a permission
	// request waits for the editor.
	Watchdog time.Duration

	// Spare is how many CLIs to keep started ahead for the cwd and options
	// of the most recent session (--claude-spare); SpareIdle stops one
	// nobody took for that long (0: never).
	Spare     int
	SpareIdle time.Duration

	// env is added to the CLI's environment after the inherited one; tests
	// use it to make the CLI hermetic.
	env []string
	// startTimeout bounds the initialize handshake and control requests
	// (set_model, set_permission_mode); zero means defaultStartTimeout.
	startTimeout time.Duration
}

const (
	defaultGrace        = 5 * time.Second
	defaultWatchdog     = 10 * time.Minute
	defaultStartTimeout = 60 * time.Second
)

// RegisterFlags registers the backend's flags on fs.
func RegisterFlags(fs *flag.FlagSet) *Config {
	cfg := &Config{}
	fs.StringVar(&cfg.Path, "claude-path", "", "the claude CLI executable (default $"+pathEnv+", then claude on PATH)")
	fs.DurationVar(&cfg.Grace, "claude-grace", defaultGrace, "how long a claude process may take to exit after its input is closed, and again after SIGTERM, before it is killed")
	fs.DurationVar(&cfg.Watchdog, "claude-watchdog", defaultWatchdog, "a claude turn with no output for this long is treated as a dead process")
	fs.IntVar(&cfg.Spare, "claude-spare", 0, "keep this many claude processes started ahead for the cwd and options of the most recent session, so a new session starts at once (each idle CLI holds about 220 MB)")
	fs.DurationVar(&cfg.SpareIdle, "claude-spare-idle", 30*time.Minute, "stop a spare claude process nobody took for this long; 0 never")
	return cfg
}

// withDefaults fills zero durations.
func (cfg Config) withDefaults() Config {
	if cfg.Grace <= 0 {
		cfg.Grace = defaultGrace
	}
	if cfg.Watchdog <= 0 {
		cfg.Watchdog = defaultWatchdog
	}
	if cfg.startTimeout <= 0 {
		cfg.startTimeout = defaultStartTimeout
	}
	return cfg
}

// Backend is the Claude Code backend. It holds only configuration, so it is
// safe for concurrent use; every session's Conn owns its own process.
type Backend struct {
	cfg    Config
	log    *slog.Logger
	spares *spares // nil without --claude-spare
}

var _ backends.Backend = (*Backend)(nil)

// New returns the backend. A nil log discards.
func New(cfg Config, log *slog.Logger) *Backend {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Backend{cfg: cfg.withDefaults(), log: log.With("backend", Name)}
	if cfg.Spare > 0 {
		b.spares = newSpares(b, cfg.Spare)
	}
	return b
}

var (
	_ backends.Spares = (*Backend)(nil)
	_ backends.Closer = (*Backend)(nil)
)

// SpareProcesses implements [backends.Spares].
func (b *Backend) SpareProcesses() int { return b.spares.count() }

// StopSpare implements [backends.Spares].
func (b *Backend) StopSpare(ctx context.Context) bool { return b.spares.stopOne(ctx) }

// Close implements [backends.Closer]: it stops the spare processes.
func (b *Backend) Close(ctx context.Context) error { return b.spares.close(ctx) }

// Name implements [backends.Backend].
func (b *Backend) Name() string { return Name }

// Available implements [backends.Backend]: the CLI must be found.
func (b *Backend) Available() (bool, string) {
	path, err := b.executable()
	if err != nil {
		return false, err.Error()
	}
	_, how := loggedIn()
	return true, "claude CLI at " + path + "; " + how
}

// Info implements [backends.Backend]: the CLI's model aliases and
// permission modes.
func (b *Backend) Info() backends.Info {
	return backends.Info{
		Models: []backends.Choice{
			{ID: "default", Name: "Default", Description: "the CLI's default model"},
			{ID: "sonnet", Name: "Sonnet"},
			{ID: "opus", Name: "Opus"},
			{ID: "haiku", Name: "Haiku"},
		},
		Images:     true,
		MCPServers: true,
		Processes:  true,
		LoggedIn:   b.loggedIn(),
		Modes: []backends.Choice{
			{ID: "default", Name: "Default", Description: "ask before edits and commands"},
			{ID: "acceptEdits", Name: "Accept edits", Description: "edit files without asking"},
			{ID: "plan", Name: "Plan", Description: "plan only; no edits or commands"},
			{ID: "bypassPermissions", Name: "Bypass permissions", Description: "run everything without asking"},
		},
	}
}

// Executable is the path of the claude CLI the backend runs, found as
// Available finds it; `tether acp --login` runs its login with it.
func (b *Backend) Executable() (string, error) { return b.executable() }

// loggedIn says whether the CLI looks logged in; nil when there is no CLI
// to speak of.
func (b *Backend) loggedIn() *bool {
	if _, err := b.executable(); err != nil {
		return nil
	}
	ok, _ := loggedIn()
	return &ok
}

// executable finds the CLI: --claude-path, then $TETHER_CLAUDE_PATH, then
// PATH. The error says where it looked and how to install it.
func (b *Backend) executable() (string, error) {
	name, from := b.cfg.Path, "--claude-path"
	if name == "" {
		name, from = os.Getenv(pathEnv), pathEnv
	}
	if name == "" {
		name, from = "claude", "PATH"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("claude CLI not found (%s: %q): %s", from, name, installHint)
	}
	return path, nil
}

// Open implements [backends.Backend]: it starts the session's CLI process
// and waits for its answer to initialize, so a CLI that cannot start fails
// here with its stderr rather than on the first token.
func (b *Backend) Open(ctx context.Context, opts backends.Options) (backends.Conn, error) {
	path, err := b.executable()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", backends.ErrUnavailable, err)
	}
	if len(opts.Tools) > 0 {
		// The CLI runs its own tools; editor-declared tools would need an
		// in-process MCP server, which this backend does not offer.
		b.log.Warn("claude backend ignores editor-declared tools", "session", opts.SessionID, "tools", len(opts.Tools))
	}
	c := newConn(b.cfg, path, opts, b.log.With("session", opts.SessionID))
	if spare := b.spares.take(c); spare != nil {
		c.log.Info("claude process taken from the spares", "pid", spare.proc.pid)
		return spare, nil
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// errStopped reports use of a process that was stopped.
var errStopped = errors.New("claude process stopped")
