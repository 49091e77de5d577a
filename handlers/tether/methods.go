package tether

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/handlers/params"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

func (d *Dialect) initialize(_ context.Context, req *rpc.Request) {
	var p protocol.InitializeParams
	if err := decode(req.Params, &p, false); err != nil {
		req.Reply(nil, err)
		return
	}
	if p.ClientInfo != nil {
		d.log.Info("client", "name", p.ClientInfo.Name, "version", p.ClientInfo.Version)
	}
	var infos []protocol.BackendInfo
	for _, b := range d.reg.Backends() {
		infos = append(infos, protocol.BackendInfo{Name: b.Name, Available: b.Available, Detail: b.Detail, LoggedIn: b.LoggedIn})
	}
	st := d.reg.StoreStatus()
	req.Reply(protocol.InitializeResult{
		ServerInfo:      d.info,
		ProtocolVersion: protocol.Version,
		Backends:        infos,
		DefaultBackend:  d.reg.DefaultBackend(),
		Store:           protocol.StoreInfo{Enabled: st.Enabled, Path: st.Path, Error: st.Problem},
	}, nil)
}

// sessionOptions checks the session options of a query or open and turns
// them into the registry's.
func (d *Dialect) sessionOptions(p *protocol.QueryParams) (sessions.Options, error) {
	switch {
	case p.SessionID == "":
		return sessions.Options{}, &sessions.ParamError{Field: "sessionId", Reason: "required"}
	case p.MaxTurns < 0:
		return sessions.Options{}, &sessions.ParamError{Field: "maxTurns", Reason: "must not be negative"}
	}
	tools := make([]backends.Tool, 0, len(p.Tools))
	for i, t := range p.Tools {
		if t.Name == "" {
			return sessions.Options{}, &sessions.ParamError{Field: "tools", Reason: "every tool needs a name (tool " + strconv.Itoa(i) + " has none)"}
		}
		tools = append(tools, backends.Tool{Name: t.Name, Description: t.Description, Parameters: t.Parameters})
	}
	return sessions.Options{
		SessionID: p.SessionID,
		Backend:   p.Backend,
		Options: backends.Options{
			Model:              p.Model,
			PermissionMode:     p.PermissionMode,
			Cwd:                p.Cwd,
			SystemPrompt:       p.SystemPrompt,
			MaxTurns:           p.MaxTurns,
			Tools:              tools,
			AppendSystemPrompt: p.AppendSystemPrompt,
			AllowedTools:       p.AllowedTools,
			DisallowedTools:    p.DisallowedTools,
			Resume:             p.Resume,
		},
		Events: newPresenter(d.conn, d.log, p.SessionID, nil),
	}, nil
}

func (d *Dialect) query(ctx context.Context, req *rpc.Request) {
	var p protocol.QueryParams
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	opts, err := d.sessionOptions(&p)
	if err == nil && p.Prompt == "" {
		err = &sessions.ParamError{Field: "prompt", Reason: "required"}
	}
	if err != nil {
		req.Reply(nil, err)
		return
	}
	d.reg.Prompt(sessions.Prompt{
		Options: opts,
		Turn: backends.Turn{
			Prompt:         backends.TextPrompt(p.Prompt),
			Model:          p.Model,
			PermissionMode: p.PermissionMode,
		},
		Ctx:    ctx,
		Events: newPresenter(d.conn, d.log, p.SessionID, req.ID),
		Reply: func(res sessions.TurnResult, err error) {
			if err != nil {
				req.Reply(nil, err)
				return
			}
			req.Reply(newQueryReply(res))
		},
	})
}

// open creates a session and starts its backend ahead of its first query,
// answering once the backend is ready.
func (d *Dialect) open(_ context.Context, req *rpc.Request) {
	var p protocol.QueryParams
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	opts, err := d.sessionOptions(&p)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	err = d.reg.Open(opts, func(err error) {
		if err != nil {
			req.Reply(nil, err)
			return
		}
		// The session's own backend: a stored one comes back on its.
		backend := p.Backend
		if info, ok := d.reg.LiveInfo(p.SessionID); ok {
			backend = info.Backend
		}
		req.Reply(protocol.OpenResult{SessionID: p.SessionID, Backend: backend}, nil)
	})
	if err != nil {
		req.Reply(nil, err)
	}
}

func (d *Dialect) cancel(_ context.Context, req *rpc.Request) {
	id, err := sessionID(req.Params)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	d.reg.Cancel(id, func(n int) { req.Reply(protocol.CancelResult{Cancelled: n}, nil) })
}

func (d *Dialect) cleanup(_ context.Context, req *rpc.Request) {
	id, err := sessionID(req.Params)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	d.reg.Close(id, func(closed bool) { req.Reply(protocol.CleanupResult{Closed: closed}, nil) })
}

func (d *Dialect) list(_ context.Context, req *rpc.Request) {
	var p protocol.ListParams
	if err := decode(req.Params, &p, false); err != nil {
		req.Reply(nil, err)
		return
	}
	if p.Limit < 0 {
		req.Reply(nil, &sessions.ParamError{Field: "limit", Reason: "must not be negative"})
		return
	}
	page, err := d.reg.ListSessions(sessions.ListQuery{Cwd: p.Cwd, Limit: p.Limit, Cursor: p.Cursor})
	if err != nil {
		req.Reply(nil, err)
		return
	}
	list := make([]protocol.SessionInfo, 0, len(page.Sessions))
	for _, s := range page.Sessions {
		list = append(list, sessionInfo(s))
	}
	req.Reply(protocol.ListResult{Sessions: list, NextCursor: page.Next}, nil)
}

// sessionInfo is a session as session/list and session/load describe it.
func sessionInfo(s sessions.Info) protocol.SessionInfo {
	info := protocol.SessionInfo{
		SessionID: s.SessionID,
		Backend:   s.Backend,
		Model:     s.Model,
		Mode:      s.Mode,
		Cwd:       s.Cwd,
		Status:    s.Status,
		Process:   s.Process,
		CreatedAt: s.CreatedAt.Format(time.RFC3339Nano),
		Turns:     s.Turns,
		Title:     s.Title,
	}
	if !s.UpdatedAt.IsZero() {
		info.UpdatedAt = s.UpdatedAt.Format(time.RFC3339Nano)
	}
	return info
}

func (d *Dialect) respond(_ context.Context, req *rpc.Request) {
	var p protocol.RespondParams
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	if p.RequestID == "" {
		req.Reply(nil, &sessions.ParamError{Field: "requestId", Reason: "required"})
		return
	}
	var dec backends.Decision
	switch p.Decision {
	case protocol.DecisionAllow:
		dec = backends.Decision{Allow: true, Reason: p.Reason, Remember: p.Remember}
	case protocol.DecisionDeny:
		dec = backends.Decision{Reason: p.Reason}
	default:
		req.Reply(nil, &sessions.ParamError{Field: "decision", Reason: `want "allow" or "deny", got "` + p.Decision + `"`})
		return
	}
	if err := d.reg.Respond(p.RequestID, dec); err != nil {
		req.Reply(nil, err)
		return
	}
	req.Reply(struct{}{}, nil)
}

// sessionID decodes the params of session/cancel and session/cleanup.
func sessionID(params json.RawMessage) (string, error) {
	var p protocol.SessionParams
	if err := decode(params, &p, true); err != nil {
		return "", err
	}
	if p.SessionID == "" {
		return "", &sessions.ParamError{Field: "sessionId", Reason: "required"}
	}
	return p.SessionID, nil
}

// decode decodes params into v (see params.Decode).
func decode(raw json.RawMessage, v any, required bool) error {
	return params.Decode(raw, v, required)
}
