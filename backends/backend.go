// Package backends defines the seam between a session and the agent behind
// it; the agents live in their own packages (mock, claude, openai).
//
// A [Backend] is a kind of agent, shared by every session. [Backend.Open]
// makes one [Conn] for one session: a long-lived CLI process, an HTTP client
// with the session's history, or the mock's script runner. The session's
// actor owns the Conn exclusively: it runs one [Conn.Query] at a time and
// calls [Conn.Close] once, after the last query has returned. Events go out
// through a [Sink]. Nothing here knows a wire dialect: the types are the
// domain's, and each dialect turns them into its own messages.
package backends

import (
	"context"
	"encoding/json"
	"errors"
)

// ErrUnavailable means a backend cannot be used on this machine (no CLI, no
// API key). Errors wrapping it carry a hint on how to make it available.
var ErrUnavailable = errors.New("backend unavailable")

// ErrFailed means the backend failed a turn or could not start. Errors
// wrapping it carry the backend's own message; the session stays usable.
var ErrFailed = errors.New("backend failed")

// ErrAuthRequired means the agent is not logged in; the error says how to
// log in. It wraps ErrFailed too.
var ErrAuthRequired = errors.New("not logged in")

// ErrUnsupported means a prompt or option asks for something this backend
// cannot do (an image for a text-only model, MCP servers for a backend
// without tools). The error names what and which backend.
var ErrUnsupported = errors.New("not supported by this backend")

// Backend is one kind of agent. Implementations are safe for concurrent use:
// every session opens its own Conn from the same Backend.
type Backend interface {
	// Name is the name clients select the backend by ("mock", "claude", ...).
	Name() string
	// Available reports whether Open can work here, and a detail for the
	// user: what will be used, or how to make it available. It is cheap
	// (no network): dialects call it on their read loop.
	Available() (ok bool, detail string)
	// Info describes what sessions of the backend can choose and send.
	Info() Info
	// Open starts one session's connection. It returns an error wrapping
	// ErrUnavailable or ErrFailed when it cannot.
	Open(ctx context.Context, opts Options) (Conn, error)
}

// Info describes a backend's choices and capabilities, for a dialect to
// offer (ACP's config options and prompt capabilities).
type Info struct {
	// Models and Modes are the values a session may choose; the first is
	// the default. A backend that takes any model name (openai) lists the
	// configured one.
	Models []Choice
	Modes  []Choice
	// Images: prompts may carry images. MCPServers: sessions may be given
	// MCP servers.
	Images     bool
	MCPServers bool
	// Processes: every session holds a child process (a CLI), counted
	// against the process limit and stopped when idle; its Conn should be
	// a Suspender. A backend whose sessions share one process (an ACP
	// agent) counts each session attached to it as one: Suspend lets go
	// of the shared process, and the last session to let go stops it.
	Processes bool
	// LoggedIn says whether the agent looks logged in (credentials found),
	// for backends that need a login; nil when that does not apply or
	// cannot be told.
	LoggedIn *bool
}

// Choice is one value of a model or mode choice.
type Choice struct {
	ID          string
	Name        string
	Description string
}

// Options are fixed when a session is created.
type Options struct {
	SessionID string
	Model     string
	// PermissionMode is the session's mode (the Claude CLI's permission
	// modes: default, acceptEdits, plan, bypassPermissions, ...).
	PermissionMode string
	Cwd            string
	SystemPrompt   string
	MaxTurns       int
	// Tools are tools the editor declares and runs (see Sink.CallTool).
	Tools []Tool
	// MCPServers are MCP servers the agent may use.
	MCPServers []MCPServer
	// Backend-specific options; a backend that has no use for one ignores
	// it. AppendSystemPrompt is added to the agent's own system prompt;
	// AllowedTools and DisallowedTools are permission rules
	// ("Bash(git log:*)"); Resume continues an earlier conversation of the
	// agent (its backend session id).
	AppendSystemPrompt string
	AllowedTools       []string
	DisallowedTools    []string
	Resume             string
	// History, when set, is where a backend that keeps the conversation
	// itself (openai) keeps it, so that it outlives the process: Open
	// loads it, and every turn appends its messages. nil: memory only.
	History History
}

// History is a session's stored conversation, for backends whose agent
// keeps none (the Chat Completions API is stateless): the messages, in
// the backend's own JSON, that the next request must carry. The store is
// the history; what a Conn holds in memory is a cache of it. The session
// gives one to the backend in [Options]; backends never see the store.
type History interface {
	// Load returns the messages appended so far, oldest first.
	Load() ([]json.RawMessage, error)
	// Append adds messages after the others, all or none.
	Append(msgs ...json.RawMessage) error
}

// Tool is a tool the editor declares and runs itself.
type Tool struct {
	Name        string
	Description string
	Parameters  []byte // a JSON Schema, or nil
}

// MCPServer is an MCP server the agent may start (stdio) or reach (http,
// sse).
type MCPServer struct {
	Name    string
	Type    string // "stdio" (or empty), "http", "sse"
	Command string
	Args    []string
	Env     []KeyValue
	URL     string
	Headers []KeyValue
}

// KeyValue is one environment variable or header.
type KeyValue struct {
	Name  string
	Value string
}

// Turn is one prompt of a session. Model and PermissionMode are the values
// this turn asks for; a backend that can switch them on a live connection
// does so, one that cannot ignores them.
type Turn struct {
	Prompt         []Content
	Model          string
	PermissionMode string
}

// Stop reasons of a turn.
const (
	StopEndTurn   = "end_turn"
	StopCancelled = "cancelled"
	StopMaxTurns  = "max_turns"
	StopMaxTokens = "max_tokens"
	StopRefusal   = "refusal"
)

// Result is what a backend reports when a turn ends. The assistant text is
// not here: the session assembles it from the tokens it was sent, so the two
// cannot disagree.
type Result struct {
	StopReason       string
	Usage            Usage
	CostUSD          float64
	NumTurns         int
	BackendSessionID string
}

// Usage counts the tokens of a turn.
type Usage struct {
	InputTokens      int64
	OutputTokens     int64
	CacheReadTokens  int64
	CacheWriteTokens int64
}

// Add adds u2 to u.
func (u *Usage) Add(u2 Usage) {
	u.InputTokens += u2.InputTokens
	u.OutputTokens += u2.OutputTokens
	u.CacheReadTokens += u2.CacheReadTokens
	u.CacheWriteTokens += u2.CacheWriteTokens
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
	// returns when every goroutine and process it started has ended. When
	// ctx ends first it stops at once (SIGKILL) and still waits.
	Close(ctx context.Context) error
}

// Suspender is a Conn that holds a process it can stop while the session
// is idle and start again, resuming the conversation, at the next Query.
type Suspender interface {
	// Suspend stops the process, keeping what the next Query needs to
	// resume. ctx bounds the stop as for Close.
	Suspend(ctx context.Context) error
	// Running reports whether a process is live.
	Running() bool
}

// Spares is a Backend that keeps processes started ahead of the sessions
// that will use them (--claude-spare). They count against the process
// limit, and the registry may stop one to free a slot for a session.
type Spares interface {
	// SpareProcesses reports how many spare processes are alive.
	SpareProcesses() int
	// StopSpare stops one, and reports false when there is none.
	StopSpare(ctx context.Context) bool
}

// Closer is a Backend that holds processes of its own (spares), to be
// stopped when Tether shuts down, after every session. When ctx ends it
// kills rather than waits, and still returns only when they are gone.
type Closer interface {
	Close(ctx context.Context) error
}
