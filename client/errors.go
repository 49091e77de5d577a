package client

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sourcegraph/jsonrpc2"
)

// The error codes of protocol.md ("Errors") that a host may want to act on.
// The server's own list is rpc/errors.go; client_test.go checks that these
// match it, so the two cannot drift.
const (
	CodeInvalidParams      = -32602 // Data names the parameter: {"field":"cwd"}
	CodeRequestCancelled   = -32800 // $/cancelRequest cancelled the request
	CodeSessionBusy        = -32010 // 16 queries already wait in the session's queue
	CodeBackendUnavailable = -32011 // the message says how to make the backend available
	CodeBackendFailed      = -32012 // the backend failed the turn; the session stays usable
	CodeShuttingDown       = -32013 // shutdown was received; no new work
	CodeSessionClosed      = -32014 // the session was cleaned up while the request waited
)

// ErrClosed is returned by every call once the connection to Tether has
// ended: Close was called, or Tether exited or closed its output.
var ErrClosed = errors.New("tether: connection closed")

// Error is an error answer from Tether. Compare it with errors.As, or match a
// code with errors.Is(err, &client.Error{Code: client.CodeBackendFailed}).
type Error struct {
	Code    int64
	Message string
	// Data is the error's data as Tether sent it, or nil.
	Data json.RawMessage
}

func (e *Error) Error() string {
	return fmt.Sprintf("tether error %d: %s", e.Code, e.Message)
}

// Is reports whether target is an *Error with the same code, so that a
// code can be matched without caring about the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// callError turns what a jsonrpc2 call returned into the client's errors:
// an *Error for Tether's answers, ErrClosed for a lost connection, and err
// itself otherwise. method is for context.
func callError(method string, err error) error {
	if err == nil {
		return nil
	}
	var je *jsonrpc2.Error
	if errors.As(err, &je) {
		e := &Error{Code: je.Code, Message: je.Message}
		if je.Data != nil {
			e.Data = append(json.RawMessage(nil), *je.Data...)
		}
		return fmt.Errorf("%s: %w", method, e)
	}
	if errors.Is(err, jsonrpc2.ErrClosed) {
		return fmt.Errorf("%s: %w", method, ErrClosed)
	}
	return fmt.Errorf("%s: %w", method, err)
}
