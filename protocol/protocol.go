// Package protocol holds the wire types of Tether's JSON-RPC protocol: the
// method names, the params and results of every request, and the params of
// every notification. protocol.md is the prose form of this file; the two
// change together.
//
// The package has no behaviour and no dependencies beyond encoding/json, so
// the server (handlers, sessions) and any Go client share one definition and
// cannot drift apart.
package protocol

import "encoding/json"

// Version is the protocol version reported by initialize.
const Version = "1"

// Requests, client → Tether.
const (
	MethodInitialize        = "initialize"
	MethodSessionQuery      = "session/query"
	MethodSessionOpen       = "session/open"
	MethodSessionCancel     = "session/cancel"
	MethodSessionCleanup    = "session/cleanup"
	MethodSessionList       = "session/list"
	MethodSessionLoad       = "session/load"
	MethodSessionDelete     = "session/delete"
	MethodPermissionRespond = "permission/respond"
	MethodShutdown          = "shutdown"
)

// Notifications, client → Tether.
const (
	MethodCancelRequest = "$/cancelRequest"
	MethodExit          = "exit"
)

// Notifications, Tether → client.
const (
	MethodToken               = "session/token"
	MethodUserMessage         = "session/userMessage"
	MethodThinking            = "session/thinking"
	MethodToolUse             = "session/toolUse"
	MethodToolResult          = "session/toolResult"
	MethodStatus              = "session/status"
	MethodPermissionRequest   = "permission/request"
	MethodPermissionCancelled = "permission/cancelled"
)

// Requests, Tether → client.
const (
	MethodToolCall = "tool/call"
)

// InitializeParams are the params of initialize. Every field is optional.
type InitializeParams struct {
	ClientInfo *ClientInfo     `json:"clientInfo,omitempty"`
	Options    json.RawMessage `json:"options,omitempty"`
}

// ClientInfo names the editor or tool on the other end, for logs.
type ClientInfo struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
}

// InitializeResult is the result of initialize.
type InitializeResult struct {
	ServerInfo      ServerInfo    `json:"serverInfo"`
	ProtocolVersion string        `json:"protocolVersion"`
	Backends        []BackendInfo `json:"backends"`
	DefaultBackend  string        `json:"defaultBackend"`
	// Store says whether sessions are kept across restarts (session/list
	// shows stored ones, session/load replays them, a query brings one
	// back), and if not, why.
	Store StoreInfo `json:"store"`
}

// StoreInfo describes the session store.
type StoreInfo struct {
	Enabled bool `json:"enabled"`
	// Path is the store's file, when enabled.
	Path string `json:"path,omitempty"`
	// Error says why there is no store when one was wanted (the file is
	// corrupt or unreadable); absent when it is off by choice (--no-store).
	Error string `json:"error,omitempty"`
}

// ServerInfo names this Tether build.
type ServerInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// BackendInfo says whether a backend can be used here, and if not, how to
// make it usable.
type BackendInfo struct {
	Name      string `json:"name"`
	Available bool   `json:"available"`
	Detail    string `json:"detail"`
	// LoggedIn says, for a backend that needs a login (claude), whether
	// it looks logged in; absent for the others.
	LoggedIn *bool `json:"loggedIn,omitempty"`
}

// Tool is a tool the editor declares and runs itself (see tool/call).
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// QueryParams are the params of session/query. The first query of an unknown
// sessionId creates the session from the options in it; later queries reuse
// the session.
type QueryParams struct {
	SessionID      string `json:"sessionId"`
	Prompt         string `json:"prompt"`
	Backend        string `json:"backend,omitempty"`
	Model          string `json:"model,omitempty"`
	Cwd            string `json:"cwd,omitempty"`
	SystemPrompt   string `json:"systemPrompt,omitempty"`
	PermissionMode string `json:"permissionMode,omitempty"`
	MaxTurns       int    `json:"maxTurns,omitempty"`
	Tools          []Tool `json:"tools,omitempty"`
	// Options read by the claude backend only (others ignore them).
	// AppendSystemPrompt is added to the agent's own system prompt, where
	// SystemPrompt replaces it. AllowedTools and DisallowedTools are the
	// CLI's permission rules ("Bash(git log:*)", "Edit"). Resume continues
	// an earlier conversation of the agent (a backendSessionId).
	AppendSystemPrompt string   `json:"appendSystemPrompt,omitempty"`
	AllowedTools       []string `json:"allowedTools,omitempty"`
	DisallowedTools    []string `json:"disallowedTools,omitempty"`
	Resume             string   `json:"resume,omitempty"`
}

// Stop reasons of a turn.
const (
	StopEndTurn   = "end_turn"
	StopCancelled = "cancelled"
	StopMaxTurns  = "max_turns"
	StopMaxTokens = "max_tokens"
	StopRefusal   = "refusal"
)

// Usage counts the tokens of a turn.
type Usage struct {
	InputTokens      int64 `json:"inputTokens"`
	OutputTokens     int64 `json:"outputTokens"`
	CacheReadTokens  int64 `json:"cacheReadTokens,omitempty"`
	CacheWriteTokens int64 `json:"cacheWriteTokens,omitempty"`
}

// QueryResult is the result of session/query, sent when the turn ends.
type QueryResult struct {
	SessionID        string  `json:"sessionId"`
	StopReason       string  `json:"stopReason"`
	Text             string  `json:"text"`
	Usage            Usage   `json:"usage"`
	DurationMs       int64   `json:"durationMs"`
	CostUSD          float64 `json:"costUsd,omitempty"`
	NumTurns         int     `json:"numTurns,omitempty"`
	BackendSessionID string  `json:"backendSessionId,omitempty"`
}

// OpenResult is the result of session/open: the session is ready.
type OpenResult struct {
	SessionID string `json:"sessionId"`
	Backend   string `json:"backend"`
}

// SessionParams are the params of session/cancel, session/cleanup,
// session/load and session/delete.
type SessionParams struct {
	SessionID string `json:"sessionId"`
}

// CancelResult is the result of session/cancel: how many queries (running
// and queued) were cancelled.
type CancelResult struct {
	Cancelled int `json:"cancelled"`
}

// CleanupResult is the result of session/cleanup.
type CleanupResult struct {
	Closed bool `json:"closed"`
}

// ListParams are the params of session/list; all optional.
type ListParams struct {
	// Cwd keeps the sessions of that directory only.
	Cwd string `json:"cwd,omitempty"`
	// Limit bounds the stored sessions of a page (default 50, at most
	// 500); the live ones are all on the first page.
	Limit int `json:"limit,omitempty"`
	// Cursor is a previous result's nextCursor.
	Cursor string `json:"cursor,omitempty"`
}

// ListResult is the result of session/list.
type ListResult struct {
	Sessions []SessionInfo `json:"sessions"`
	// NextCursor reads the next page; absent on the last.
	NextCursor string `json:"nextCursor,omitempty"`
}

// StatusStored is the status of a session that is stored but not live in
// this Tether process.
const StatusStored = "stored"

// SessionInfo describes one session: live, or stored (status "stored").
type SessionInfo struct {
	SessionID string `json:"sessionId"`
	Backend   string `json:"backend"`
	Model     string `json:"model"`
	Mode      string `json:"mode,omitempty"`
	Cwd       string `json:"cwd"`
	Status    string `json:"status"`
	// Process is "running" or "stopped" for a backend that holds a
	// process (claude): an idle session's process may be stopped, and the
	// session's next query resumes it.
	Process   string `json:"process,omitempty"`
	CreatedAt string `json:"createdAt"`
	Turns     int    `json:"turns"`
	// Title is the first line of the session's first prompt.
	Title string `json:"title,omitempty"`
	// UpdatedAt is when a turn of it last started or ended (or it was
	// made).
	UpdatedAt string `json:"updatedAt,omitempty"`
}

// LoadResult is the result of session/load, sent after the stored
// conversation has been replayed: the session, its totals, and how each
// of its queries ended.
type LoadResult struct {
	SessionInfo
	Usage            Usage         `json:"usage"`
	CostUSD          float64       `json:"costUsd,omitempty"`
	BackendSessionID string        `json:"backendSessionId,omitempty"`
	Queries          []StoredQuery `json:"queries"`
}

// StoredQuery is how one replayed query ended. QueryID is the number the
// replayed notifications of that query carry as their queryId: the
// session's queries counted from 1.
type StoredQuery struct {
	QueryID int `json:"queryId"`
	// StopReason is absent for a query that never ended (Tether stopped
	// during it), "error" for one that failed (Error says why).
	StopReason string  `json:"stopReason,omitempty"`
	Error      string  `json:"error,omitempty"`
	Usage      Usage   `json:"usage"`
	CostUSD    float64 `json:"costUsd,omitempty"`
	StartedAt  string  `json:"startedAt"`
	EndedAt    string  `json:"endedAt,omitempty"`
}

// DeleteResult is the result of session/delete.
type DeleteResult struct {
	Deleted bool `json:"deleted"`
}

// Permission decisions.
const (
	DecisionAllow = "allow"
	DecisionDeny  = "deny"
)

// RespondParams are the params of permission/respond.
type RespondParams struct {
	RequestID string `json:"requestId"`
	Decision  string `json:"decision"`
	Reason    string `json:"reason,omitempty"`
	Remember  bool   `json:"remember,omitempty"`
}

// CancelRequestParams are the params of $/cancelRequest: the id of the
// request to cancel, a number or a string.
type CancelRequestParams struct {
	ID json.RawMessage `json:"id"`
}

// Event is the part every session notification shares: the session, and the
// JSON-RPC id of the session/query the notification belongs to (absent for
// status changes outside a query).
type Event struct {
	SessionID string          `json:"sessionId"`
	QueryID   json.RawMessage `json:"queryId,omitempty"`
}

// TextParams are the params of session/token and session/thinking.
type TextParams struct {
	Event
	Text string `json:"text"`
}

// ToolUseParams are the params of session/toolUse.
type ToolUseParams struct {
	Event
	ToolUseID string          `json:"toolUseId"`
	ToolName  string          `json:"toolName"`
	Input     json.RawMessage `json:"input"`
	// Kind (read, edit, execute, ...) and Title (a short human line) are
	// set where the backend knows them.
	Kind  string `json:"kind,omitempty"`
	Title string `json:"title,omitempty"`
}

// ToolResultParams are the params of session/toolResult.
type ToolResultParams struct {
	Event
	ToolUseID string `json:"toolUseId"`
	ToolName  string `json:"toolName"`
	Summary   string `json:"summary"`
	IsError   bool   `json:"isError"`
}

// Session statuses, as carried by session/status and session/list.
const (
	StatusStarting          = "starting"
	StatusIdle              = "idle"
	StatusBusy              = "busy"
	StatusWaitingPermission = "waiting_permission"
	StatusFailed            = "failed"
	StatusClosed            = "closed"
)

// StatusParams are the params of session/status.
type StatusParams struct {
	Event
	Status string `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// PermissionRequestParams are the params of permission/request.
type PermissionRequestParams struct {
	Event
	RequestID string          `json:"requestId"`
	ToolName  string          `json:"toolName"`
	ToolInput json.RawMessage `json:"toolInput"`
	ToolUseID string          `json:"toolUseId"`
	// AlwaysRule is the rule that "remember" adds for the rest of the
	// session ("Bash(ls:*)"), for the editor to show on its button; absent
	// when nothing can be remembered for this request.
	AlwaysRule  string          `json:"alwaysRule,omitempty"`
	Suggestions json.RawMessage `json:"suggestions,omitempty"`
}

// PermissionCancelledParams are the params of permission/cancelled.
type PermissionCancelledParams struct {
	Event
	RequestID string `json:"requestId"`
	Reason    string `json:"reason"`
}

// ToolCallParams are the params of tool/call, a request from Tether to the
// client asking it to run a tool it declared.
type ToolCallParams struct {
	SessionID string          `json:"sessionId"`
	QueryID   json.RawMessage `json:"queryId"`
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ToolCallResult is the client's answer to tool/call.
type ToolCallResult struct {
	Content string `json:"content"`
	IsError bool   `json:"isError,omitempty"`
}
