package acpagent

import (
	"strings"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
)

// permissionParams is session/request_permission's params, with the tool
// call decoded as tool calls are (its raw input kept as written).
type permissionParams struct {
	SessionID string                    `json:"sessionId"`
	ToolCall  wireToolCall              `json:"toolCall"`
	Options   []schema.PermissionOption `json:"options"`
}

// askPermission forwards the agent's permission request to the editor.
// The tool call is shown first if the agent never sent it (or shown again
// if the request refines it). When the agent offers an allow_always
// option it remembers "always" itself: the request says so
// (AgentRemembers), and its rule is what the agent says it will remember.
func (t *turn) askPermission(a *permissionAsk) {
	if t.cancelled {
		a.req.Reply(cancelledOutcome(), nil)
		return
	}
	u := &a.params.ToolCall
	tc := t.tools[u.ToolCallID]
	switch {
	case tc == nil:
		tc = t.newTool(u)
		t.sink.ToolUse(tc.use)
	case !tc.ended && merge(tc, u):
		t.sink.ToolUse(tc.use)
	}
	req := backends.PermissionRequest{ToolName: tc.use.Name, ToolInput: tc.use.Input, ToolUseID: tc.use.ID}
	if always := optionOfKind(a.params.Options, schema.PermissionOptionKindAllowAlways); always != nil {
		req.AgentRemembers = true
		req.Rule = alwaysRule(*always, tc)
	}
	perm := t.sink.AskPermission(req)
	t.pending[perm.ID] = &pendingAsk{ask: a, options: a.params.Options}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		d := decided{id: perm.ID}
		select {
		case d.Decision = <-perm.Decision:
		case <-a.ctx.Done():
			// The agent withdrew it ($/cancel_request), or the
			// connection is gone; if the editor answered just now, the
			// turn has already replied and drops this.
			d.withdrawn = true
		case <-t.done:
			return
		}
		select {
		case t.decided <- d:
		case <-t.done:
		}
	}()
}

// answer maps the editor's decision onto the option the agent offered, and
// answers the agent.
func (t *turn) answer(d decided) {
	pend := t.pending[d.id]
	if pend == nil {
		return // answered already: cancelled, or withdrawn
	}
	delete(t.pending, d.id)
	if d.withdrawn {
		pend.ask.req.Reply(cancelledOutcome(), nil)
		t.sink.WithdrawPermission(d.id, "withdrawn by the agent")
		return
	}
	if d.Withdrawn {
		// Nobody answered (the editor is gone, the turn ended): ACP's
		// outcome for that is "cancelled", not a rejection.
		pend.ask.req.Reply(cancelledOutcome(), nil)
		return
	}
	opt := chooseOption(pend.options, d.Decision)
	if opt == nil {
		t.c.log.Warn("the agent offered no option for the editor's decision; answered cancelled",
			"allow", d.Allow, "remember", d.Remember, "options", optionKinds(pend.options))
		pend.ask.req.Reply(cancelledOutcome(), nil)
		return
	}
	pend.ask.req.Reply(schema.RequestPermissionResponse{Outcome: schema.NewRequestPermissionOutcomeSelected(opt.OptionId)}, nil)
}

// chooseOption is the option that says what the editor decided: allow
// always (when remembered) or once; reject once, or always when the agent
// has no once. nil when the agent offered none that says it: an allow is
// never widened to "always" the editor did not choose.
func chooseOption(options []schema.PermissionOption, d backends.Decision) *schema.PermissionOption {
	var kinds []schema.PermissionOptionKind
	switch {
	case d.Allow && d.Remember:
		kinds = []schema.PermissionOptionKind{schema.PermissionOptionKindAllowAlways, schema.PermissionOptionKindAllowOnce}
	case d.Allow:
		kinds = []schema.PermissionOptionKind{schema.PermissionOptionKindAllowOnce}
	default:
		kinds = []schema.PermissionOptionKind{schema.PermissionOptionKindRejectOnce, schema.PermissionOptionKindRejectAlways}
	}
	for _, k := range kinds {
		if o := optionOfKind(options, k); o != nil {
			return o
		}
	}
	return nil
}

func optionOfKind(options []schema.PermissionOption, kind schema.PermissionOptionKind) *schema.PermissionOption {
	for i := range options {
		if options[i].Kind == kind {
			return &options[i]
		}
	}
	return nil
}

func optionKinds(options []schema.PermissionOption) []string {
	out := make([]string, 0, len(options))
	for _, o := range options {
		out = append(out, string(o.Kind))
	}
	return out
}

// alwaysRule is what the editor is shown "always" remembers: the name the
// agent gave its allow_always option when it says more than "always allow"
// (claude-agent-acp names the rule it adds), else the tool call's title;
// the agent decides what it covers.
func alwaysRule(o schema.PermissionOption, tc *toolCall) string {
	var letters strings.Builder
	for _, r := range strings.ToLower(o.Name) {
		if r >= 'a' && r <= 'z' {
			letters.WriteRune(r)
		}
	}
	switch letters.String() {
	case "", "always", "alwaysallow", "allowalways", "yesalways", "allowalwaysforthissession":
		return subject(tc)
	}
	return o.Name
}
