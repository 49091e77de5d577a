// Package backends defines the seam between a session and the agent behind
// it, and holds the agents themselves (mock here; claude and openai in their
// own packages).
//
// A [Backend] is a kind of agent, shared by every session. [Backend.Open]
// makes one [Conn] for one session: a long-lived CLI process, an HTTP client
// with the session's history, or the mock's script runner. The session's
// actor owns the Conn exclusively: it runs one [Conn.Query] at a time and
// calls [Conn.Close] once, after the last query has returned. Nothing in this
// package knows about JSON-RPC; events go out through a [Sink].
package backends

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/tether-dev/tether/protocol"
)

// ErrUnavailable means a backend cannot be used on this machine (no CLI, no
// API key). Errors wrapping it carry a hint on how to make it available.
var ErrUnavailable = errors.New("backend unavailable")

// ErrFailed means the backend failed a turn or could not start. Errors
// wrapping it carry the backend's own message; the session stays usable.
var ErrFailed = errors.New("backend failed")

// Backend is one kind of agent. Implementations are safe for concurrent use:
// every session opens its own Conn from the same Backend.
type Backend interface {
	// Name is the name clients select the backend by ("mock", "claude", ...).
	Name() string
	// Available reports whether Open can work here, and a detail for the
	// user: what will be used, or how to make it available.
	Available() (ok bool, detail string)
	// Open starts one session's connection. It returns an error wrapping
	// ErrUnavailable or ErrFailed when it cannot.
	Open(ctx context.Context, opts Options) (Conn, error)
}

// Options are fixed when a session is created.
type Options struct {
	SessionID      string
	Model          string
	Cwd            string
	SystemPrompt   string
	PermissionMode string
	MaxTurns       int
	Tools          []protocol.Tool
	// Backend-specific options (see protocol.QueryParams); a backend that
	// has no use for one ignores it.
	AppendSystemPrompt string
	AllowedTools       []string
	DisallowedTools    []string
	Resume             string
}

// Turn is one query of a session. Model and PermissionMode are the values
// this query asks for; a backend that can switch them on a live connection
// does so, one that cannot ignores them.
type Turn struct {
	Prompt         string
	Model          string
	PermissionMode string
}

// Result is what a backend reports when a turn ends. The assistant text is
// not here: the session assembles it from the tokens it was sent, so the two
// cannot disagree.
type Result struct {
	StopReason       string
	Usage            protocol.Usage
	CostUSD          float64
	NumTurns         int
	BackendSessionID string
}

// Conn is one session's connection to its agent. It is owned by the
// session's actor and is not safe for concurrent use, except that Close may
// be called while no Query runs.
type Conn interface {
	// Query runs one turn and returns when it ends. Events of the turn go to
	// sink, from the goroutine that called Query. When ctx is cancelled the
	// backend stops the turn (interrupt the CLI, abort the HTTP stream) and
	// returns promptly with StopReason "cancelled"; the Conn stays usable.
	// A failed turn returns an error wrapping ErrFailed.
	Query(ctx context.Context, turn Turn, sink Sink) (Result, error)
	// Close stops the connection and releases everything it holds; it
	// returns when every goroutine and process it started has ended.
	Close() error
}

// Sink receives the events of one turn. Its methods are called only from
// the goroutine running Conn.Query, and none of them waits for the editor,
// except CallTool, which is a round trip by nature.
type Sink interface {
	Token(text string)
	Thinking(text string)
	ToolUse(toolUseID, toolName string, input json.RawMessage)
	ToolResult(toolUseID, toolName, summary string, isError bool)
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
	CallTool(ctx context.Context, call ToolCall) (protocol.ToolCallResult, error)
}

// PermissionRequest is an agent asking to run a tool.
type PermissionRequest struct {
	ToolName  string
	ToolInput json.RawMessage
	ToolUseID string
	// Suggestions are backend-specific permission updates the editor may
	// offer (the Claude CLI's permission_suggestions), passed through as is.
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
	// Remember is set when the editor allowed the tool for the rest of the
	// session.
	Remember bool
}

// ToolCall is a call of an editor-declared tool.
type ToolCall struct {
	ToolUseID string
	Name      string
	Arguments json.RawMessage
}
