package client

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
)

// The error codes of protocol.md ("Errors") that a host may want to act on.
// They are the server's own constants (rpc/errors.go for JSON-RPC's,
// protocol/errors.go for Tether's), so the two cannot drift.
const (
	CodeInvalidParams      = rpc.CodeInvalidParams           // Data names the parameter: {"field":"cwd"}
	CodeRequestCancelled   = rpc.CodeRequestCancelled        // $/cancelRequest cancelled the request
	CodeSessionBusy        = protocol.CodeSessionBusy        // 16 queries already wait in the session's queue
	CodeBackendUnavailable = protocol.CodeBackendUnavailable // the message says how to make the backend available
	CodeBackendFailed      = protocol.CodeBackendFailed      // the backend failed the turn; the session stays usable
	CodeShuttingDown       = protocol.CodeShuttingDown       // shutdown was received; no new work
	CodeSessionClosed      = protocol.CodeSessionClosed      // the session was cleaned up while the request waited
	CodeShutdownTimeout    = protocol.CodeShutdownTimeout    // shutdown's deadline passed; processes were killed
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
