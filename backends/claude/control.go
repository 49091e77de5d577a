package claude

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tether-dev/tether/permissions"
)

// The control protocol: requests either side sends on the same streams as
// the conversation, each answered by a control_response carrying its
// request_id (research §5).

// Control request subtypes.
const (
	// Tether → CLI
	ctlInitialize        = "initialize"
	ctlInterrupt         = "interrupt"
	ctlSetModel          = "set_model"
	ctlSetPermissionMode = "set_permission_mode"
	// CLI → Tether
	ctlCanUseTool = "can_use_tool"
)

// controlRequestOut is a control request Tether writes.
type controlRequestOut struct {
	Type      string         `json:"type"` // "control_request"
	RequestID string         `json:"request_id"`
	Request   map[string]any `json:"request"`
}

// controlResponse is the response object of a control_response, both ways.
type controlResponse struct {
	Subtype   string          `json:"subtype"` // "success" or "error"
	RequestID string          `json:"request_id"`
	Response  json.RawMessage `json:"response,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// controlResponseOut is a control_response Tether writes.
type controlResponseOut struct {
	Type     string          `json:"type"` // "control_response"
	Response controlResponse `json:"response"`
}

// err is the error of a failed response.
func (r *controlResponse) err() error {
	if r.Subtype == "error" {
		return fmt.Errorf("claude refused the request: %s", r.Error)
	}
	return nil
}

// controlRequestIn is the request of a control_request from the CLI; only
// can_use_tool is read in full.
type controlRequestIn struct {
	Subtype     string          `json:"subtype"`
	ToolName    string          `json:"tool_name"`
	Input       json.RawMessage `json:"input"`
	ToolUseID   string          `json:"tool_use_id"`
	Suggestions json.RawMessage `json:"permission_suggestions"`
}

func (m message) controlRequest() controlRequestIn {
	var req controlRequestIn
	_ = json.Unmarshal(m.Request, &req) // a bad request has no subtype and is refused
	return req
}

// handledInTurn reports whether a control request from the CLI is answered
// by the turn (through the editor). Everything else is refused at once by
// the stdout reader.
func handledInTurn(m message) bool {
	return m.controlRequest().Subtype == ctlCanUseTool
}

// refuseControlRequest answers a control request Tether does not handle
// with an error, the way the SDKs do, so the CLI goes on without it.
func (p *process) refuseControlRequest(m message) {
	subtype := m.controlRequest().Subtype
	p.log.Info("refusing a claude control request Tether does not handle", "subtype", subtype, "request_id", m.RequestID)
	err := p.send(controlResponseOut{Type: typeControlResp, Response: controlResponse{
		Subtype:   "error",
		RequestID: m.RequestID,
		Error:     fmt.Sprintf("Tether does not handle control request %q", subtype),
	}})
	if err != nil {
		p.log.Debug("could not refuse claude control request", "err", err)
	}
}

// sendControlRequest writes a control request with id.
func (p *process) sendControlRequest(id, subtype string, fields map[string]any) error {
	req := map[string]any{"subtype": subtype}
	for k, v := range fields {
		req[k] = v
	}
	if err := p.send(controlRequestOut{Type: typeControlRequest, RequestID: id, Request: req}); err != nil {
		return fmt.Errorf("sending %s: %w", subtype, err)
	}
	return nil
}

// permissionAllow is the can_use_tool answer that lets the tool run.
type permissionAllow struct {
	Behavior           string             `json:"behavior"` // "allow"
	UpdatedInput       json.RawMessage    `json:"updatedInput"`
	UpdatedPermissions []permissionUpdate `json:"updatedPermissions,omitempty"`
}

// permissionUpdate is one of the CLI's PermissionUpdates; Tether sends
// only addRules with behavior allow and destination session.
type permissionUpdate struct {
	Type        string    `json:"type"` // "addRules"
	Rules       []cliRule `json:"rules"`
	Behavior    string    `json:"behavior"`    // "allow"
	Destination string    `json:"destination"` // "session"
}

// cliRule is a rule as the CLI writes it: a tool, and what of its input
// the rule covers in the CLI's own syntax (none: every use).
type cliRule struct {
	ToolName    string `json:"toolName"`
	RuleContent string `json:"ruleContent,omitempty"`
}

// permissionDeny is the can_use_tool answer that refuses it; the model sees
// message as the tool's error and the turn goes on.
type permissionDeny struct {
	Behavior string `json:"behavior"` // "deny"
	Message  string `json:"message"`
}

// answerPermission writes the control_response for can_use_tool request id.
func (p *process) answerPermission(id string, answer any) error {
	body, err := json.Marshal(answer)
	if err != nil {
		return fmt.Errorf("encoding permission answer: %w", err)
	}
	return p.send(controlResponseOut{Type: typeControlResp, Response: controlResponse{
		Subtype: "success", RequestID: id, Response: body,
	}})
}

// permissionSuggestion is the part of the CLI's permission_suggestions
// entries Tether reads.
type permissionSuggestion struct {
	Type     string    `json:"type"`
	Behavior string    `json:"behavior"`
	Rules    []cliRule `json:"rules"`
}

// sessionRule is what "always" adds for a can_use_tool request, from the
// CLI's own permission_suggestions: every rule of its addRules allow
// suggestions, shown as Tool(ruleContent) and joined with ", "; and the
// one update that adds exactly those rules for this session only. The CLI
// also suggests writing rules to the user's or the project's settings
// files (their destination), switching the whole session to acceptEdits
// (setMode) and widening its directories (addDirectories); Tether's
// "always" promises none of those, so it sends none of them. Without an
// allow rule to take, update is nil and rule is "".
func sessionRule(suggestions json.RawMessage) (rule string, update []permissionUpdate) {
	var list []permissionSuggestion
	if len(suggestions) == 0 || json.Unmarshal(suggestions, &list) != nil {
		return "", nil
	}
	var shown []string
	var rules []cliRule
	for _, s := range list {
		if s.Type != "addRules" || s.Behavior != "allow" {
			continue
		}
		for _, r := range s.Rules {
			p, err := permissions.New(r.ToolName, r.RuleContent)
			if err != nil {
				continue // not a rule Tether can show; so it does not send it
			}
			shown = append(shown, p.String())
			rules = append(rules, cliRule{ToolName: r.ToolName, RuleContent: r.RuleContent})
		}
	}
	if len(rules) == 0 {
		return "", nil
	}
	return strings.Join(shown, ", "), []permissionUpdate{{
		Type: "addRules", Rules: rules, Behavior: "allow", Destination: "session",
	}}
}
