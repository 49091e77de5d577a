package store

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// Page sizes of List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 500
)

// ListOptions select a page of stored sessions.
type ListOptions struct {
	// Cwd, when set, keeps only the sessions opened in that directory.
	Cwd string
	// Limit is the page size: 0 means DefaultListLimit, more than
	// MaxListLimit means MaxListLimit.
	Limit int
	// Cursor is a previous Page's Next, to read the page after it; "" reads
	// the first page.
	Cursor string
}

// Page is one page of List.
type Page struct {
	Sessions []Session
	// Next is the cursor of the page after this one; "" when this is the
	// last.
	Next string
}

// List returns stored sessions newest first: by UpdatedAt, then by id, both
// descending. Paging is by keyset, so a session written between two pages
// neither repeats nor hides another. A cursor List did not make gives an
// error wrapping ErrBadCursor.
func (s *Store) List(opts ListOptions) (Page, error) {
	if err := s.checkOpen(); err != nil {
		return Page{}, err
	}
	limit := opts.Limit
	switch {
	case limit <= 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	query := `SELECT ` + sessionColumns + ` FROM sessions WHERE 1`
	var args []any
	if opts.Cwd != "" {
		query += ` AND cwd = ?`
		args = append(args, opts.Cwd)
	}
	if opts.Cursor != "" {
		updated, id, err := decodeCursor(opts.Cursor)
		if err != nil {
			return Page{}, err
		}
		query += ` AND (updated_at, id) < (?, ?)`
		args = append(args, updated, id)
	}
	query += ` ORDER BY updated_at DESC, id DESC LIMIT ?`
	args = append(args, limit+1)

	rows, err := s.db.Query(query, args...)
	if err != nil {
		return Page{}, fmt.Errorf("listing sessions: %w", err)
	}
	defer rows.Close()
	var page Page
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return Page{}, fmt.Errorf("listing sessions: %w", err)
		}
		page.Sessions = append(page.Sessions, ss)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("listing sessions: %w", err)
	}
	if len(page.Sessions) > limit {
		page.Sessions = page.Sessions[:limit]
		last := page.Sessions[limit-1]
		page.Next = encodeCursor(millis(last.UpdatedAt), last.ID)
	}
	return page, nil
}

// cursorPrefix versions the cursor's format.
const cursorPrefix = "c1:"

// encodeCursor makes the opaque cursor that resumes after (updated, id).
func encodeCursor(updated int64, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(updated, 10) + ":" + id))
}

// decodeCursor reverses encodeCursor.
func decodeCursor(cursor string) (updated int64, id string, err error) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return 0, "", fmt.Errorf("%w %q", ErrBadCursor, cursor)
	}
	rest, ok := strings.CutPrefix(string(raw), cursorPrefix)
	ms, id, found := strings.Cut(rest, ":")
	updated, perr := strconv.ParseInt(ms, 10, 64)
	if !ok || !found || perr != nil {
		return 0, "", fmt.Errorf("%w %q", ErrBadCursor, cursor)
	}
	return updated, id, nil
}
