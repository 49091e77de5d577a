package sessions

import (
	"context"

	"github.com/tether-dev/tether/backends"
)

// Events is where a session's events go, in order: a dialect implements it
// (its presenter) and turns each event into its own messages. Sessions know
// no wire: this interface is the whole of what they say to the editor.
//
// The events of one session are delivered by one goroutine at a time (the
// turn goroutine while a turn runs, the session's actor otherwise), in the
// order they happened; a turn's events all come before its Reply. Methods
// must not block for long, except CallTool, which is a round trip by
// nature; a presenter that needs the editor's answer to something else (an
// ACP permission request) asks on a goroutine of its own and answers
// through the Registry.
type Events interface {
	// Status reports the session's state, with a detail for the user.
	Status(Status)
	Token(text string)
	Thinking(text string)
	ToolUse(backends.ToolUse)
	ToolResult(backends.ToolResult)
	Plan([]backends.PlanEntry)
	Usage(backends.ContextUsage)
	Commands([]backends.Command)
	// PermissionRequested asks the editor; the answer comes back through
	// Registry.Respond with the request's ID.
	PermissionRequested(PermissionRequest)
	// PermissionWithdrawn says a request can no longer be answered; the
	// agent was told "deny".
	PermissionWithdrawn(requestID, reason string)
	// CallTool asks the editor to run a tool it declared.
	CallTool(ctx context.Context, call backends.ToolCall) (backends.ToolCallResult, error)
}

// Session states, as Status and List report them.
const (
	StateStarting          = "starting"
	StateIdle              = "idle"
	StateBusy              = "busy"
	StateWaitingPermission = "waiting_permission"
	StateFailed            = "failed"
	StateClosed            = "closed"
)

// Status is a session's state and what it is doing.
type Status struct {
	State  string
	Detail string
}

// PermissionRequest is a request waiting for the editor: the id the answer
// must name, and what the agent asks.
type PermissionRequest struct {
	ID string
	backends.PermissionRequest
}

// Reasons a permission request is withdrawn, as the editor is told.
const (
	ReasonCancelled     = "cancelled"
	ReasonTurnEnded     = "turn ended"
	ReasonSessionClosed = "session closed"
	ReasonClientGone    = "client gone"
)
