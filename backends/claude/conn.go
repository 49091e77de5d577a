package claude

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tether-dev/tether/backends"
)

// conn is one session's connection: it owns at most one CLI process at a
// time and reuses it for every query of the session.
//
// Ownership: the session's actor calls Query (one at a time) and Close
// (once, when no Query runs); every field is used only from that goroutine.
//
// Goroutines: each process runs two (its stdout reader and its waiter; see
// process), started by start and waited for by process.stop, which Close
// and the fault paths of Query call. Each Query starts one forwarder per
// permission request it asks the editor about (see turn) and waits for them
// before it returns. Nothing else runs on behalf of a conn.
//
// Faults: when the process dies, hangs past the watchdog, or cannot be
// interrupted, it is stopped and dropped; the next Query starts a new one
// with --resume=<the CLI's last session id> in the same cwd, so the
// conversation goes on.
type conn struct {
	cfg  Config
	path string
	opts backends.Options
	log  *slog.Logger

	proc *process // nil when there is no live process
	// model and permissionMode are what the live process was told (by flag
	// or control request); a turn asking for others switches them.
	model          string
	permissionMode string
	// sessionID is the CLI's session id (from its messages), kept across
	// processes for --resume.
	sessionID string
	// costSoFar is the live process's cumulative total_cost_usd at its last
	// result; the CLI reports cost per process, Tether per turn.
	costSoFar float64
	nextID    int // for Tether's control request ids
}

var (
	_ backends.Conn      = (*conn)(nil)
	_ backends.Suspender = (*conn)(nil)
)

func newConn(cfg Config, path string, opts backends.Options, log *slog.Logger) *conn {
	return &conn{
		cfg:            cfg,
		path:           path,
		opts:           opts,
		log:            log,
		model:          opts.Model,
		permissionMode: opts.PermissionMode,
		sessionID:      opts.Resume,
	}
}

// args is the CLI's argv for a new process (research §1.2).
func (c *conn) args() []string {
	args := []string{
		"--output-format", "stream-json",
		"--verbose",
		"--input-format", "stream-json",
		"--include-partial-messages",
		"--permission-prompt-tool", "stdio",
	}
	// The equals form keeps a value starting with '-' from being read as
	// a flag.
	add := func(flag, value string) {
		if value != "" {
			args = append(args, flag+"="+value)
		}
	}
	add("--model", c.model)
	add("--permission-mode", c.permissionMode)
	add("--system-prompt", c.opts.SystemPrompt)
	add("--append-system-prompt", c.opts.AppendSystemPrompt)
	add("--allowedTools", strings.Join(c.opts.AllowedTools, ","))
	add("--disallowedTools", strings.Join(c.opts.DisallowedTools, ","))
	if c.opts.MaxTurns > 0 {
		add("--max-turns", strconv.Itoa(c.opts.MaxTurns))
	}
	add("--resume", c.sessionID)
	if len(c.opts.MCPServers) > 0 {
		add("--mcp-config", mcpConfig(c.opts.MCPServers))
	}
	return args
}

// env is the CLI's environment: Tether's, minus CLAUDECODE (set inside a
// Claude Code session, it makes some CLI builds refuse to start), with the
// entrypoint naming Tether, plus the configured extras.
func (c *conn) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "CLAUDECODE" || name == "CLAUDE_CODE_ENTRYPOINT" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "CLAUDE_CODE_ENTRYPOINT=tether")
	return append(env, c.cfg.env...)
}

// start starts a process and completes the initialize handshake. On error
// nothing is left running.
func (c *conn) start(ctx context.Context) error {
	args := c.args()
	p, err := startProcess(c.path, args, c.opts.Cwd, c.env(), c.cfg.Grace, c.log)
	if err != nil {
		return fmt.Errorf("%w: %w", backends.ErrFailed, err)
	}
	c.proc = p
	c.costSoFar = 0
	if _, err := c.call(ctx, ctlInitialize, map[string]any{"hooks": nil}); err != nil {
		c.drop() // call has dropped it already unless ctx ended or the CLI refused
		if c.sessionID != "" {
			err = fmt.Errorf("resuming claude session %s: %w", c.sessionID, err)
			if strings.Contains(err.Error(), noConversation) {
				// The CLI died before it wrote its transcript; resuming
				// can never work, so the next query starts afresh rather
				// than failing forever.
				c.log.Warn("claude cannot resume its conversation; the next query starts a new one", "resume", c.sessionID)
				c.sessionID = ""
				err = fmt.Errorf("%w; the next query starts a new conversation", err)
			}
			return err
		}
		return fmt.Errorf("starting claude: %w", err)
	}
	c.log.Info("claude process ready", "pid", p.pid, "resume", c.sessionID)
	return nil
}

// drop stops the process (after a fault) and forgets it; the next Query
// starts a new one.
func (c *conn) drop() {
	if c.proc == nil {
		return
	}
	if err := c.proc.stop(context.Background()); err != nil {
		c.log.Error("stopping claude", "err", err)
	}
	c.proc = nil
}

// newRequestID returns an id for a control request of Tether's.
func (c *conn) newRequestID() string {
	c.nextID++
	return "tether_" + strconv.Itoa(c.nextID)
}

// call sends a control request and waits for its response, for at most the
// start timeout. Messages read meanwhile are not part of any turn and are
// dropped, except that a result's error text (a failed --resume reports one
// and exits) explains a process that ends before answering.
func (c *conn) call(ctx context.Context, subtype string, fields map[string]any) (json.RawMessage, error) {
	p := c.proc
	id := c.newRequestID()
	if err := p.sendControlRequest(id, subtype, fields); err != nil {
		return nil, c.fail(err, "")
	}
	timeout := time.NewTimer(c.cfg.startTimeout)
	defer timeout.Stop()
	var said string
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				return nil, c.fail(fmt.Errorf("claude exited before answering %s", subtype), said)
			}
			c.noteSession(m)
			switch {
			case m.Type == typeControlResp && m.Response != nil && m.Response.RequestID == id:
				if err := m.Response.err(); err != nil {
					return nil, fmt.Errorf("%w: %s: %w", backends.ErrFailed, subtype, err)
				}
				return m.Response.Response, nil
			case m.Type == typeResult && m.IsError:
				said = resultText(m)
			default:
				c.log.Debug("claude message outside a turn; dropped", "type", m.Type, "subtype", m.Subtype)
			}
		case <-timeout.C:
			return nil, c.fail(fmt.Errorf("claude did not answer %s within %v", subtype, c.cfg.startTimeout), said)
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for claude to answer %s: %w", subtype, context.Cause(ctx))
		}
	}
}

// noteSession keeps the CLI's session id for --resume.
func (c *conn) noteSession(m message) {
	if m.SessionID != "" && m.SessionID != c.sessionID {
		c.sessionID = m.SessionID
	}
}

// fail stops the process and drops it (the next Query starts a new one),
// and returns err as ErrFailed with what the CLI said: its own error text,
// how it exited, and the tail of its stderr.
func (c *conn) fail(err error, said string) error {
	p := c.proc
	c.drop()
	var b strings.Builder
	b.WriteString(err.Error())
	if said != "" {
		b.WriteString(": ")
		b.WriteString(said)
	}
	if p != nil {
		b.WriteString(" (")
		b.WriteString(p.exitStatus())
		b.WriteString(")")
		if tail := strings.TrimSpace(p.stderrTail()); tail != "" {
			b.WriteString("; stderr: ")
			b.WriteString(lastLines(tail, 20, 2000))
		}
	}
	return fmt.Errorf("%w: %s", backends.ErrFailed, b.String())
}

// Query implements [backends.Conn]. It (re)starts the process if there is
// none, switches model and permission mode if the turn asks for others, and
// runs the turn.
func (c *conn) Query(ctx context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	if ctx.Err() != nil {
		return backends.Result{StopReason: backends.StopCancelled}, nil
	}
	if c.proc != nil && c.proc.hasExited() {
		c.log.Warn("claude exited between turns; starting it again", "status", c.proc.exitStatus(), "resume", c.sessionID)
		c.drop()
	}
	if c.proc == nil {
		if err := c.start(ctx); err != nil {
			return backends.Result{}, err
		}
	}
	if err := c.switchTo(ctx, turn); err != nil {
		return backends.Result{}, err
	}
	return c.runTurn(ctx, turn.Prompt, sink)
}

// switchTo tells the live process about a model or permission mode the
// turn asks for, rather than restarting it.
func (c *conn) switchTo(ctx context.Context, turn backends.Turn) error {
	if turn.Model != "" && turn.Model != c.model {
		if _, err := c.call(ctx, ctlSetModel, map[string]any{"model": turn.Model}); err != nil {
			return fmt.Errorf("switching claude to model %q: %w", turn.Model, err)
		}
		c.model = turn.Model
	}
	if turn.PermissionMode != "" && turn.PermissionMode != c.permissionMode {
		if _, err := c.call(ctx, ctlSetPermissionMode, map[string]any{"mode": turn.PermissionMode}); err != nil {
			return fmt.Errorf("switching claude to permission mode %q: %w", turn.PermissionMode, err)
		}
		c.permissionMode = turn.PermissionMode
	}
	return nil
}

// Close implements [backends.Conn]: it stops the process with the ladder
// (at once with SIGKILL when ctx ends) and returns when it and its
// goroutines are gone.
func (c *conn) Close(ctx context.Context) error {
	if c.proc == nil {
		return nil
	}
	err := c.proc.stop(ctx)
	c.proc = nil
	return err
}

// Suspend implements [backends.Suspender]: it stops the process as Close
// does, keeping the CLI's session id, so the next Query starts a new
// process with --resume and the conversation goes on.
func (c *conn) Suspend(ctx context.Context) error {
	if c.proc == nil {
		return nil
	}
	err := c.proc.stop(ctx)
	c.proc = nil
	return err
}

// Running implements [backends.Suspender].
func (c *conn) Running() bool { return c.proc != nil && !c.proc.hasExited() }

// noConversation is what the CLI says when --resume names a conversation
// it has no transcript of (research §7).
const noConversation = "No conversation found"

// errWatchdog means a turn went without output for the watchdog period.
var errWatchdog = errors.New("claude produced no output")
