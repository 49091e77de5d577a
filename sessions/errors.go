package sessions

import (
	"errors"
	"fmt"
)

// Errors of this package. rpc turns them into JSON-RPC codes; everything else
// compares them with errors.Is.
var (
	// ErrBusy means a session's query queue is full.
	ErrBusy = errors.New("session busy")
	// ErrClosed means the session was cleaned up or Tether is shutting
	// down while the request waited.
	ErrClosed = errors.New("session closed")
	// ErrShuttingDown means Tether accepts no new work.
	ErrShuttingDown = errors.New("shutting down")
)

// ParamError is a request parameter that is missing or wrong. rpc answers it
// with -32602 (invalid params); Field names the parameter.
type ParamError struct {
	Field  string
	Reason string
}

func (e *ParamError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

// paramErrorf returns a *ParamError for field.
func paramErrorf(field, format string, args ...any) error {
	return &ParamError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
