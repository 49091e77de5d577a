package backends

import (
	"context"
	"encoding/json"
)

// Sink receives the events of one turn. Its methods are called only from
// the goroutine running Conn.Query, and none of them waits for the editor,
// except CallTool, which is a round trip by nature.
type Sink interface {
	// Token is streamed answer text; Thinking streamed reasoning.
	Token(text string)
	Thinking(text string)
	// ToolUse reports a tool the agent calls; ToolResult its outcome.
	ToolUse(ToolUse)
	ToolResult(ToolResult)
	// Plan reports the agent's plan (Claude's TodoWrite), whole each time.
	Plan([]PlanEntry)
	// Usage reports how full the context window is, during or after a turn.
	Usage(ContextUsage)
	// Commands reports the slash commands the agent offers.
	Commands([]Command)
	// Progress reports what the agent is doing while no text flows
	// (retrying the API, compacting the conversation).
	Progress(detail string)
	// AskPermission forwards a permission request to the editor and returns
	// at once. Exactly one Decision arrives on the returned Permission: the
	// editor's answer, an allow remembered earlier in the session, or a deny
	// when the request is withdrawn (turn cancelled or ended, session
	// closed, editor gone). A backend must not run the tool before it has an
	// allow.
	AskPermission(req PermissionRequest) Permission
	// WithdrawPermission tells the editor a request is no longer wanted
	// (the agent cancelled it). Its Decision channel then yields a deny.
	WithdrawPermission(requestID, reason string)
	// CallTool asks the editor to run a tool it declared, and waits for the
	// answer or ctx.
	CallTool(ctx context.Context, call ToolCall) (ToolCallResult, error)
}

// Tool kinds, as ACP names them; a dialect may show an icon per kind.
const (
	KindRead       = "read"
	KindEdit       = "edit"
	KindDelete     = "delete"
	KindMove       = "move"
	KindSearch     = "search"
	KindExecute    = "execute"
	KindThink      = "think"
	KindFetch      = "fetch"
	KindSwitchMode = "switch_mode"
	KindOther      = "other"
)

// ToolUse is a tool call of the agent. ID, Name and Input are always set;
// the rest is what the backend knows to show it well.
type ToolUse struct {
	ID    string
	Name  string
	Input json.RawMessage
	// Kind is one of the Kind constants; Title a short human line ("Read
	// src/main.go", the command line of a Bash call).
	Kind  string
	Title string
	// Locations are the files the call touches; Diffs the edits it
	// proposes.
	Locations []Location
	Diffs     []Diff
}

// Location is a file a tool call touches (absolute path; line 1-based, 0
// for none).
type Location struct {
	Path string
	Line int
}

// Diff is an edit a tool call makes to one file. OldText is nil for a new
// file.
type Diff struct {
	Path    string
	OldText *string
	NewText string
}

// ToolResult is the outcome of a tool call.
type ToolResult struct {
	ID   string
	Name string
	// Summary is one line for the user ("Read main.go (120 lines)").
	Summary string
	IsError bool
	// Output is the tool's raw output where the backend has it (JSON), for
	// dialects that pass it on.
	Output json.RawMessage
}

// PlanEntry is one step of the agent's plan.
type PlanEntry struct {
	Content  string
	Priority string // high, medium, low
	Status   string // pending, in_progress, completed
}

// ContextUsage says how full the session's context window is.
type ContextUsage struct {
	Used    int64   // tokens in the context
	Size    int64   // the window's size, 0 if unknown
	CostUSD float64 // the session's cost so far, 0 if unknown
}

// Command is a slash command the agent offers.
type Command struct {
	Name        string // without the slash
	Description string
	Hint        string // what to type after it, if it takes input
}

// PermissionRequest is an agent asking to run a tool.
type PermissionRequest struct {
	ToolName  string
	ToolInput json.RawMessage
	ToolUseID string
	// Rule is what "always allow" adds for the rest of the session, as the
	// user sees it, in the syntax of package permissions ("Bash(ls:*)",
	// `Edit({"file":"a.go"})`). Empty: the session makes it with
	// permissions.For. With AgentRemembers it is the agent's own rule, in
	// the agent's syntax, shown as it is.
	Rule string
	// AgentRemembers is set when the agent applies remembered rules itself
	// (the Claude CLI's session rules): the session then never answers from
	// its own memory, and only passes Remember on.
	AgentRemembers bool
	// Suggestions are backend-specific permission updates (the Claude
	// CLI's permission_suggestions), passed through as they are.
	Suggestions json.RawMessage
}

// Permission is a pending permission request: its id on the wire, and the
// channel its one Decision arrives on (buffered: nobody blocks sending it).
type Permission struct {
	ID       string
	Decision <-chan Decision
}

// Decision answers a permission request.
type Decision struct {
	Allow bool
	// Reason is the editor's reason for a deny, or why the request was
	// withdrawn.
	Reason string
	// Remember is set when the editor chose "always": the request's Rule
	// holds for the rest of the session.
	Remember bool
	// Withdrawn is set on the deny of a request nobody answered: it was
	// withdrawn (turn cancelled or ended, session closed, editor gone).
	// A backend whose agent tells "cancelled" from "rejected" (ACP) says
	// so.
	Withdrawn bool
	// CancelTurn is set on the deny of an editor that answered "the user
	// cancelled the turn" (ACP's "cancelled" outcome, which its clients
	// send after session/cancel): the session ends the turn "cancelled"
	// before the backend hears the deny, so the turn never ends otherwise
	// however its cancel and this answer race.
	CancelTurn bool
}

// ToolCall is a call of an editor-declared tool.
type ToolCall struct {
	ToolUseID string
	Name      string
	Arguments json.RawMessage
}

// ToolCallResult is the editor's answer to a ToolCall.
type ToolCallResult struct {
	Content string
	IsError bool
}
