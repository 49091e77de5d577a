package protocol

// The application error codes of Tether's protocol, shared by the server
// (handlers/tether) and the Go client. The codes of JSON-RPC itself
// (-32700, -32600, -32601, -32602, -32603) and the request-cancelled code
// (-32800) are the transport's, in rpc/errors.go. protocol.md ("Errors")
// mirrors both; a test keeps every code unique and listed there. They sit in
// the JSON-RPC server range (-32000…-32099), clear of the codes
// vscode-jsonrpc and LSP give their own meanings (-32001, -32002,
// -32096…-32099).
const (
	CodeSessionBusy        = -32010 // the session's queue is full
	CodeBackendUnavailable = -32011 // the backend cannot run here; the message says how to fix that
	CodeBackendFailed      = -32012 // the backend failed; the message carries its own
	CodeShuttingDown       = -32013 // Tether is shutting down and takes no new work
	CodeSessionClosed      = -32014 // the session was cleaned up while the request waited
	CodeShutdownTimeout    = -32015 // shutdown's deadline passed; the sessions' processes were killed
	CodeLiveElsewhere      = -32016 // another live Tether process holds the session; the message names its pid
	CodeNoStore            = -32017 // Tether runs without a session store (initialize's store says why)
)
