package sessions

import (
	"errors"
	"fmt"
)

// Errors of this package. Each dialect turns them into its own codes;
// everything else compares them with errors.Is.
var (
	// ErrBusy means a session's queue is full.
	ErrBusy = errors.New("session busy")
	// ErrClosed means the session was closed, or Tether is shutting down,
	// while the request waited.
	ErrClosed = errors.New("session closed")
	// ErrShuttingDown means Tether accepts no new work.
	ErrShuttingDown = errors.New("shutting down")
	// ErrNotFound means no session has the id.
	ErrNotFound = errors.New("no such session")
	// ErrShutdownTimeout means sessions were still closing when shutdown's
	// deadline passed; their processes were killed.
	ErrShutdownTimeout = errors.New("shutdown timed out")
)

// ParamError is a request parameter that is missing or wrong. Dialects
// answer it as invalid params; Field names the parameter.
type ParamError struct {
	Field  string
	Reason string
}

func (e *ParamError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }

// paramErrorf returns a *ParamError for field.
func paramErrorf(field, format string, args ...any) error {
	return &ParamError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
