package tether

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/internal/jsonwire"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// presenter turns one session's events into Tether's notifications. One
// presenter serves a session outside its queries (queryID nil), and one
// each query (queryID the query's JSON-RPC id), so that every notification
// carries the query it belongs to.
//
// The hot notifications (token, thinking) go out through the presenter's
// own rpc.Outbox, encoded on the caller's goroutine, and consecutive texts
// of one kind merge while the client does not keep up (protocol.md,
// "Streaming"). Every other notification goes out on the connection, so
// it follows every text before it. The sessions package delivers a
// session's events from one goroutine at a time, as an Outbox wants.
type presenter struct {
	conn      *rpc.Conn
	log       *slog.Logger
	sessionID string
	queryID   json.RawMessage

	// Made at the first text: most session presenters never send one.
	out      *rpc.Outbox
	token    *rpc.TextKind
	thinking *rpc.TextKind
}

var _ sessions.Events = (*presenter)(nil)

func newPresenter(conn *rpc.Conn, log *slog.Logger, sessionID string, queryID json.RawMessage) *presenter {
	return &presenter{conn: conn, log: log, sessionID: sessionID, queryID: queryID}
}

func (p *presenter) event() protocol.Event {
	return protocol.Event{SessionID: p.sessionID, QueryID: p.queryID}
}

// textKind is a text notification of method: its JSON up to the text's
// opening quote, and after its closing quote.
func (p *presenter) textKind(method string) *rpc.TextKind {
	b := append([]byte(nil), `{"jsonrpc":"2.0","method":"`...)
	b = append(b, method...)
	b = append(b, `","params":{"sessionId":`...)
	b = jsonwire.AppendString(b, p.sessionID)
	if p.queryID != nil {
		b = append(b, `,"queryId":`...)
		b = append(b, p.queryID...)
	}
	return rpc.NewTextKind(append(b, `,"text":"`...), []byte(`"}}`))
}

func (p *presenter) sendText(kind **rpc.TextKind, method, text string) {
	if p.out == nil {
		p.out = p.conn.NewOutbox()
	}
	if *kind == nil {
		*kind = p.textKind(method)
	}
	if err := p.out.Text(*kind, text); err != nil {
		p.log.Debug("notify", "method", method, "err", err)
	}
}

func (p *presenter) Token(text string) {
	p.sendText(&p.token, protocol.MethodToken, text)
}

func (p *presenter) Thinking(text string) {
	p.sendText(&p.thinking, protocol.MethodThinking, text)
}

func (p *presenter) notify(method string, params any) {
	if err := p.conn.Notify(method, params); err != nil {
		p.log.Debug("notify", "method", method, "err", err)
	}
}

func (p *presenter) Status(s sessions.Status) {
	p.notify(protocol.MethodStatus, protocol.StatusParams{Event: p.event(), Status: s.State, Detail: s.Detail})
}

func (p *presenter) ToolUse(u backends.ToolUse) {
	p.notify(protocol.MethodToolUse, protocol.ToolUseParams{
		Event: p.event(), ToolUseID: u.ID, ToolName: u.Name, Input: u.Input, Kind: u.Kind, Title: u.Title,
	})
}

func (p *presenter) ToolResult(r backends.ToolResult) {
	p.notify(protocol.MethodToolResult, protocol.ToolResultParams{
		Event: p.event(), ToolUseID: r.ID, ToolName: r.Name, Summary: r.Summary, IsError: r.IsError,
	})
}

// Plans, context usage and slash commands have no notification in Tether's
// protocol yet; ACP clients get them.
func (p *presenter) Plan([]backends.PlanEntry)   {}
func (p *presenter) Usage(backends.ContextUsage) {}
func (p *presenter) Commands([]backends.Command) {}

func (p *presenter) PermissionRequested(r sessions.PermissionRequest) {
	p.notify(protocol.MethodPermissionRequest, protocol.PermissionRequestParams{
		Event: p.event(), RequestID: r.ID, ToolName: r.ToolName, ToolInput: r.ToolInput,
		ToolUseID: r.ToolUseID, AlwaysRule: r.Rule, Suggestions: r.Suggestions,
	})
}

func (p *presenter) PermissionWithdrawn(requestID, reason string) {
	p.notify(protocol.MethodPermissionCancelled, protocol.PermissionCancelledParams{
		Event: p.event(), RequestID: requestID, Reason: reason,
	})
}

func (p *presenter) CallTool(ctx context.Context, call backends.ToolCall) (backends.ToolCallResult, error) {
	var out protocol.ToolCallResult
	err := p.conn.Call(ctx, protocol.MethodToolCall, protocol.ToolCallParams{
		SessionID: p.sessionID, QueryID: p.queryID, ToolUseID: call.ToolUseID,
		Name: call.Name, Arguments: call.Arguments,
	}, &out)
	return backends.ToolCallResult{Content: out.Content, IsError: out.IsError}, err
}
