package claude

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/permissions"
)

// turn is the state of one Query: it maps the CLI's messages onto the sink
// and the editor's permission decisions back onto the CLI.
//
// Goroutines: one forwarder per permission request asked of the editor,
// started by askPermission. It waits for the request's one Decision and
// hands it to the turn's loop through decided, or gives up when the turn
// ends (done is closed). runTurn closes done and waits for every forwarder
// before it returns, so none outlives the Query.
type turn struct {
	c    *conn
	p    *process
	ctx  context.Context
	sink backends.Sink

	tools    map[string]toolCall // tool_use id → the call, for results
	streamed map[string]bool     // assistant message ids whose text arrived as deltas
	// pending are the permission requests the editor has not answered,
	// by Tether's request id.
	pending     map[string]pendingPermission
	interrupted bool // ctx ended and interrupt was sent

	// apiError is what the CLI's synthetic assistant frame said of a
	// failed API request ("Not logged in", "API Error: ..."), and its
	// kind; the turn fails with it rather than streaming it as an answer.
	apiError, apiErrorKind string
	// lastUsage is the usage of the main thread's last API response: how
	// full the context window is.
	lastUsage *usage

	decided chan decided
	done    chan struct{}
	wg      sync.WaitGroup
}

type toolCall struct {
	name  string
	input json.RawMessage
}

type pendingPermission struct {
	cliRequestID string
	input        json.RawMessage
	// remember is what an allow the editor asked to remember sends the
	// CLI: the session rule from its suggestions (nil without one).
	remember []permissionUpdate
}

// decided is a forwarded Decision.
type decided struct {
	permissionID string
	backends.Decision
}

// runTurn writes the prompt and runs the turn until its result, a fault, or
// the end of an interrupt. See backends.Conn.Query for the contract.
func (c *conn) runTurn(ctx context.Context, prompt []backends.Content, sink backends.Sink) (backends.Result, error) {
	t := &turn{
		c: c, p: c.proc, ctx: ctx, sink: sink,
		tools:    make(map[string]toolCall),
		streamed: make(map[string]bool),
		pending:  make(map[string]pendingPermission),
		decided:  make(chan decided),
		done:     make(chan struct{}),
	}
	defer func() {
		close(t.done)
		t.wg.Wait()
	}()

	err := t.p.send(map[string]any{
		"type":               typeUser,
		"session_id":         "",
		"message":            map[string]any{"role": "user", "content": promptContent(prompt)},
		"parent_tool_use_id": nil,
	})
	if err != nil {
		return backends.Result{}, c.fail(fmt.Errorf("sending the prompt: %w", err), "")
	}

	watchdog := time.NewTimer(c.cfg.Watchdog)
	defer watchdog.Stop()
	ctxDone := ctx.Done()
	var interruptDeadline <-chan time.Time
	for {
		select {
		case m, ok := <-t.p.msgs:
			if !ok {
				return t.died()
			}
			// The watchdog measures the CLI's silence only: while handle
			// waits on the editor (a slow reader of Tether's stdout), the
			// CLI is held up by us, not dead.
			watchdog.Stop()
			res, err, end := t.handle(m)
			if end {
				return res, err
			}
			watchdog.Reset(c.cfg.Watchdog)
		case d := <-t.decided:
			t.answer(d)
		case <-ctxDone:
			ctxDone = nil
			t.interrupt()
			deadline := time.NewTimer(c.cfg.Grace)
			defer deadline.Stop()
			interruptDeadline = deadline.C
		case <-interruptDeadline:
			c.log.Warn("claude did not end the turn after interrupt; stopping it", "grace", c.cfg.Grace)
			c.drop()
			return backends.Result{StopReason: backends.StopCancelled}, nil
		case <-watchdog.C:
			if len(t.pending) > 0 {
				// The editor is thinking, not the CLI.
				watchdog.Reset(c.cfg.Watchdog)
				continue
			}
			return backends.Result{}, c.fail(fmt.Errorf("%w for %v; treated as dead", errWatchdog, c.cfg.Watchdog), "")
		}
	}
}

// died ends a turn whose process exited.
func (t *turn) died() (backends.Result, error) {
	if t.interrupted {
		t.c.drop()
		return backends.Result{StopReason: backends.StopCancelled}, nil
	}
	return backends.Result{}, t.c.fail(fmt.Errorf("claude exited mid-turn"), "")
}

// handle acts on one message; end is set when the turn is over.
func (t *turn) handle(m message) (res backends.Result, err error, end bool) {
	t.c.noteSession(m)
	switch m.Type {
	case typeStreamEvent:
		t.streamEvent(m)
	case typeAssistant:
		t.assistant(m)
	case typeUser:
		t.toolResults(m)
	case typeControlRequest:
		t.askPermission(m)
	case typeControlCancel:
		t.cancelled(m)
	case typeControlResp:
		if m.Response != nil && m.Response.err() != nil {
			t.c.log.Warn("claude refused a control request", "request_id", m.Response.RequestID, "err", m.Response.Error)
		}
	case typeResult:
		res, err = t.result(m)
		return res, err, true
	case typeSystem:
		t.system(m)
	case typeLongLine:
		t.sink.Progress(m.Result)
	default:
		// system (init, status, ...), keep_alive, rate_limit_event, and
		// whatever newer CLIs add.
		t.c.log.Debug("claude message ignored", "type", m.Type, "subtype", m.Subtype)
	}
	return backends.Result{}, nil, false
}

// mainThread reports whether m belongs to the main agent rather than a
// sub-agent (Task), whose text is not the answer.
func mainThread(m message) bool {
	return m.ParentToolUseID == ""
}

func (t *turn) streamEvent(m message) {
	if !mainThread(m) {
		return
	}
	ev := &m.Event
	switch ev.Type {
	case "message_start":
		if ev.Message.ID != "" {
			t.streamed[ev.Message.ID] = true
		}
	case "content_block_delta":
		switch ev.Delta.Type {
		case "text_delta":
			t.sink.Token(ev.Delta.Text)
		case "thinking_delta":
			t.sink.Thinking(ev.Delta.Thinking)
		}
	}
}

// assistant reports tool calls; text and thinking normally arrived as
// deltas already, and are sent from here only when they did not (a frame
// the CLI made up, such as an API error).
func (t *turn) assistant(m message) {
	if m.Message == nil {
		return
	}
	if m.Error != "" || m.Message.Model == syntheticModel {
		// The CLI made this frame up to say an API request failed (or
		// that it is not logged in): not an answer, but why the turn
		// fails.
		for _, b := range m.Message.blocks() {
			if b.Type == "text" && b.Text != "" {
				t.apiError = b.Text
			}
		}
		t.apiErrorKind = m.Error
		return
	}
	if mainThread(m) && m.Message.Usage != nil {
		t.lastUsage = m.Message.Usage
	}
	streamed := t.streamed[m.Message.ID]
	for _, b := range m.Message.blocks() {
		switch b.Type {
		case "tool_use":
			t.tools[b.ID] = toolCall{name: b.Name, input: b.Input}
			t.sink.ToolUse(toolUse(b.ID, b.Name, b.Input, t.c.opts.Cwd))
			if entries, ok := plan(b.Name, b.Input); ok && mainThread(m) {
				t.sink.Plan(entries)
			}
		case "text":
			if !streamed && mainThread(m) {
				t.sink.Token(b.Text)
			}
		case "thinking":
			if !streamed && mainThread(m) {
				t.sink.Thinking(b.Thinking)
			}
		}
	}
}

// toolResults reports every tool_result block of a user frame. The frame's
// tool_use_result (the tool's structured output) belongs to its result
// block when there is exactly one.
func (t *turn) toolResults(m message) {
	if m.Message == nil {
		return
	}
	var results []contentBlock
	for _, b := range m.Message.blocks() {
		if b.Type == "tool_result" {
			results = append(results, b)
		}
	}
	for _, b := range results {
		var structured json.RawMessage
		if len(results) == 1 {
			structured = m.ToolUseResult
		}
		call := t.tools[b.ToolUseID]
		summary := summarize(toolOutcome{
			name: call.name, input: call.input, result: structured,
			text: b.resultText(), isError: b.IsError, cwd: t.c.opts.Cwd,
		})
		t.sink.ToolResult(backends.ToolResult{ID: b.ToolUseID, Name: call.name, Summary: summary, IsError: b.IsError, Output: structured})
	}
}

// askPermission forwards a can_use_tool request to the editor.
func (t *turn) askPermission(m message) {
	req := m.controlRequest()
	if t.interrupted {
		t.deny(m.RequestID, "cancelled")
		return
	}
	input := req.Input
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	ask := backends.PermissionRequest{
		ToolName: req.ToolName, ToolInput: input, ToolUseID: req.ToolUseID, Suggestions: req.Suggestions,
	}
	// "Always" adds the CLI's own suggested rule, which the CLI then
	// applies itself. Without one, the rule is the tool with its exact
	// input, which the CLI's rules cannot say (an Edit rule covers a
	// whole file; a Bash rule for a command outside the project does not
	// spare its path check): the session remembers that one and answers
	// the CLI's next identical request itself.
	var update []permissionUpdate
	ask.Rule, update = sessionRule(req.Suggestions)
	if update != nil {
		ask.AgentRemembers = true
	} else if exact, err := permissions.Exact(req.ToolName, input); err == nil {
		ask.Rule = exact.String()
	}
	perm := t.sink.AskPermission(ask)
	t.pending[perm.ID] = pendingPermission{cliRequestID: m.RequestID, input: input, remember: update}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		select {
		case d := <-perm.Decision:
			select {
			case t.decided <- decided{permissionID: perm.ID, Decision: d}:
			case <-t.done:
			}
		case <-t.done:
		}
	}()
}

// answer writes the editor's decision as the can_use_tool response.
func (t *turn) answer(d decided) {
	pend, ok := t.pending[d.permissionID]
	if !ok {
		return // the CLI cancelled it, or the turn was interrupted
	}
	delete(t.pending, d.permissionID)
	if !d.Allow {
		reason := d.Reason
		if reason == "" {
			reason = "denied by the user"
		}
		t.deny(pend.cliRequestID, reason)
		return
	}
	allow := permissionAllow{Behavior: "allow", UpdatedInput: pend.input}
	if d.Remember {
		allow.UpdatedPermissions = pend.remember
	}
	if err := t.p.answerPermission(pend.cliRequestID, allow); err != nil {
		t.c.log.Warn("answering claude's permission request", "err", err)
	}
}

func (t *turn) deny(cliRequestID, reason string) {
	if err := t.p.answerPermission(cliRequestID, permissionDeny{Behavior: "deny", Message: reason}); err != nil {
		t.c.log.Warn("answering claude's permission request", "err", err)
	}
}

// cancelled handles control_cancel_request: the CLI no longer wants an
// answer, so the editor is told the request is gone.
func (t *turn) cancelled(m message) {
	for id, pend := range t.pending {
		if pend.cliRequestID == m.RequestID {
			delete(t.pending, id)
			t.sink.WithdrawPermission(id, "cancelled by claude")
			return
		}
	}
}

// interrupt asks the CLI to stop the turn and denies what waits for the
// editor; the turn then ends with the CLI's result.
func (t *turn) interrupt() {
	t.interrupted = true
	if err := t.p.sendControlRequest(t.c.newRequestID(), ctlInterrupt, nil); err != nil {
		t.c.log.Warn("interrupting claude", "err", err)
	}
	for id, pend := range t.pending {
		delete(t.pending, id)
		t.deny(pend.cliRequestID, "cancelled")
		t.sink.WithdrawPermission(id, "cancelled")
	}
}

// result ends the turn with the CLI's result message.
func (t *turn) result(m message) (backends.Result, error) {
	res := backends.Result{NumTurns: m.NumTurns, BackendSessionID: m.SessionID}
	if u := m.Usage; u != nil {
		res.Usage = backends.Usage{
			InputTokens:      u.InputTokens,
			OutputTokens:     u.OutputTokens,
			CacheReadTokens:  u.CacheReadInputTokens,
			CacheWriteTokens: u.CacheCreationInputTokens,
		}
	}
	// total_cost_usd counts the whole process; report this turn's part.
	res.CostUSD = m.TotalCostUSD - t.c.costSoFar
	if res.CostUSD < 0 {
		res.CostUSD = m.TotalCostUSD
	}
	t.c.costSoFar = m.TotalCostUSD
	if cu, ok := t.contextUsage(m); ok && !t.interrupted {
		t.sink.Usage(cu)
	}

	switch {
	case t.interrupted:
		res.StopReason = backends.StopCancelled
		return res, nil
	case m.Subtype == "error_max_turns":
		res.StopReason = backends.StopMaxTurns
		return res, nil
	case m.IsError || strings.HasPrefix(m.Subtype, "error") || t.apiError != "":
		return res, t.failure(m)
	}
	res.StopReason = stopReason(m.StopReason)
	return res, nil
}

// stopReason maps the Messages API stop_reason of a successful result.
func stopReason(s string) string {
	switch s {
	case "max_tokens", "model_context_window_exceeded":
		return backends.StopMaxTokens
	case "refusal":
		return backends.StopRefusal
	default: // end_turn, stop_sequence, tool_use, pause_turn, none
		return backends.StopEndTurn
	}
}

// resultText is what a failed result says.
func resultText(m message) string {
	switch {
	case m.Result != "":
		return m.Result
	case len(m.Errors) > 0:
		return strings.Join(m.Errors, "; ")
	case m.Subtype != "":
		return m.Subtype
	}
	return "unknown error"
}
