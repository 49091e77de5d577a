package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/tether-dev/tether/protocol"
)

// dispatcher handles what Tether sends. It runs on jsonrpc2's read loop, in
// wire order, and must never block there: it decodes, registers what a
// later message may cancel, and queues the rest for the Query it belongs to
// (see route). Anything that waits, a host handler or a reply, runs on a
// goroutine of the Client.
type dispatcher struct{ c *Client }

func (d dispatcher) Handle(_ context.Context, _ *jsonrpc2.Conn, r *jsonrpc2.Request) {
	c := d.c
	var params json.RawMessage
	if r.Params != nil {
		params = *r.Params
	}
	if !r.Notif {
		if r.Method != protocol.MethodToolCall {
			id := r.ID
			c.goHandler(func() {
				c.replyError(id, &jsonrpc2.Error{Code: jsonrpc2.CodeMethodNotFound, Message: "method not found: " + r.Method})
			})
			return
		}
		d.toolCall(r.ID, params)
		return
	}
	switch r.Method {
	case protocol.MethodCancelRequest:
		var p struct {
			ID jsonrpc2.ID `json:"id"`
		}
		if err := json.Unmarshal(params, &p); err != nil {
			c.log.Debug("bad $/cancelRequest", "params", string(params), "err", err)
			return
		}
		c.mu.Lock()
		cancel := c.calls[p.ID]
		c.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	case protocol.MethodPermissionRequest:
		d.permissionRequest(params)
	default:
		ev, queryID, err := decodeEvent(r.Method, params)
		if err != nil {
			c.log.Debug("dropping a notification", "method", r.Method, "err", err)
			return
		}
		if ev.PermissionCancelled != nil {
			c.mu.Lock()
			cancel := c.perms[ev.PermissionCancelled.RequestID]
			c.mu.Unlock()
			if cancel != nil {
				cancel()
			}
		}
		c.route(queryID, queued{event: &ev})
	}
}

// permissionRequest registers the request, so that its permission/cancelled
// can end the handler's context even before the handler starts, and queues
// the event and the handler for the query.
func (d dispatcher) permissionRequest(params json.RawMessage) {
	c := d.c
	ev, queryID, err := decodeEvent(protocol.MethodPermissionRequest, params)
	if err != nil {
		c.log.Warn("undecodable permission/request: it stays unanswered until Tether withdraws it", "err", err)
		return
	}
	p := *ev.PermissionRequest
	ctx, cancel := context.WithCancel(c.ctx)
	c.mu.Lock()
	c.perms[p.RequestID] = cancel
	c.mu.Unlock()
	c.route(queryID, queued{event: &ev, start: func() { c.answerPermission(ctx, cancel, p) }})
}

// answerPermission asks the host's handler, or denies, and sends the answer
// unless the request was withdrawn meanwhile.
func (c *Client) answerPermission(ctx context.Context, cancel context.CancelFunc, p protocol.PermissionRequestParams) {
	defer func() {
		cancel()
		c.mu.Lock()
		delete(c.perms, p.RequestID)
		c.mu.Unlock()
	}()
	if ctx.Err() != nil {
		return // withdrawn before the handler could start
	}
	d := Decision{Reason: "the host installed no permission handler"}
	if c.opts.Permission != nil {
		d = c.opts.Permission(ctx, p)
	}
	if ctx.Err() != nil {
		return // withdrawn while deciding: Tether told the agent "deny" already
	}
	resp := protocol.RespondParams{RequestID: p.RequestID, Decision: protocol.DecisionDeny, Reason: d.Reason}
	if d.Allow {
		resp = protocol.RespondParams{RequestID: p.RequestID, Decision: protocol.DecisionAllow, Remember: d.Remember}
	}
	if err := c.call(c.ctx, protocol.MethodPermissionRespond, resp, nil); err != nil {
		// A request withdrawn between the check above and now is
		// answered -32602: harmless.
		c.log.Debug("permission answer not taken", "requestId", p.RequestID, "err", err)
	}
}

// toolCall registers the call, so that Tether's $/cancelRequest for it can
// end the handler's context, and queues the handler for the query.
func (d dispatcher) toolCall(id jsonrpc2.ID, params json.RawMessage) {
	c := d.c
	var p protocol.ToolCallParams
	if err := json.Unmarshal(params, &p); err != nil {
		c.goHandler(func() {
			c.replyError(id, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: "bad tool/call params: " + err.Error()})
		})
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.mu.Lock()
	c.calls[id] = cancel
	c.mu.Unlock()
	c.route(p.QueryID, queued{start: func() { c.runTool(ctx, cancel, id, p) }})
}

// errToolFailed is the code of a tool/call answered with an error: the
// JSON-RPC range for implementation-defined server errors.
const errToolFailed = -32000

// runTool runs the host's tool handler and answers the call.
func (c *Client) runTool(ctx context.Context, cancel context.CancelFunc, id jsonrpc2.ID, p protocol.ToolCallParams) {
	defer func() {
		cancel()
		c.mu.Lock()
		delete(c.calls, id)
		c.mu.Unlock()
	}()
	if c.opts.Tool == nil {
		c.replyError(id, &jsonrpc2.Error{Code: errToolFailed, Message: "the host installed no tool handler"})
		return
	}
	res, err := c.opts.Tool(ctx, p)
	if err != nil {
		c.replyError(id, &jsonrpc2.Error{Code: errToolFailed, Message: err.Error()})
		return
	}
	// A call Tether cancelled is still answered: it ignores the answer.
	if err := c.conn.Reply(c.ctx, id, res); err != nil {
		c.log.Debug("tool/call answer not sent", "id", id, "err", err)
	}
}

func (c *Client) replyError(id jsonrpc2.ID, e *jsonrpc2.Error) {
	if err := c.conn.ReplyWithError(c.ctx, id, e); err != nil {
		c.log.Debug("error answer not sent", "id", id, "err", err)
	}
}

// decodeEvent decodes a session notification, and returns the queryId it
// belongs to (nil for none).
func decodeEvent(method string, params json.RawMessage) (Event, json.RawMessage, error) {
	ev := Event{Method: method, Params: params}
	var target any
	var base *protocol.Event
	switch method {
	case protocol.MethodToken, protocol.MethodThinking:
		p := new(protocol.TextParams)
		if method == protocol.MethodToken {
			ev.Token = p
		} else {
			ev.Thinking = p
		}
		target, base = p, &p.Event
	case protocol.MethodToolUse:
		ev.ToolUse = new(protocol.ToolUseParams)
		target, base = ev.ToolUse, &ev.ToolUse.Event
	case protocol.MethodToolResult:
		ev.ToolResult = new(protocol.ToolResultParams)
		target, base = ev.ToolResult, &ev.ToolResult.Event
	case protocol.MethodStatus:
		ev.Status = new(protocol.StatusParams)
		target, base = ev.Status, &ev.Status.Event
	case protocol.MethodPermissionRequest:
		ev.PermissionRequest = new(protocol.PermissionRequestParams)
		target, base = ev.PermissionRequest, &ev.PermissionRequest.Event
	case protocol.MethodPermissionCancelled:
		ev.PermissionCancelled = new(protocol.PermissionCancelledParams)
		target, base = ev.PermissionCancelled, &ev.PermissionCancelled.Event
	default:
		return Event{}, nil, errors.New("unknown notification")
	}
	if err := json.Unmarshal(params, target); err != nil {
		return Event{}, nil, fmt.Errorf("decoding %s: %w", method, err)
	}
	return ev, base.QueryID, nil
}
