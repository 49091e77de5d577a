package acp

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// loadSession is session/load: it brings a stored session back to life
// (or takes a live one as it is), replays its conversation as the
// session/updates it produced, user messages included, and then answers.
// The replay runs on a goroutine of the dialect's (Wait waits for it), so
// the read loop goes on meanwhile.
func (d *Dialect) loadSession(ctx context.Context, req *rpc.Request) {
	var p schema.LoadSessionRequest
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	s, err := d.restore(string(p.SessionId), p.Cwd, p.McpServers)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if _, err := d.reg.Replay(ctx, s.id, newReplayer(d, s.id)); err != nil {
			req.Reply(nil, err)
			return
		}
		req.Reply(schema.LoadSessionResponse{ConfigOptions: d.configOptions(s), Modes: d.modeState(s)}, nil)
	}()
}

// resumeSession is session/resume: session/load without the replay, for
// a client that still shows the conversation.
func (d *Dialect) resumeSession(_ context.Context, req *rpc.Request) {
	var p schema.ResumeSessionRequest
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	s, err := d.restore(string(p.SessionId), p.Cwd, p.McpServers)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	req.Reply(schema.ResumeSessionResponse{ConfigOptions: d.configOptions(s), Modes: d.modeState(s)}, nil)
}

// restore makes session id live in this dialect: a live one as it is, a
// stored one brought back on its backend with its options, its backend
// started now (as session/new does). The cwd must be the session's; the
// MCP servers are the client's (the store never keeps them).
func (d *Dialect) restore(id, cwd string, mcp []schema.McpServer) (*session, error) {
	if cwd == "" {
		return nil, &sessions.ParamError{Field: "cwd", Reason: "required"}
	}
	cwd = filepath.Clean(cwd)
	servers, err := mcpServers(mcp)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	live := d.sessions[id]
	d.mu.Unlock()
	if live != nil {
		if cwd != live.cwd {
			return nil, &sessions.ParamError{Field: "cwd", Reason: fmt.Sprintf("session %q runs in %q", id, live.cwd)}
		}
		return live, nil
	}
	info, err := d.reg.Lookup(id)
	if err != nil {
		return nil, err
	}
	if cwd != info.Cwd {
		return nil, &sessions.ParamError{Field: "cwd", Reason: fmt.Sprintf("session %q was made in %q; it can be loaded there only", id, info.Cwd)}
	}
	s := &session{
		id:         id,
		cwd:        info.Cwd,
		mcpServers: servers,
		backend:    info.Backend,
		model:      info.Model,
		mode:       info.Mode,
		prompted:   info.Turns > 0,
		title:      info.Title,
		updatedAt:  info.UpdatedAt,
	}
	if s.updatedAt.IsZero() {
		s.updatedAt = time.Now().UTC()
	}
	if err := d.open(s); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if other := d.sessions[id]; other != nil {
		return other, nil // restored meanwhile by another request
	}
	d.sessions[id] = s
	return s, nil
}

// replayer writes a stored conversation as the session/updates it
// produced: each prompt as user_message_chunks, then the turn's events as
// the session's presenter wrote them. A tool call a turn ended without
// finishing is marked failed, so that no client shows it pending for good.
type replayer struct {
	d         *Dialect
	sessionID string
	p         *presenter
	unended   []string // tool calls of the turn shown and not finished
}

var _ sessions.Replayer = (*replayer)(nil)

func newReplayer(d *Dialect, sessionID string) *replayer {
	return &replayer{d: d, sessionID: sessionID, p: newPresenter(d, sessionID)}
}

func (r *replayer) TurnStarted(t sessions.StoredTurn) {
	r.unended = r.unended[:0]
	for _, c := range t.Prompt {
		block, ok := contentBlockOf(c)
		if !ok {
			continue
		}
		r.d.notify(r.sessionID, schema.SessionUpdateUserMessageChunk{SessionUpdate: "user_message_chunk", Content: block})
	}
}

func (r *replayer) Token(text string)    { r.p.Token(text) }
func (r *replayer) Thinking(text string) { r.p.Thinking(text) }

func (r *replayer) ToolUse(u backends.ToolUse) {
	r.unended = append(r.unended, u.ID)
	r.p.ToolUse(u)
}

func (r *replayer) ToolResult(res backends.ToolResult) {
	r.unended = slices.DeleteFunc(r.unended, func(id string) bool { return id == res.ID })
	r.p.ToolResult(res)
}

// Permission is not replayed: ACP has no update for a request answered.
func (r *replayer) Permission(sessions.Decision) {}

func (r *replayer) TurnEnded(t sessions.StoredTurn) {
	if t.EndedAt.IsZero() {
		return // running, or cut off: nothing is known of its tool calls
	}
	for _, id := range r.unended {
		r.p.unended(id)
	}
}

// contentBlockOf is a prompt's content block as ACP's content block.
func contentBlockOf(c backends.Content) (schema.ContentBlock, bool) {
	switch c.Type {
	case backends.ContentText:
		return schema.TextBlock(c.Text), true
	case backends.ContentImage:
		img := &schema.ContentBlockImage{Type: "image", Data: c.Data, MimeType: c.MimeType}
		if c.URI != "" {
			img.Uri = ptr(c.URI)
		}
		return schema.ContentBlock{Image: img}, true
	case backends.ContentResourceLink:
		name := c.Name
		if name == "" {
			name = linkName(c.URI)
		}
		return schema.ResourceLinkBlock(name, c.URI), true
	case backends.ContentResource:
		res := &schema.TextResourceContents{Uri: c.URI, Text: c.Text}
		if c.MimeType != "" {
			res.MimeType = ptr(c.MimeType)
		}
		return schema.ResourceBlock(schema.EmbeddedResourceResource{TextResourceContents: res}), true
	}
	return schema.ContentBlock{}, false
}

// linkName is the last element of a URI, to name a link that has none.
func linkName(uri string) string {
	if i := strings.LastIndexByte(uri, '/'); i >= 0 && i < len(uri)-1 {
		return uri[i+1:]
	}
	return uri
}
