package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
)

// The error codes of JSON-RPC 2.0 itself, and LSP's request-cancelled code
// that ACP shares. They belong to the transport, so every dialect answers
// with the same ones; each dialect's own codes are defined with its wire
// types (protocol/errors.go for Tether's protocol) and mirrored in
// protocol.md.
const (
	CodeParseError       = -32700 // the frame's body is not JSON
	CodeInvalidRequest   = -32600 // JSON, but not a JSON-RPC 2.0 request or response
	CodeMethodNotFound   = -32601
	CodeInvalidParams    = -32602 // data.field names the parameter
	CodeInternalError    = -32603 // a bug, logged with its stack
	CodeRequestCancelled = -32800 // the request was cancelled ($/cancelRequest, $/cancel_request)
)

// Error is a JSON-RPC error: what a request is answered with, and what a
// Call returns when the peer answered with an error. It is the one place an
// error carries a code; dialects turn domain errors into *Error, and the
// connection sends any other error as CodeInternalError.
type Error struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("error %d: %s", e.Code, e.Message) }

// Is reports whether target is an *Error with the same code, so a code can
// be matched with errors.Is(err, &rpc.Error{Code: rpc.CodeRequestCancelled}).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// NewError returns an *Error with data marshalled from data (nil for none).
func NewError(code int64, message string, data any) *Error {
	e := &Error{Code: code, Message: message}
	if data != nil {
		if b, err := json.Marshal(data); err == nil {
			e.Data = b
		}
	}
	return e
}

// ParamsData is the data of an invalid-params error: the parameter at fault.
type ParamsData struct {
	Field string `json:"field"`
}

// ErrRequestCancelled is the cause a request's context is cancelled with
// when the peer cancels it.
var ErrRequestCancelled = errors.New("request cancelled")

// ErrMethodNotFound is answered for methods nobody registered.
var ErrMethodNotFound = errors.New("method not found")

// ErrClosed is the cause of every request context, and the error of every
// Call, once the connection has been closed.
var ErrClosed = errors.New("connection closed")

// ErrInputEnded is the error of every Call made or waiting once the peer's
// input has ended: it can send no answer any more.
var ErrInputEnded = errors.New("client gone: its input has ended")

// asError returns err as an *Error: itself if it is one (or wraps one),
// else an internal error with err's message.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, ErrMethodNotFound) {
		return &Error{Code: CodeMethodNotFound, Message: err.Error()}
	}
	if errors.Is(err, ErrRequestCancelled) || errors.Is(err, ErrClosed) {
		return &Error{Code: CodeRequestCancelled, Message: err.Error()}
	}
	return &Error{Code: CodeInternalError, Message: err.Error()}
}
