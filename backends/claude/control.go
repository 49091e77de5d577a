package claude

import (
	"encoding/json"
	"fmt"
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
	Behavior           string            `json:"behavior"` // "allow"
	UpdatedInput       json.RawMessage   `json:"updatedInput"`
	UpdatedPermissions []json.RawMessage `json:"updatedPermissions,omitempty"`
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

// sessionRules turns the CLI's permission suggestions into the updates sent
// with an allow the editor asked to remember: only the allow rules, and
// scoped to this session ("destination":"session"). The CLI suggests
// writing rules to the project's settings files, or switching the whole
// session to acceptEdits; Tether's "remember" promises neither.
func sessionRules(suggestions json.RawMessage) []json.RawMessage {
	var list []map[string]any
	if len(suggestions) == 0 || json.Unmarshal(suggestions, &list) != nil {
		return nil
	}
	var out []json.RawMessage
	for _, s := range list {
		if s["type"] != "addRules" || s["behavior"] != "allow" {
			continue
		}
		s["destination"] = "session"
		if b, err := json.Marshal(s); err == nil {
			out = append(out, b)
		}
	}
	return out
}
