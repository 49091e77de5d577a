package rpc

import (
	"context"
	"errors"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/sessions"
)

// The error codes Tether answers with. This block is the only place errors
// become codes; protocol.md mirrors it ("Errors"), and a test keeps the codes
// unique. The application codes sit in the JSON-RPC server range
// (-32000…-32099), clear of the codes vscode-jsonrpc and LSP give their own
// meanings (-32001, -32002, -32096…-32099).
const (
	CodeParseError     = -32700 // the frame's body is not JSON
	CodeInvalidRequest = -32600 // JSON, but not a JSON-RPC 2.0 request or response
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602 // data.field names the parameter
	CodeInternalError  = -32603 // a bug in Tether, logged with its stack

	CodeRequestCancelled = -32800 // $/cancelRequest cancelled the request (LSP)

	CodeSessionBusy        = -32010 // the session's queue is full
	CodeBackendUnavailable = -32011 // the backend cannot run here; the message says how to fix that
	CodeBackendFailed      = -32012 // the backend failed; the message carries its own
	CodeShuttingDown       = -32013 // Tether is shutting down and takes no new work
	CodeSessionClosed      = -32014 // the session was cleaned up while the request waited
)

// ErrRequestCancelled is the cause a request's context is cancelled with by
// $/cancelRequest.
var ErrRequestCancelled = errors.New("request cancelled")

// errMethodNotFound is answered for methods nobody registered.
var errMethodNotFound = errors.New("method not found")

// errConnClosed is the cause of every request context when the connection
// ends.
var errConnClosed = errors.New("connection closed")

// ParamsData is the data of an invalid-params error.
type ParamsData struct {
	Field string `json:"field"`
}

// wireError turns err into the JSON-RPC error the client gets.
func wireError(err error) *jsonrpc2.Error {
	code := int64(CodeInternalError)
	var data any
	var pe *sessions.ParamError
	switch {
	case errors.As(err, &pe):
		code, data = CodeInvalidParams, ParamsData{Field: pe.Field}
	case errors.Is(err, errMethodNotFound):
		code = CodeMethodNotFound
	case errors.Is(err, ErrRequestCancelled), errors.Is(err, errConnClosed), errors.Is(err, context.Canceled):
		code = CodeRequestCancelled
	case errors.Is(err, sessions.ErrBusy):
		code = CodeSessionBusy
	case errors.Is(err, backends.ErrUnavailable):
		code = CodeBackendUnavailable
	case errors.Is(err, backends.ErrFailed):
		code = CodeBackendFailed
	case errors.Is(err, sessions.ErrShuttingDown):
		code = CodeShuttingDown
	case errors.Is(err, sessions.ErrClosed):
		code = CodeSessionClosed
	}
	e := &jsonrpc2.Error{Code: code, Message: err.Error()}
	if data != nil {
		e.SetError(data)
	}
	return e
}
