// Package acpagent puts any agent that speaks ACP (the Agent Client
// Protocol, v1) behind Tether: Gemini CLI (gemini --acp), codex-acp,
// goose (goose acp), OpenCode (opencode acp), Claude through
// claude-agent-acp. Each configured agent (--agent NAME=COMMAND, or
// agents.json, see config.go) is a backend of its own, named NAME, that
// clients choose like claude or openai; Tether is the ACP client.
//
// # One process per agent
//
// ACP multiplexes sessions on one connection, and the agents are built
// for it: Gemini CLI keeps its sessions in process, codex-acp runs one app
// server for all of them, claude-agent-acp one adapter for all (with a CLI
// child per session). So each agent runs as one process per Tether, shared
// by all of its sessions ([host]): started by the first session that needs
// it, through the supervisor package like every child of Tether's (its own
// group, stdout drained, waited once, the stop ladder, descendants,
// parent-death signal), and stopped when its last session lets go of it.
// A session lets go when it is closed, and when it is suspended: idle for
// --idle-stop, or stopped to make room under --max-processes. Each
// session attached to a running agent counts as one process against that
// limit (backends.Info.Processes): an upper bound of what it holds, exact
// for claude-agent-acp's CLI per session, generous for Gemini's sessions
// in process. Suspending a session closes it in the agent (session/close,
// when the agent offers it), so the agent frees what it holds for it, and
// its next prompt reloads it (session/resume, else session/load).
//
// # ACP over the supervisor's lines
//
// The supervisor hands the agent's stdout over line by line; an io.Pipe
// turns the lines back into the byte stream Tether's rpc package reads
// (lines.go), and rpc.Conn does the rest: Call for Tether's requests,
// handlers for the agent's session/update and session/request_permission
// (route.go), $/cancel_request both ways. Each session's [conn] owns its
// ACP session on the shared connection; a [route] hands the session's
// updates from the connection's read loop to the session's running turn
// (turn.go), which maps them onto the sink (updates.go).
//
// # Faults
//
// A line that is not ACP is skipped and reported to the running turns; an
// agent that does not answer initialize within --agent-start-timeout fails
// the turns waiting for it and is stopped; an error answer to a prompt
// fails that turn only; an agent that exits fails its running turns, and
// the next prompt of each session starts it again and reloads the session.
package acpagent

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"sync"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
)

// Backend is one configured ACP agent. It is safe for concurrent use:
// every session's Conn attaches to the agent's one process through it.
type Backend struct {
	agent   Agent
	cfg     Config
	log     *slog.Logger
	host    *host
	learned *learned
}

var _ backends.Backend = (*Backend)(nil)

// New returns the backends of every configured agent: the config file's,
// then --agent's. The error wraps ErrConfig. A nil log discards.
func New(cfg Config, log *slog.Logger) ([]*Backend, error) {
	agents, err := cfg.agents()
	if err != nil {
		return nil, err
	}
	out := make([]*Backend, 0, len(agents))
	for _, a := range agents {
		out = append(out, NewAgent(a, cfg, log))
	}
	return out, nil
}

// NewAgent returns the backend of one agent. A nil log discards.
func NewAgent(a Agent, cfg Config, log *slog.Logger) *Backend {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	log = log.With("backend", a.Name)
	l := &learned{}
	return &Backend{agent: a, cfg: cfg, log: log, learned: l, host: newHost(a, cfg, l, log)}
}

// Name implements [backends.Backend]: the agent's configured name.
func (b *Backend) Name() string { return b.agent.Name }

// Available implements [backends.Backend]: the agent's command must be
// found. It looks on PATH only: nothing is started.
func (b *Backend) Available() (bool, string) {
	path, err := exec.LookPath(b.agent.Command)
	if err != nil {
		return false, fmt.Sprintf("%s not found (%s, from %s): %s", b.agent.Command, b.agent.commandLine(), b.agent.From, installHint(b.agent))
	}
	return true, fmt.Sprintf("ACP agent %s (%s); one process shared by its sessions", b.agent.commandLine(), path)
}

// installHint says how to get an agent's command, for the agents whose
// ACP command is well known.
func installHint(a Agent) string {
	fix := "fix --agent " + a.Name + "=... or " + a.From
	if a.From == "--agent" {
		fix = "fix --agent " + a.Name + "=..."
	}
	switch filepath.Base(a.Command) {
	case "gemini":
		return "install Gemini CLI (npm install -g @google/gemini-cli; it speaks ACP with --acp), or " + fix
	case "codex-acp":
		return "install codex-acp (npm install -g @zed-industries/codex-acp), or " + fix
	case "claude-agent-acp":
		return "install claude-agent-acp (npm install -g @agentclientprotocol/claude-agent-acp), or " + fix
	case "opencode":
		return "install OpenCode (npm install -g opencode-ai; it speaks ACP as opencode acp), or " + fix
	case "goose":
		return "install goose (it speaks ACP as goose acp), or " + fix
	}
	return "install it, or " + fix
}

// Info implements [backends.Backend]. The models and modes are those the
// agent offered its last session (config options of category model and
// mode, else its legacy modes): none before its first session. Images are
// taken until the agent has said whether it takes them. Every ACP agent
// takes stdio MCP servers.
func (b *Backend) Info() backends.Info {
	b.learned.mu.Lock()
	defer b.learned.mu.Unlock()
	return backends.Info{
		Models:     b.learned.models,
		Modes:      b.learned.modes,
		Images:     !b.learned.known || b.learned.images,
		MCPServers: true,
		Processes:  true,
	}
}

// Open implements [backends.Backend]: it attaches the session to the
// agent's process (starting it if none runs) and opens its ACP session:
// session/new, or, with opts.Resume, session/resume or session/load of
// that agent session.
func (b *Backend) Open(ctx context.Context, opts backends.Options) (backends.Conn, error) {
	if _, err := exec.LookPath(b.agent.Command); err != nil {
		_, detail := b.Available()
		return nil, fmt.Errorf("%w: %s", backends.ErrUnavailable, detail)
	}
	if len(opts.Tools) > 0 {
		b.log.Warn("ACP agents run their own tools; the session's editor tools are ignored", "session", opts.SessionID, "tools", len(opts.Tools))
	}
	c := &conn{b: b, opts: opts, log: b.log.With("session", opts.SessionID), sessionID: opts.Resume}
	if err := c.attach(ctx, nil); err != nil {
		return nil, err
	}
	if err := c.configure(ctx, opts.Model, opts.PermissionMode); err != nil {
		_ = c.Close(context.Background())
		return nil, err
	}
	return c, nil
}

// learned is what the agent said of itself, for Info: its capabilities
// (from initialize) and the choices it offered its last session.
type learned struct {
	mu     sync.Mutex
	known  bool // an agent process has answered initialize
	images bool
	models []backends.Choice
	modes  []backends.Choice
}

func (l *learned) capabilities(caps schema.AgentCapabilities) {
	l.mu.Lock()
	l.known, l.images = true, caps.PromptCapabilities.Image
	l.mu.Unlock()
}

// options notes the model and mode choices of a session's config options
// (categories model and mode), or of its legacy modes.
func (l *learned) options(opts []schema.SessionConfigOption, modes *schema.SessionModeState) {
	models, modeChoices := choicesOf(opts, schema.SessionConfigOptionCategoryModel), choicesOf(opts, schema.SessionConfigOptionCategoryMode)
	if modeChoices == nil && modes != nil {
		for _, m := range modes.AvailableModes {
			modeChoices = append(modeChoices, backends.Choice{ID: string(m.Id), Name: m.Name, Description: deref(m.Description)})
		}
		modeChoices = currentFirst(modeChoices, string(modes.CurrentModeId))
	}
	l.mu.Lock()
	if models != nil {
		l.models = models
	}
	if modeChoices != nil {
		l.modes = modeChoices
	}
	l.mu.Unlock()
}

// choicesOf lists the values of the first select option of the category,
// its current value first (Info's default); nil when there is none.
func choicesOf(opts []schema.SessionConfigOption, category schema.SessionConfigOptionCategory) []backends.Choice {
	o := optionOf(opts, category)
	if o == nil {
		return nil
	}
	var out []backends.Choice
	for _, v := range selectValues(o) {
		out = append(out, backends.Choice{ID: string(v.Value), Name: v.Name, Description: deref(v.Description)})
	}
	return currentFirst(out, string(o.CurrentValue))
}

// optionOf is the first select option of the category.
func optionOf(opts []schema.SessionConfigOption, category schema.SessionConfigOptionCategory) *schema.SessionConfigOptionSelect {
	for _, o := range opts {
		if s := o.Select; s != nil && s.Category != nil && *s.Category == category {
			return s
		}
	}
	return nil
}

// selectValues are the values a select option offers, groups flattened.
func selectValues(o *schema.SessionConfigOptionSelect) []schema.SessionConfigSelectOption {
	switch {
	case o.Options.Ungrouped != nil:
		return *o.Options.Ungrouped
	case o.Options.Grouped != nil:
		var out []schema.SessionConfigSelectOption
		for _, g := range *o.Options.Grouped {
			out = append(out, g.Options...)
		}
		return out
	}
	return nil
}

func currentFirst(list []backends.Choice, current string) []backends.Choice {
	for i, c := range list {
		if c.ID == current && i > 0 {
			out := append([]backends.Choice{c}, list[:i]...)
			return append(out, list[i+1:]...)
		}
	}
	return list
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
