package store

import (
	"errors"
	"fmt"
)

// Errors of this package; compare with errors.Is.
var (
	// ErrUnusable means the file cannot serve as a store: corrupt, not an
	// SQLite database, not a Tether store, written by a newer Tether, or
	// not readable and writable by this process. The error wrapping it says
	// which. The file is left as it was.
	ErrUnusable = errors.New("store unusable")
	// ErrNotFound means no stored session has the id.
	ErrNotFound = errors.New("session not found")
	// ErrClaimed means another live process holds the session. Errors
	// wrapping it are *ClaimedError, which names that process.
	ErrClaimed = errors.New("session is live in another process")
	// ErrBadCursor means a [ListOptions.Cursor] was not one List returned.
	ErrBadCursor = errors.New("bad cursor")
	// ErrClosed means the Store was closed.
	ErrClosed = errors.New("store closed")
)

// ClaimedError is returned when another live process holds a session. It
// wraps ErrClaimed.
type ClaimedError struct {
	SessionID string
	// PID is the process that holds the session.
	PID int
}

// Error names the session and the process that holds it.
func (e *ClaimedError) Error() string {
	return fmt.Sprintf("session %s is live in another Tether process (pid %d)", e.SessionID, e.PID)
}

// Unwrap makes errors.Is(err, ErrClaimed) true.
func (e *ClaimedError) Unwrap() error { return ErrClaimed }

// unusable wraps err with ErrUnusable and the file's path.
func unusable(path string, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrUnusable, path, fmt.Sprintf(format, args...))
}
