package acpagent

import (
	"context"
	"encoding/json"
	"sync"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/rpc"
)

// route is one agent session on one process: where the process's read
// loop hands what the agent says of that session. Between turns it keeps
// what outlives a turn (slash commands, config options, cost) and drops
// the rest (a session/load's replay); during a turn it hands everything to
// the turn's goroutine through the turn's feed, waiting while the turn is
// behind: that wait is the back-pressure that slows a flooding agent down
// to what the editor reads.
type route struct {
	id string

	mu   sync.Mutex // guards the fields below
	feed *feed      // the running turn's; nil between turns
	// commands are the agent's slash commands; reported says whether a
	// turn has passed them on since they last changed.
	commands []backends.Command
	reported bool
	// configOptions and modes are the session's, as the agent last said.
	configOptions []schema.SessionConfigOption
	modes         *schema.SessionModeState
	// costUSD is the session's cumulative cost, from usage_update.
	costUSD float64
}

func newRoute(id string) *route { return &route{id: id} }

// feed carries one turn's events from the read loop to the turn.
type feed struct {
	events chan event
	done   chan struct{} // closed when the turn takes no more events
}

// feedSize is how far the read loop may run ahead of a turn.
const feedSize = 256

// eventKind says what an event is.
type eventKind int

const (
	evToken eventKind = iota
	evThinking
	evToolCall       // update is *wireToolCall
	evToolCallUpdate // update is *wireToolCall
	evPlan           // update is *schema.SessionUpdatePlan
	evCommands       // the route's commands changed
	evUsage          // usage is set
	evPermission     // ask is set
	evNotice         // text says what happened (a line that is not ACP)
)

// event is one thing the agent said during a turn, decoded on the read
// loop.
type event struct {
	kind   eventKind
	text   string
	update any
	usage  backends.ContextUsage
	ask    *permissionAsk
}

// permissionAsk is a session/request_permission from the agent, to be
// answered exactly once through req.
type permissionAsk struct {
	req    *rpc.Request
	ctx    context.Context // ends when the agent withdraws it ($/cancel_request)
	params permissionParams
}

// startTurn makes the turn's feed; until endTurn, the route's events go
// there.
func (r *route) startTurn() *feed {
	f := &feed{events: make(chan event, feedSize), done: make(chan struct{})}
	r.mu.Lock()
	r.feed = f
	r.mu.Unlock()
	return f
}

// endTurn stops the feed: the read loop no longer waits for the turn.
func (r *route) endTurn(f *feed) {
	r.mu.Lock()
	if r.feed == f {
		r.feed = nil
	}
	r.mu.Unlock()
	close(f.done)
}

// deliver hands ev to the running turn, waiting while its feed is full;
// false when no turn runs (or it ended meanwhile).
func (r *route) deliver(ev event) bool {
	r.mu.Lock()
	f := r.feed
	r.mu.Unlock()
	if f == nil {
		return false
	}
	select {
	case f.events <- ev:
		return true
	case <-f.done:
		return false
	}
}

// notice tells the running turn, if any, of something that went wrong
// with the agent's output.
func (r *route) notice(detail string) { r.deliver(event{kind: evNotice, text: detail}) }

// The handlers below run on the process's rpc read loop, in the order the
// agent wrote its messages.

// updateHead is the part of session/update's params every update has: the
// session, the update's kind and, for chunks, a content block (a list for
// tool calls: kept raw, decoded by kind).
type updateHead struct {
	SessionID string `json:"sessionId"`
	Update    struct {
		Kind    string          `json:"sessionUpdate"`
		Content json.RawMessage `json:"content"`
	} `json:"update"`
}

// updateOf is session/update's params with the update decoded as T.
type updateOf[T any] struct {
	Update T `json:"update"`
}

// textContent is a content block's type and, for text, its text.
type textContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
	URI  string `json:"uri"`
	Name string `json:"name"`
}

// onUpdate handles session/update. Text chunks, the hot path, are read by
// chunkOf; anything else is decoded once into what every update has, and
// then again into its kind's own type.
func (p *process) onUpdate(_ context.Context, req *rpc.Request) {
	if c, ok := chunkOf(req.Params); ok {
		if r := p.route(c.sessionID, false); r != nil && c.text != "" {
			ek := evToken
			if c.thought {
				ek = evThinking
			}
			r.deliver(event{kind: ek, text: c.text})
		}
		return
	}
	var head updateHead
	if err := json.Unmarshal(req.Params, &head); err != nil {
		p.log.Warn("agent sent a session/update that does not decode; ignored", "params", truncate(string(req.Params), 300), "err", err)
		return
	}
	id, kind := head.SessionID, head.Update.Kind
	switch kind {
	case "agent_message_chunk", "agent_thought_chunk":
		r := p.route(id, false)
		if r == nil {
			return
		}
		var c textContent
		if err := json.Unmarshal(head.Update.Content, &c); err != nil {
			p.log.Warn("agent sent a chunk whose content does not decode; ignored", "session", id, "err", err)
			return
		}
		text := chunkText(c)
		if text == "" {
			return
		}
		ek := evToken
		if kind == "agent_thought_chunk" {
			ek = evThinking
		}
		r.deliver(event{kind: ek, text: text})
	case "tool_call", "tool_call_update":
		u, ok := decodeUpdate[wireToolCall](p, req, id, kind)
		r := p.route(id, false)
		if !ok || r == nil {
			return
		}
		ek := evToolCall
		if kind == "tool_call_update" {
			ek = evToolCallUpdate
		}
		r.deliver(event{kind: ek, update: u})
	case "plan":
		u, ok := decodeUpdate[schema.SessionUpdatePlan](p, req, id, kind)
		if r := p.route(id, false); ok && r != nil {
			r.deliver(event{kind: evPlan, update: u})
		}
	case "available_commands_update":
		u, ok := decodeUpdate[schema.SessionAvailableCommandsUpdate](p, req, id, kind)
		r := p.route(id, true)
		if !ok || r == nil {
			return
		}
		r.mu.Lock()
		r.commands, r.reported = commands(u.AvailableCommands), false
		r.mu.Unlock()
		r.deliver(event{kind: evCommands})
	case "usage_update":
		u, ok := decodeUpdate[schema.SessionUsageUpdate](p, req, id, kind)
		r := p.route(id, true)
		if !ok || r == nil {
			return
		}
		usage := backends.ContextUsage{Used: int64(u.Used), Size: int64(u.Size)}
		if u.Cost != nil && u.Cost.Currency == "USD" {
			usage.CostUSD = u.Cost.Amount
			r.mu.Lock()
			r.costUSD = u.Cost.Amount
			r.mu.Unlock()
		}
		r.deliver(event{kind: evUsage, usage: usage})
	case "config_option_update":
		u, ok := decodeUpdate[schema.SessionConfigOptionUpdate](p, req, id, kind)
		if !ok {
			return
		}
		if r := p.route(id, true); r != nil {
			r.mu.Lock()
			r.configOptions = u.ConfigOptions
			r.mu.Unlock()
		}
		p.h.learned.options(u.ConfigOptions, nil)
	case "current_mode_update":
		u, ok := decodeUpdate[schema.SessionCurrentModeUpdate](p, req, id, kind)
		if !ok {
			return
		}
		if r := p.route(id, true); r != nil {
			r.mu.Lock()
			if r.modes != nil {
				r.modes.CurrentModeId = u.CurrentModeId
			}
			r.mu.Unlock()
		}
	default:
		// user_message_chunk (a session/load's replay), session_info_update
		// (a title), and kinds newer than this code: nothing to pass on.
		p.log.Debug("agent update not passed on", "kind", kind, "session", id)
	}
}

// decodeUpdate decodes the update of session/update's params as T, and
// logs one that does not decode.
func decodeUpdate[T any](p *process, req *rpc.Request, id, kind string) (*T, bool) {
	var u updateOf[T]
	if err := json.Unmarshal(req.Params, &u); err != nil {
		p.log.Warn("agent sent an update that does not decode; ignored", "kind", kind, "session", id, "err", err)
		return nil, false
	}
	return &u.Update, true
}

// onPermission handles session/request_permission: the running turn of
// the session asks the editor; with no turn running nobody can answer, so
// it is answered cancelled at once.
func (p *process) onPermission(ctx context.Context, req *rpc.Request) {
	var params permissionParams
	if err := json.Unmarshal(req.Params, &params); err != nil {
		req.Reply(nil, rpc.NewError(rpc.CodeInvalidParams, "invalid params: "+err.Error(), nil))
		return
	}
	r := p.route(params.SessionID, false)
	if r == nil || !r.deliver(event{kind: evPermission, ask: &permissionAsk{req: req, ctx: ctx, params: params}}) {
		p.log.Info("permission request outside a turn; answered cancelled", "session", params.SessionID)
		req.Reply(cancelledOutcome(), nil)
	}
}

// cancelledOutcome is the answer to a permission request nobody will
// decide.
func cancelledOutcome() schema.RequestPermissionResponse {
	return schema.RequestPermissionResponse{Outcome: schema.NewRequestPermissionOutcomeCancelled()}
}

// chunkText is what a message chunk's content block shows as text: its
// text, or a Markdown link for a resource link; images, audio and embedded
// resources are left out.
func chunkText(c textContent) string {
	switch c.Type {
	case "text":
		return c.Text
	case "resource_link":
		if c.URI == "" {
			return ""
		}
		return backends.PromptText([]backends.Content{{Type: backends.ContentResourceLink, URI: c.URI, Name: c.Name}})
	}
	return ""
}

// commands turns the agent's slash commands into the backends'.
func commands(list []schema.AvailableCommand) []backends.Command {
	out := make([]backends.Command, 0, len(list))
	for _, c := range list {
		cmd := backends.Command{Name: c.Name, Description: c.Description}
		if c.Input != nil && c.Input.Unstructured != nil {
			cmd.Hint = c.Input.Unstructured.Hint
		}
		out = append(out, cmd)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
