package acp

import (
	"context"
	"encoding/json"
	"errors"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/internal/jsonwire"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// presenter turns one session's events into session/update notifications.
// ACP's updates carry no prompt id (a session runs one prompt at a time),
// so one presenter serves the session's whole life: its start, and every
// prompt.
//
// The sessions package delivers a session's events from one goroutine at a
// time, so the token buffer and the tool map need no lock.
type presenter struct {
	d         *Dialect
	sessionID string

	// The hot updates (agent_message_chunk, agent_thought_chunk) are
	// encoded by hand: a prefix with everything up to the text, made once,
	// then the text. They go out through the turn's rpc.Outbox (made by
	// turn, dropped with the turn, since an outbox keeps its buffer), and
	// consecutive chunks of one kind merge while the client does not keep
	// up; everything else goes out on the connection, after them. Nothing
	// is marshalled by reflection on the token path.
	message, thought *rpc.TextKind

	// tools are the tool calls shown (tool_call) and not finished yet, so
	// that a permission request can show the call as its tool_call did.
	tools map[string]backends.ToolUse
	// asked maps the permission requests in flight to their tool calls,
	// so that a withdrawn one can mark its call failed.
	asked map[string]schema.ToolCallId
}

var _ sessions.Events = (*presenter)(nil)

// maxTools bounds the tool calls remembered for permission requests: a
// backend that never reports results must not grow it without end.
const maxTools = 256

func newPresenter(d *Dialect, sessionID string) *presenter {
	return &presenter{
		d: d, sessionID: sessionID,
		tools: make(map[string]backends.ToolUse),
		asked: make(map[string]schema.ToolCallId),
	}
}

// chunkKind is a session/update with a text chunk: its JSON up to the
// text's opening quote, and after its closing quote.
func (p *presenter) chunkKind(kind string) *rpc.TextKind {
	b := append([]byte(nil), `{"jsonrpc":"2.0","method":"`+methodUpdate+`","params":{"sessionId":`...)
	b = jsonwire.AppendString(b, p.sessionID)
	b = append(b, `,"update":{"sessionUpdate":"`...)
	b = append(b, kind...)
	return rpc.NewTextKind(append(b, `","content":{"type":"text","text":"`...), []byte(`"}}}}`))
}

// turn returns a presenter for one prompt's turn: the session's, with an
// outbox of its own for the chunks.
func (p *presenter) turn() *turnPresenter {
	if p.message == nil {
		p.message, p.thought = p.chunkKind("agent_message_chunk"), p.chunkKind("agent_thought_chunk")
	}
	return &turnPresenter{presenter: p, out: p.d.conn.NewOutbox()}
}

// turnPresenter is the presenter of one turn (see presenter.turn).
type turnPresenter struct {
	*presenter
	out *rpc.Outbox
	// shown are the tool calls this turn showed (tool_call); those of them
	// still unfinished when it ends are marked failed (end).
	shown []string
}

func (t *turnPresenter) ToolUse(u backends.ToolUse) {
	t.shown = append(t.shown, u.ID)
	t.presenter.ToolUse(u)
}

// end is called as the turn's reply is written, on the goroutine that
// wrote its events (or, for a prompt that never ran, on one that wrote
// none: shown is empty then, and the presenter's maps are not touched). A
// tool call the turn ended without finishing (cancelled while it ran or
// waited for a permission answer, a backend that failed) is marked
// failed: ACP has no later update for it, and a client would show it
// pending for good.
func (t *turnPresenter) end() {
	for _, id := range t.shown {
		if _, open := t.tools[id]; open {
			delete(t.tools, id)
			t.unended(id)
		}
	}
	t.shown = nil
}

func (t *turnPresenter) Token(text string)    { t.chunk(t.message, text) }
func (t *turnPresenter) Thinking(text string) { t.chunk(t.thought, text) }

func (t *turnPresenter) chunk(kind *rpc.TextKind, text string) {
	if err := t.out.Text(kind, text); err != nil {
		t.d.log.Debug("notify", "err", err)
	}
}

// Outside a turn (a backend that streams while it starts) chunks go out
// one by one on the connection.
func (p *presenter) Token(text string)    { p.turn().Token(text) }
func (p *presenter) Thinking(text string) { p.turn().Thinking(text) }

// update is the params of session/update. Update is one of the schema's
// variant structs with its SessionUpdate member set, marshalled as it is:
// the schema's union type would marshal it twice through a map, turning
// numbers in rawInput into floats.
type update struct {
	SessionID string `json:"sessionId"`
	Update    any    `json:"update"`
}

func (p *presenter) notify(u any) { p.d.notify(p.sessionID, u) }

// Status has no ACP update: a prompt's reply says how it ended, and a
// backend that failed to start fails the next prompt.
func (p *presenter) Status(sessions.Status) {}

func (p *presenter) ToolUse(u backends.ToolUse) {
	if len(p.tools) >= maxTools {
		clear(p.tools)
	}
	p.tools[u.ID] = u
	call := toolCall(u)
	p.notify(schema.SessionUpdateToolCall{
		SessionUpdate: "tool_call",
		ToolCallId:    call.ToolCallId,
		Title:         *call.Title,
		Kind:          *call.Kind,
		Status:        schema.ToolCallStatusPending,
		RawInput:      call.RawInput,
		Locations:     call.Locations,
		Content:       call.Content,
	})
}

// toolCall shows a tool call as ACP's tool_call and permission requests
// do. A backend that says no kind or title gets "other" and the tool's
// name.
func toolCall(u backends.ToolUse) schema.ToolCallUpdate {
	kind := toolKind(u.Kind)
	title := u.Title
	if title == "" {
		title = u.Name
	}
	call := schema.ToolCallUpdate{
		ToolCallId: schema.ToolCallId(u.ID),
		Title:      &title,
		Kind:       &kind,
		RawInput:   rawJSON(u.Input),
	}
	for _, l := range u.Locations {
		loc := schema.ToolCallLocation{Path: l.Path}
		if l.Line > 0 {
			loc.Line = ptr(l.Line)
		}
		call.Locations = append(call.Locations, loc)
	}
	for _, diff := range u.Diffs {
		call.Content = append(call.Content, schema.ToolCallContent{Diff: &schema.ToolCallContentDiff{
			Type: "diff", Path: diff.Path, OldText: diff.OldText, NewText: diff.NewText,
		}})
	}
	return call
}

// toolKind is kind when ACP has it, else "other". ACP clients drop a
// kind they do not know (the TypeScript SDK's schema does, silently), and
// a backend may pass on another agent's.
func toolKind(kind string) schema.ToolKind {
	switch k := schema.ToolKind(kind); k {
	case schema.ToolKindRead, schema.ToolKindEdit, schema.ToolKindDelete, schema.ToolKindMove,
		schema.ToolKindSearch, schema.ToolKindExecute, schema.ToolKindThink, schema.ToolKindFetch,
		schema.ToolKindSwitchMode:
		return k
	}
	return schema.ToolKindOther
}

// rawJSON passes raw on as it is when it is JSON, as a JSON string when it
// is not (a model's broken tool arguments), and not at all when empty.
func rawJSON(raw json.RawMessage) any {
	switch {
	case len(raw) == 0:
		return nil
	case json.Valid(raw):
		return raw
	}
	return string(raw)
}

func (p *presenter) ToolResult(r backends.ToolResult) {
	delete(p.tools, r.ID)
	for req, id := range p.asked {
		if string(id) == r.ID {
			delete(p.asked, req)
		}
	}
	status := schema.ToolCallStatusCompleted
	if r.IsError {
		status = schema.ToolCallStatusFailed
	}
	u := schema.SessionToolCallUpdate{
		SessionUpdate: "tool_call_update",
		ToolCallId:    schema.ToolCallId(r.ID),
		Status:        &status,
		RawOutput:     rawJSON(r.Output),
	}
	if r.Summary != "" {
		u.Content = []schema.ToolCallContent{schema.ToolContent(schema.TextBlock(r.Summary))}
	}
	p.notify(u)
}

func (p *presenter) Plan(entries []backends.PlanEntry) {
	u := schema.SessionUpdatePlan{SessionUpdate: "plan", Entries: make([]schema.PlanEntry, 0, len(entries))}
	for _, e := range entries {
		u.Entries = append(u.Entries, schema.PlanEntry{Content: e.Content, Priority: planPriority(e.Priority), Status: planStatus(e.Status)})
	}
	p.notify(u)
}

// planPriority is priority when ACP has it, else medium: a plan entry
// with another fails ACP's schema, and the client drops the entry (the
// TypeScript SDK shows the plan without it).
func planPriority(priority string) schema.PlanEntryPriority {
	switch p := schema.PlanEntryPriority(priority); p {
	case schema.PlanEntryPriorityHigh, schema.PlanEntryPriorityMedium, schema.PlanEntryPriorityLow:
		return p
	}
	return schema.PlanEntryPriorityMedium
}

// planStatus is status when ACP has it, else pending (as planPriority).
func planStatus(status string) schema.PlanEntryStatus {
	switch s := schema.PlanEntryStatus(status); s {
	case schema.PlanEntryStatusPending, schema.PlanEntryStatusInProgress, schema.PlanEntryStatusCompleted:
		return s
	}
	return schema.PlanEntryStatusPending
}

func (p *presenter) Usage(c backends.ContextUsage) {
	u := schema.SessionUsageUpdate{SessionUpdate: "usage_update", Used: int(c.Used), Size: int(c.Size)}
	if c.CostUSD > 0 {
		u.Cost = &schema.Cost{Amount: c.CostUSD, Currency: "USD"}
	}
	p.notify(u)
}

func (p *presenter) Commands(cmds []backends.Command) {
	u := schema.SessionAvailableCommandsUpdate{
		SessionUpdate:     "available_commands_update",
		AvailableCommands: make([]schema.AvailableCommand, 0, len(cmds)),
	}
	for _, c := range cmds {
		cmd := schema.AvailableCommand{Name: c.Name, Description: c.Description}
		if c.Hint != "" {
			cmd.Input = &schema.AvailableCommandInput{Unstructured: &schema.UnstructuredCommandInput{Hint: c.Hint}}
		}
		u.AvailableCommands = append(u.AvailableCommands, cmd)
	}
	p.notify(u)
}

func (p *presenter) PermissionRequested(r sessions.PermissionRequest) {
	u, ok := p.tools[r.ToolUseID]
	if !ok {
		u = backends.ToolUse{ID: r.ToolUseID, Name: r.ToolName, Input: r.ToolInput}
	}
	call := toolCall(u)
	if call.ToolCallId == "" {
		// A request for no tool call shown: its own id stands in.
		call.ToolCallId = schema.ToolCallId(r.ID)
	}
	call.Status = ptr(schema.ToolCallStatusPending)
	if len(p.asked) >= maxTools {
		clear(p.asked)
	}
	p.asked[r.ID] = call.ToolCallId
	p.d.askPermission(p.sessionID, r, call)
}

// PermissionWithdrawn cancels the request (the client gets
// $/cancel_request) and marks its tool call failed: the tool was denied
// and does not run, and ACP's tool calls have no "cancelled" status, so a
// client would otherwise show it pending for good.
func (p *presenter) PermissionWithdrawn(requestID, reason string) {
	p.d.withdrawPermission(requestID)
	id, ok := p.asked[requestID]
	if !ok {
		return
	}
	delete(p.asked, requestID)
	delete(p.tools, string(id))
	p.notify(schema.SessionToolCallUpdate{
		SessionUpdate: "tool_call_update",
		ToolCallId:    id,
		Status:        ptr(schema.ToolCallStatusFailed),
		Content:       []schema.ToolCallContent{schema.ToolContent(schema.TextBlock("not run: the permission request was withdrawn (" + reason + ")"))},
	})
}

// unended marks tool call id failed: its turn ended before it finished.
func (p *presenter) unended(id string) {
	p.notify(schema.SessionToolCallUpdate{
		SessionUpdate: "tool_call_update",
		ToolCallId:    schema.ToolCallId(id),
		Status:        ptr(schema.ToolCallStatusFailed),
		Content:       []schema.ToolCallContent{schema.ToolContent(schema.TextBlock("not finished: the turn ended first"))},
	})
}

// errNoEditorTools is CallTool's error: ACP sessions declare no tools of
// the editor's, so no backend should call one.
var errNoEditorTools = errors.New("ACP clients run no tools for the agent")

func (p *presenter) CallTool(context.Context, backends.ToolCall) (backends.ToolCallResult, error) {
	return backends.ToolCallResult{}, errNoEditorTools
}
