package acp

import (
	"context"
	"errors"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// The error codes ACP defines beyond JSON-RPC's own (which are the
// transport's, in rpc/errors.go). protocol.md's ACP chapter lists them; a
// test keeps it so.
const (
	// CodeAuthRequired: the agent must be logged in first (the claude
	// CLI is not); the message says how.
	CodeAuthRequired = -32000
	// CodeResourceNotFound: no session has the id (never created, or
	// closed).
	CodeResourceNotFound = -32002
)

// WireError maps the domain's errors to ACP's codes. It is the only place
// they become codes; protocol.md's ACP chapter mirrors it. ACP has no codes
// for a busy queue, a backend that cannot run or that failed: those are
// internal errors whose message says what happened, as other ACP agents
// answer them.
func WireError(err error) *rpc.Error {
	var pe *sessions.ParamError
	switch {
	case errors.As(err, &pe):
		return rpc.NewError(rpc.CodeInvalidParams, err.Error(), rpc.ParamsData{Field: pe.Field})
	case errors.Is(err, backends.ErrUnsupported):
		return &rpc.Error{Code: rpc.CodeInvalidParams, Message: err.Error()}
	case errors.Is(err, rpc.ErrRequestCancelled), errors.Is(err, rpc.ErrClosed), errors.Is(err, context.Canceled):
		return &rpc.Error{Code: rpc.CodeRequestCancelled, Message: err.Error()}
	case errors.Is(err, backends.ErrAuthRequired):
		return &rpc.Error{Code: CodeAuthRequired, Message: err.Error()}
	case errors.Is(err, sessions.ErrNotFound), errors.Is(err, sessions.ErrClosed):
		return &rpc.Error{Code: CodeResourceNotFound, Message: err.Error()}
	case errors.Is(err, sessions.ErrBusy), errors.Is(err, backends.ErrUnavailable),
		errors.Is(err, backends.ErrFailed), errors.Is(err, sessions.ErrShuttingDown),
		errors.Is(err, sessions.ErrShutdownTimeout), errors.Is(err, sessions.ErrLiveElsewhere),
		errors.Is(err, sessions.ErrNoStore):
		return &rpc.Error{Code: rpc.CodeInternalError, Message: err.Error()}
	}
	return nil // the transport's defaults
}
