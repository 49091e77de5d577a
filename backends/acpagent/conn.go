package acpagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/rpc"
)

// conn is one session's ACP session on its agent's shared process.
//
// Ownership: the session's actor calls Query (one at a time), Suspend and
// Close (once), never two at once; every field is used only from that
// goroutine. The route is shared with the process's read loop (see route).
//
// Goroutines: each Query starts one to wait for session/prompt's answer,
// and one forwarder per permission request it asks the editor about; it
// waits for all of them before it returns (turn.go).
type conn struct {
	b    *Backend
	opts backends.Options
	log  *slog.Logger

	proc  *process // the process attached to; nil when detached
	route *route
	// sessionID is the agent's id of the conversation, kept across
	// processes so the next one can reload it.
	sessionID string
	// heldBy is the process that still holds the conversation in memory
	// after the session detached from it without session/close (the
	// agent has none): reattaching to it needs no reload.
	heldBy uint64
	// note is said (Sink.Progress) at the start of the next turn: why the
	// conversation could not be reloaded.
	note string
	// lost is set by a turn the agent answered "no such session": the
	// session lets go of the process, and its next query reloads it.
	lost bool
}

var (
	_ backends.Conn      = (*conn)(nil)
	_ backends.Suspender = (*conn)(nil)
)

// attach attaches the session to the agent's process, starting it if
// needed, and opens the conversation there: session/new the first time,
// then session/resume (or session/load) of sessionID, or a new session
// with a note when the agent can reload none. sink, when not nil, is told
// what is going on.
func (c *conn) attach(ctx context.Context, sink backends.Sink) error {
	if c.proc != nil && c.proc.isGone() {
		c.log.Warn("the agent's process has ended; starting it again", "status", c.proc.sp.ExitStatus())
		c.detach(context.Background())
	}
	if c.proc != nil {
		return nil
	}
	if sink != nil && !c.b.host.running() {
		sink.Progress("starting " + c.b.agent.Name)
	}
	p, err := c.b.host.acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %s to start: %w", c.b.agent.Name, context.Cause(ctx))
		}
		return err
	}
	c.proc = p
	switch {
	case c.sessionID == "":
		err = c.newSession(ctx)
	case c.heldBy == p.gen:
		c.route = p.route(c.sessionID, true)
	case p.caps.SessionCapabilities.Resume != nil:
		err = c.reload(ctx, schema.AgentMethodSessionResume)
	case p.caps.LoadSession:
		err = c.reload(ctx, schema.AgentMethodSessionLoad)
	default:
		old := c.sessionID
		if err = c.newSession(ctx); err == nil {
			c.note = fmt.Sprintf("%s restarted and cannot reload sessions (no session/load or session/resume): this is a new conversation, without the earlier turns of %s", c.b.agent.Name, old)
			c.log.Warn("agent cannot reload sessions; started a new one", "old", old, "new", c.sessionID)
		}
	}
	c.heldBy = 0
	if err != nil {
		c.detach(context.Background())
		return err
	}
	if c.route == nil {
		c.detach(context.Background())
		return fmt.Errorf("%w: %s: too many sessions on one process", backends.ErrFailed, c.b.agent.Name)
	}
	return nil
}

// setupCtx bounds a session's setup calls by --agent-start-timeout.
func (c *conn) setupCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.b.cfg.StartTimeout)
}

// newSession is session/new in the session's cwd, with its MCP servers.
func (c *conn) newSession(ctx context.Context) error {
	servers, err := mcpServers(c.opts.MCPServers, c.proc.caps.McpCapabilities, c.b.agent.Name)
	if err != nil {
		return err
	}
	sctx, cancel := c.setupCtx(ctx)
	defer cancel()
	var res schema.NewSessionResponse
	err = c.proc.conn.Call(sctx, schema.AgentMethodSessionNew, schema.NewSessionRequest{Cwd: c.opts.Cwd, McpServers: servers}, &res)
	if err != nil {
		return c.setupError(ctx, sctx, schema.AgentMethodSessionNew, err)
	}
	if res.SessionId == "" {
		return c.proc.failure(errors.New("session/new answered no sessionId"))
	}
	c.sessionID = string(res.SessionId)
	c.route = c.proc.route(c.sessionID, true)
	c.noteState(res.ConfigOptions, res.Modes)
	c.log.Info("agent session opened", "agent_session", c.sessionID)
	return nil
}

// reload is session/resume or session/load of sessionID. The route is made
// first, so what a load replays reaches it (and is dropped: no turn runs).
func (c *conn) reload(ctx context.Context, method string) error {
	servers, err := mcpServers(c.opts.MCPServers, c.proc.caps.McpCapabilities, c.b.agent.Name)
	if err != nil {
		return err
	}
	c.route = c.proc.route(c.sessionID, true)
	sctx, cancel := c.setupCtx(ctx)
	defer cancel()
	// Both answers have the same shape: config options and modes.
	var res struct {
		ConfigOptions []schema.SessionConfigOption `json:"configOptions"`
		Modes         *schema.SessionModeState     `json:"modes"`
	}
	params := reloadParams{SessionID: c.sessionID, Cwd: c.opts.Cwd, MCPServers: servers}
	if err := c.proc.conn.Call(sctx, method, params, &res); err != nil {
		return c.setupError(ctx, sctx, method, err)
	}
	c.noteState(res.ConfigOptions, res.Modes)
	c.log.Info("agent session reloaded", "agent_session", c.sessionID, "method", method)
	return nil
}

// reloadParams are session/load's and session/resume's params. The
// schema's resume type leaves an empty mcpServers out, which ACP requires.
type reloadParams struct {
	SessionID  string             `json:"sessionId"`
	Cwd        string             `json:"cwd"`
	MCPServers []schema.McpServer `json:"mcpServers"`
}

// setupError explains a failed setup call.
func (c *conn) setupError(ctx, sctx context.Context, method string, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", method, context.Cause(ctx))
	case sctx.Err() != nil:
		return c.proc.failure(fmt.Errorf("it did not answer %s within %v (--agent-start-timeout)", method, c.b.cfg.StartTimeout))
	}
	var re *rpc.Error
	if errors.As(err, &re) && re.Code == codeAuthRequired {
		return fmt.Errorf("%w: %w", backends.ErrAuthRequired, c.proc.failure(fmt.Errorf("%s: %w; log in to the agent as its documentation says, then try again", method, c.proc.callError(err))))
	}
	return c.proc.failure(fmt.Errorf("%s: %w", method, c.proc.callError(err)))
}

// ACP's error codes Tether acts on.
const (
	codeAuthRequired     = -32000 // authentication required
	codeResourceNotFound = -32002 // no such session
)

// noteState keeps the session's config options and modes, on the route
// (the read loop updates them there) and for the backend's Info.
func (c *conn) noteState(opts []schema.SessionConfigOption, modes *schema.SessionModeState) {
	c.route.mu.Lock()
	if opts != nil {
		c.route.configOptions = opts
	}
	if modes != nil {
		c.route.modes = modes
	}
	c.route.mu.Unlock()
	c.b.learned.options(opts, modes)
}

// configure switches the session's model and mode to those asked for,
// where they differ from the agent's: config options of category model
// and mode, or the legacy session/set_mode.
func (c *conn) configure(ctx context.Context, model, mode string) error {
	c.route.mu.Lock()
	opts, modes := c.route.configOptions, c.route.modes
	c.route.mu.Unlock()
	if model != "" {
		o := optionOf(opts, schema.SessionConfigOptionCategoryModel)
		switch {
		case o == nil:
			return fmt.Errorf("%w: %s offers no model choice (no config option of category model), so model %q cannot be set", backends.ErrUnsupported, c.b.agent.Name, model)
		case string(o.CurrentValue) != model:
			if err := c.setOption(ctx, o.Id, model); err != nil {
				return err
			}
		}
	}
	if mode != "" {
		o := optionOf(opts, schema.SessionConfigOptionCategoryMode)
		switch {
		case o != nil && string(o.CurrentValue) != mode:
			return c.setOption(ctx, o.Id, mode)
		case o != nil:
		case modes != nil && string(modes.CurrentModeId) != mode:
			return c.setMode(ctx, mode)
		case modes == nil:
			return fmt.Errorf("%w: %s offers no modes, so mode %q cannot be set", backends.ErrUnsupported, c.b.agent.Name, mode)
		}
	}
	return nil
}

// setOption is session/set_config_option; its answer lists every option.
func (c *conn) setOption(ctx context.Context, id schema.SessionConfigId, value string) error {
	var res schema.SetSessionConfigOptionResponse
	err := c.proc.conn.Call(ctx, schema.AgentMethodSessionSetConfigOption, schema.SetSessionConfigOptionValueId{
		SessionId: schema.SessionId(c.sessionID), ConfigId: id, Value: schema.SessionConfigValueId(value),
	}, &res)
	if err != nil {
		return c.configError(ctx, fmt.Sprintf("setting %s to %q", id, value), err)
	}
	c.noteState(res.ConfigOptions, nil)
	return nil
}

// setMode is the legacy session/set_mode.
func (c *conn) setMode(ctx context.Context, mode string) error {
	err := c.proc.conn.Call(ctx, schema.AgentMethodSessionSetMode, schema.SetSessionModeRequest{
		SessionId: schema.SessionId(c.sessionID), ModeId: schema.SessionModeId(mode),
	}, nil)
	if err != nil {
		return c.configError(ctx, fmt.Sprintf("setting mode %q", mode), err)
	}
	c.route.mu.Lock()
	if c.route.modes != nil {
		c.route.modes.CurrentModeId = schema.SessionModeId(mode)
	}
	c.route.mu.Unlock()
	return nil
}

func (c *conn) configError(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", what, context.Cause(ctx))
	}
	var re *rpc.Error
	if errors.As(err, &re) {
		return fmt.Errorf("%w: %s: %s refused: %s", backends.ErrFailed, what, c.b.agent.Name, re.Message)
	}
	return c.proc.failure(fmt.Errorf("%s: %w", what, c.proc.callError(err)))
}

// Query implements [backends.Conn]: it attaches the session to the agent
// (starting the agent and reloading the conversation if needed), switches
// model and mode where the turn asks for others, and runs the turn.
func (c *conn) Query(ctx context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	if ctx.Err() != nil {
		return backends.Result{StopReason: backends.StopCancelled}, nil
	}
	if err := c.attach(ctx, sink); err != nil {
		if ctx.Err() != nil {
			return backends.Result{StopReason: backends.StopCancelled}, nil
		}
		return backends.Result{}, err
	}
	if err := c.configure(ctx, turn.Model, turn.PermissionMode); err != nil {
		if ctx.Err() != nil {
			return backends.Result{StopReason: backends.StopCancelled}, nil
		}
		return backends.Result{}, err
	}
	prompt, err := promptBlocks(turn.Prompt, c.proc.caps.PromptCapabilities, c.b.agent.Name)
	if err != nil {
		return backends.Result{}, err
	}
	res, err := c.runTurn(ctx, prompt, sink)
	if c.lost {
		c.lost = false
		c.detach(context.Background())
	}
	return res, err
}

// Suspend implements [backends.Suspender]: the session lets go of the
// agent's process, closing its ACP session there when the agent offers
// session/close (it frees what it holds for it); the last session to let
// go stops the process. The next Query reloads the conversation.
func (c *conn) Suspend(ctx context.Context) error {
	c.leave(ctx)
	return nil
}

// Running implements [backends.Suspender]: the session is attached to a
// live process.
func (c *conn) Running() bool { return c.proc != nil && !c.proc.isGone() }

// Close implements [backends.Conn]: as Suspend, for good.
func (c *conn) Close(ctx context.Context) error {
	c.leave(ctx)
	return nil
}

// leave closes the ACP session in the agent where it can, and detaches.
func (c *conn) leave(ctx context.Context) {
	if c.proc == nil {
		return
	}
	p := c.proc
	c.heldBy = p.gen
	if p.caps.SessionCapabilities.Close != nil && !p.isGone() {
		cctx, cancel := context.WithTimeout(ctx, c.b.cfg.Grace)
		err := p.conn.Call(cctx, schema.AgentMethodSessionClose, schema.CloseSessionRequest{SessionId: schema.SessionId(c.sessionID)}, nil)
		cancel()
		if err != nil {
			c.log.Warn("closing the agent's session", "err", p.callError(err))
		} else {
			c.heldBy = 0
		}
	}
	c.detach(ctx)
}

// detach lets go of the process; the last one out stops it.
func (c *conn) detach(ctx context.Context) {
	if c.proc == nil {
		return
	}
	if c.route != nil {
		c.proc.dropRoute(c.route.id)
		c.route = nil
	}
	p := c.proc
	c.proc = nil
	c.b.host.release(ctx, p)
}
