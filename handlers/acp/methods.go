package acp

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/handlers/params"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// Auth methods. ACP agent registries refuse an agent with none. Tether
// cannot log anyone in itself: the claude CLI keeps its own login, and the
// openai backend reads its key from the environment.
const (
	// authSetup is an "agent" method whose description says how to log
	// in; authenticate answers with the same.
	authSetup = "tether-setup"
	// authClaudeLogin is a "terminal" method: the client runs Tether
	// again, with --login, in a terminal, and Tether runs the claude
	// CLI's login there. Offered to clients that run terminal methods.
	authClaudeLogin = "claude-login"
	// LoginFlag is the flag the terminal method adds to Tether's command
	// line.
	LoginFlag = "--login"
)

// authHelp is what the agent method says, and authenticate answers.
const authHelp = "Tether's claude backend uses the claude CLI's own login: run `claude auth login` " +
	"(or start `claude` and type /login) in a terminal, or set ANTHROPIC_API_KEY where Tether starts; " +
	"the openai backend reads OPENAI_API_KEY. Then start a new session."

func (d *Dialect) initialize(_ context.Context, req *rpc.Request) {
	var p schema.InitializeRequest
	if err := decode(req.Params, &p, false); err != nil {
		req.Reply(nil, err)
		return
	}
	if p.ClientInfo != nil {
		d.log.Info("client", "name", p.ClientInfo.Name, "version", p.ClientInfo.Version, "protocol", p.ProtocolVersion)
	}
	images, mcp, claude := false, false, false
	for _, b := range d.reg.Backends() {
		if b.Available {
			claude = claude || b.Name == "claude"
			images = images || b.Images
			mcp = mcp || b.MCPServers
		}
	}
	methods := []schema.AuthMethod{{Agent: &schema.AuthMethodAgent{
		Id: authSetup, Name: "Log in to the agent", Description: optional(authHelp),
	}}}
	if claude && p.ClientCapabilities.Auth.Terminal {
		methods = append(methods, schema.AuthMethod{Terminal: &schema.AuthMethodTerminalInline{
			Id: authClaudeLogin, Name: "Log in to Claude", Type: "terminal",
			Description: optional("Runs the claude CLI's login in a terminal."),
			Args:        []string{LoginFlag},
		}})
	}
	caps := schema.AgentCapabilities{
		PromptCapabilities: schema.PromptCapabilities{Image: images, EmbeddedContext: true},
		McpCapabilities:    schema.McpCapabilities{Http: mcp, Sse: mcp},
		SessionCapabilities: schema.SessionCapabilities{
			List:  &schema.SessionListCapabilities{},
			Close: &schema.SessionCloseCapabilities{},
		},
	}
	if d.reg.StoreStatus().Enabled {
		// Stored sessions come back: session/load replays one, and
		// session/resume restores one without the replay. Capabilities
		// are objects ({}), not true: the TS SDK drops a true.
		caps.LoadSession = true
		caps.SessionCapabilities.Resume = &schema.SessionResumeCapabilities{}
	}
	req.Reply(schema.InitializeResponse{
		ProtocolVersion:   ProtocolVersion,
		AgentInfo:         &schema.Implementation{Name: d.info.Name, Title: optional(d.info.Title), Version: d.info.Version},
		AgentCapabilities: caps,
		AuthMethods:       methods,
	}, nil)
}

// authenticate cannot log in (see authSetup). It succeeds when there is
// nothing to log in to: the backend a new session gets (claude's, for the
// claude login) needs no login or looks logged in. Otherwise it answers
// "authentication required" with how to log in. Clients that
// authenticate before every session (CodeCompanion does, with the first
// method) would otherwise never get to one.
func (d *Dialect) authenticate(_ context.Context, req *rpc.Request) {
	var p schema.AuthenticateRequest
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	var backend string
	switch p.MethodId {
	case authSetup:
		backend = d.reg.DefaultBackend()
	case authClaudeLogin:
		backend = "claude"
	default:
		req.Reply(nil, &sessions.ParamError{Field: "methodId", Reason: fmt.Sprintf("unknown auth method %q", p.MethodId)})
		return
	}
	if info, ok := d.backendInfo(backend); ok && info.Available && (info.LoggedIn == nil || *info.LoggedIn) {
		req.Reply(schema.AuthenticateResponse{}, nil)
		return
	}
	req.Reply(nil, rpc.NewError(CodeAuthRequired, authHelp, nil))
}

func (d *Dialect) newSession(_ context.Context, req *rpc.Request) {
	var p schema.NewSessionRequest
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	if p.Cwd == "" {
		req.Reply(nil, &sessions.ParamError{Field: "cwd", Reason: "required"})
		return
	}
	mcp, err := mcpServers(p.McpServers)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	s, err := d.openNew(p.Cwd, mcp)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	req.Reply(schema.NewSessionResponse{
		SessionId:     schema.SessionId(s.id),
		ConfigOptions: d.configOptions(s),
		Modes:         d.modeState(s),
	}, nil)
}

// promptParams are session/prompt's params; the blocks are decoded one by
// one (promptContent).
type promptParams struct {
	SessionID string            `json:"sessionId"`
	Prompt    []json.RawMessage `json:"prompt"`
}

func (d *Dialect) prompt(ctx context.Context, req *rpc.Request) {
	var p promptParams
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	s, err := d.session(p.SessionID)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	content, err := promptContent(p.Prompt)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	d.mu.Lock()
	backend := s.backend
	d.mu.Unlock()
	if backends.HasImages(content) {
		if info, _ := d.backendInfo(backend); !info.Images {
			req.Reply(nil, fmt.Errorf("%w: the %s backend takes no images; send text, or choose a backend that does", backends.ErrUnsupported, backend))
			return
		}
	}
	now := time.Now().UTC()
	d.mu.Lock()
	s.prompted, s.updatedAt = true, now
	title := ""
	if s.title == "" {
		title = titleOf(content)
		s.title = title
	}
	d.mu.Unlock()
	if title != "" {
		d.notify(s.id, schema.SessionSessionInfoUpdate{
			SessionUpdate: "session_info_update", Title: &title, UpdatedAt: ptr(now.Format(time.RFC3339Nano)),
		})
	}
	ev := s.presenter(d).turn()
	d.reg.Prompt(sessions.Prompt{
		Options:   sessions.Options{SessionID: s.id},
		MustExist: true,
		Turn:      backends.Turn{Prompt: content},
		Ctx:       ctx,
		Events:    ev,
		Reply: func(res sessions.TurnResult, err error) {
			ev.end()
			d.mu.Lock()
			s.updatedAt = time.Now().UTC()
			d.mu.Unlock()
			if err != nil {
				req.Reply(nil, err)
				return
			}
			req.Reply(promptResponse(res), nil)
		},
	})
}

// promptResponse is a turn's end as ACP says it: the stop reason, and the
// turn's tokens.
func promptResponse(res sessions.TurnResult) schema.PromptResponse {
	u := res.Usage
	usage := &schema.Usage{
		InputTokens:  int(u.InputTokens),
		OutputTokens: int(u.OutputTokens),
		TotalTokens:  int(u.InputTokens + u.OutputTokens + u.CacheReadTokens + u.CacheWriteTokens),
	}
	if u.CacheReadTokens > 0 {
		usage.CachedReadTokens = ptr(int(u.CacheReadTokens))
	}
	if u.CacheWriteTokens > 0 {
		usage.CachedWriteTokens = ptr(int(u.CacheWriteTokens))
	}
	return schema.PromptResponse{StopReason: stopReason(res.StopReason), Usage: usage}
}

// stopReason maps a backend's stop reason to ACP's; one ACP has no name
// for ends the turn as end_turn.
func stopReason(r string) schema.StopReason {
	switch r {
	case backends.StopMaxTokens:
		return schema.StopReasonMaxTokens
	case backends.StopMaxTurns:
		return schema.StopReasonMaxTurnRequests
	case backends.StopRefusal:
		return schema.StopReasonRefusal
	case backends.StopCancelled:
		return schema.StopReasonCancelled
	}
	return schema.StopReasonEndTurn
}

// cancelSession is session/cancel, a notification: the running prompt and
// the queued ones end "cancelled", and the session's permission requests
// are withdrawn ($/cancel_request to the client).
func (d *Dialect) cancelSession(_ context.Context, req *rpc.Request) {
	var p schema.CancelNotification
	if err := decode(req.Params, &p, true); err != nil {
		d.log.Warn("session/cancel ignored", "err", err)
		req.Reply(nil, err)
		return
	}
	d.reg.Cancel(string(p.SessionId), func(n int) {
		d.log.Debug("cancelled", "session", p.SessionId, "prompts", n)
		req.Reply(nil, nil) // for a client that sent it as a request
	})
}

// list is session/list: the sessions live here (those of this
// connection, oldest first), then the stored ones, newest first, a page at
// a time.
func (d *Dialect) list(_ context.Context, req *rpc.Request) {
	var p schema.ListSessionsRequest
	if err := decode(req.Params, &p, false); err != nil {
		req.Reply(nil, err)
		return
	}
	q := sessions.ListQuery{}
	if p.Cwd != nil {
		q.Cwd = *p.Cwd
	}
	if p.Cursor != nil {
		q.Cursor = *p.Cursor
	}
	page, err := d.reg.ListSessions(q)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	res := schema.ListSessionsResponse{Sessions: []schema.SessionInfo{}, NextCursor: optional(page.Next)}
	d.mu.Lock()
	for _, info := range page.Sessions {
		title, updated := info.Title, info.UpdatedAt
		if s := d.sessions[info.SessionID]; s != nil {
			title, updated = s.title, s.updatedAt
		} else if info.Status != sessions.StateStored {
			continue // live, but not (or no longer) this connection's
		}
		si := schema.SessionInfo{SessionId: schema.SessionId(info.SessionID), Cwd: info.Cwd, Title: optional(title)}
		if !updated.IsZero() {
			si.UpdatedAt = ptr(updated.Format(time.RFC3339Nano))
		}
		res.Sessions = append(res.Sessions, si)
	}
	d.mu.Unlock()
	req.Reply(res, nil)
}

// closeSession ends a session as session/cancel does, stops its backend
// and forgets it; the answer comes once all of that is done.
func (d *Dialect) closeSession(_ context.Context, req *rpc.Request) {
	var p schema.CloseSessionRequest
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	id := string(p.SessionId)
	d.mu.Lock()
	_, ok := d.sessions[id]
	delete(d.sessions, id)
	d.mu.Unlock()
	if !ok {
		req.Reply(nil, fmt.Errorf("%w: %q", sessions.ErrNotFound, id))
		return
	}
	d.reg.Close(id, func(bool) { req.Reply(schema.CloseSessionResponse{}, nil) })
}

// notify sends a session/update with u, one of the schema's variant
// structs.
func (d *Dialect) notify(sessionID string, u any) {
	if err := d.conn.Notify(methodUpdate, update{SessionID: sessionID, Update: u}); err != nil {
		d.log.Debug("notify", "err", err)
	}
}

// decode decodes params into v (see params.Decode).
func decode(raw json.RawMessage, v any, required bool) error {
	return params.Decode(raw, v, required)
}
