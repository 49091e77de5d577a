package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/protocol"
)

// runTurn runs one query on the turn goroutine (see Session). It writes the
// query's notifications and then its reply, closes done, and returns.
func (s *Session) runTurn(ctx context.Context, q *query, done chan<- struct{}) {
	defer close(done)
	start := time.Now()
	sink := &turnSink{s: s, ctx: ctx, queryID: q.ID}

	if s.conn == nil {
		s.setStatus(q.ID, protocol.StatusStarting, s.backend.Name())
		conn, err := s.backend.Open(ctx, s.opts)
		if err != nil {
			err = fmt.Errorf("starting %s backend: %w", s.backend.Name(), err)
			s.setStatus(q.ID, protocol.StatusFailed, err.Error())
			q.finish(protocol.QueryResult{}, s.turnError(ctx, err))
			return
		}
		s.conn = conn
	}

	s.mu.Lock()
	s.turns++
	if q.Params.Model != "" {
		s.model = q.Params.Model
	}
	s.mu.Unlock()
	s.setStatus(q.ID, protocol.StatusBusy, "")

	res, err := s.conn.Query(ctx, backends.Turn{
		Prompt:         q.Params.Prompt,
		Model:          q.Params.Model,
		PermissionMode: q.Params.PermissionMode,
	}, sink)

	// No permission request outlives its turn: whatever is still pending
	// is denied for the backend and withdrawn for the editor.
	reason := "turn ended"
	if ctx.Err() != nil {
		reason = "cancelled"
	}
	sink.withdrawAll(reason)

	if ctx.Err() != nil {
		err = nil
		res.StopReason = protocol.StopCancelled
	}
	if err == nil {
		s.setStatus(q.ID, protocol.StatusIdle, "")
	} else {
		s.setStatus(q.ID, protocol.StatusFailed, err.Error())
	}
	if err := s.turnError(ctx, err); err != nil {
		q.finish(protocol.QueryResult{}, err)
		return
	}
	q.finish(protocol.QueryResult{
		SessionID:        s.id,
		StopReason:       res.StopReason,
		Text:             sink.text.String(),
		Usage:            res.Usage,
		DurationMs:       time.Since(start).Milliseconds(),
		CostUSD:          res.CostUSD,
		NumTurns:         res.NumTurns,
		BackendSessionID: res.BackendSessionID,
	}, nil)
}

// turnError decides how a turn that ended with err (maybe nil) is answered.
// A request cancelled by itself ($/cancelRequest) or by the connection
// closing is answered with the cancellation's cause; one cancelled through
// its session ends normally ("cancelled"), so nil.
func (s *Session) turnError(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); ctx.Err() != nil && !errors.Is(cause, errSessionCancel) {
		return cause
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// turnSink is the backends.Sink of one turn. It is used only from the turn
// goroutine.
type turnSink struct {
	s       *Session
	ctx     context.Context
	queryID json.RawMessage
	text    strings.Builder
	asked   []string // permission request ids of this turn
	waiting bool     // status is waiting_permission
}

var _ backends.Sink = (*turnSink)(nil)

func (t *turnSink) event() protocol.Event {
	return protocol.Event{SessionID: t.s.id, QueryID: t.queryID}
}

// resume puts the status back to busy once no request of the session waits
// any more. It runs before every event, but costs a lock only while the
// status is waiting_permission.
func (t *turnSink) resume() {
	if t.waiting && t.s.broker.waiting(t.s.id) == 0 {
		t.waiting = false
		t.s.setStatus(t.queryID, protocol.StatusBusy, "")
	}
}

func (t *turnSink) Token(text string) {
	if text == "" {
		return
	}
	t.resume()
	t.text.WriteString(text)
	t.s.notify(protocol.MethodToken, protocol.TextParams{Event: t.event(), Text: text})
}

func (t *turnSink) Thinking(text string) {
	t.resume()
	t.s.notify(protocol.MethodThinking, protocol.TextParams{Event: t.event(), Text: text})
}

func (t *turnSink) ToolUse(toolUseID, toolName string, input json.RawMessage) {
	t.resume()
	t.s.notify(protocol.MethodToolUse, protocol.ToolUseParams{
		Event: t.event(), ToolUseID: toolUseID, ToolName: toolName, Input: orEmptyObject(input),
	})
}

func (t *turnSink) ToolResult(toolUseID, toolName, summary string, isError bool) {
	t.resume()
	t.s.notify(protocol.MethodToolResult, protocol.ToolResultParams{
		Event: t.event(), ToolUseID: toolUseID, ToolName: toolName, Summary: summary, IsError: isError,
	})
}

func (t *turnSink) AskPermission(req backends.PermissionRequest) backends.Permission {
	if t.ctx.Err() != nil {
		// Nobody can answer a request of a cancelled turn.
		deny := make(chan backends.Decision, 1)
		deny <- backends.Decision{Reason: "cancelled"}
		return backends.Permission{Decision: deny}
	}
	var id string
	p, ask := t.s.broker.ask(t.s.id, req.ToolName, func(reason string) {
		t.s.notify(protocol.MethodPermissionCancelled, protocol.PermissionCancelledParams{
			Event: t.event(), RequestID: id, Reason: reason,
		})
	})
	id = p.ID
	if !ask {
		return p
	}
	t.asked = append(t.asked, p.ID)
	t.s.notify(protocol.MethodPermissionRequest, protocol.PermissionRequestParams{
		Event: t.event(), RequestID: p.ID, ToolName: req.ToolName,
		ToolInput: orEmptyObject(req.ToolInput), ToolUseID: req.ToolUseID, Suggestions: req.Suggestions,
	})
	if !t.waiting {
		t.waiting = true
		t.s.setStatus(t.queryID, protocol.StatusWaitingPermission, req.ToolName)
	}
	return p
}

func (t *turnSink) WithdrawPermission(requestID, reason string) {
	t.s.broker.withdraw(requestID, reason)
	t.resume()
}

// withdrawAll withdraws every request of this turn still pending.
func (t *turnSink) withdrawAll(reason string) {
	for _, id := range t.asked {
		t.s.broker.withdraw(id, reason)
	}
	t.asked = nil
	t.waiting = false
}

func (t *turnSink) CallTool(ctx context.Context, call backends.ToolCall) (protocol.ToolCallResult, error) {
	t.resume()
	var out protocol.ToolCallResult
	err := t.s.client.Call(ctx, protocol.MethodToolCall, protocol.ToolCallParams{
		SessionID: t.s.id, QueryID: t.queryID, ToolUseID: call.ToolUseID,
		Name: call.Name, Arguments: orEmptyObject(call.Arguments),
	}, &out)
	if err != nil {
		return out, fmt.Errorf("tool/call %s: %w", call.Name, err)
	}
	return out, nil
}

func orEmptyObject(m json.RawMessage) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage("{}")
	}
	return m
}
