package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Usage counts a turn's or a session's tokens.
type Usage struct {
	InputTokens      int64
	OutputTokens     int64
	CacheReadTokens  int64
	CacheWriteTokens int64
}

// Session is a stored session: what it was opened with, its title, and the
// running totals of its turns.
type Session struct {
	ID      string
	Backend string
	Model   string
	// Mode is the session's permission mode.
	Mode string
	Cwd  string
	// Options is opaque JSON the caller stores to open the session again
	// (its system prompt, tools, ...); nil when it gave none.
	Options json.RawMessage
	// Title names the session in lists: [Title] of its first prompt.
	Title     string
	CreatedAt time.Time
	// UpdatedAt is when the session was last written: created, changed, or
	// a turn started or ended. List orders by it.
	UpdatedAt time.Time
	// Turns counts the session's recorded turns, ended or not.
	Turns int
	// Usage and CostUSD are the sums over the session's ended turns.
	Usage   Usage
	CostUSD float64
	// ResumeHandle is what the backend needs to continue the conversation
	// (claude's backendSessionId); "" when it has none.
	ResumeHandle string
}

// sessionColumns are the columns scanSession reads, in its order.
const sessionColumns = `id, backend, model, mode, cwd, options, title, created_at, updated_at, turns,
	input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, resume_handle`

// scanSession reads one row of sessionColumns.
func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var (
		ss               Session
		options          sql.NullString
		created, updated int64
	)
	err := row.Scan(&ss.ID, &ss.Backend, &ss.Model, &ss.Mode, &ss.Cwd, &options, &ss.Title,
		&created, &updated, &ss.Turns,
		&ss.Usage.InputTokens, &ss.Usage.OutputTokens, &ss.Usage.CacheReadTokens, &ss.Usage.CacheWriteTokens,
		&ss.CostUSD, &ss.ResumeHandle)
	if err != nil {
		return Session{}, err
	}
	if options.Valid {
		ss.Options = json.RawMessage(options.String)
	}
	ss.CreatedAt, ss.UpdatedAt = fromMillis(created), fromMillis(updated)
	return ss, nil
}

// jsonText is raw JSON as a column value: NULL for nil. Bytes that are not
// JSON are stored as a JSON string of them, so every stored blob decodes.
func jsonText(raw json.RawMessage) any {
	if raw == nil {
		return nil
	}
	if !json.Valid(raw) {
		quoted, _ := json.Marshal(string(raw))
		return string(quoted)
	}
	return string(raw)
}

// UpsertSession stores a session, or changes a stored one: its backend,
// model, mode, cwd and options become ss's, and its title and resume handle
// too unless ss's are "". CreatedAt is kept from the first call (ss's when
// not zero, else now); UpdatedAt becomes now. Turns, Usage and CostUSD are
// ignored: the store sums them from the recorded turns.
func (s *Store) UpsertSession(ss Session) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if ss.ID == "" || ss.Backend == "" {
		return fmt.Errorf("storing session %q: id and backend are required", ss.ID)
	}
	if ss.Options != nil && !json.Valid(ss.Options) {
		return fmt.Errorf("storing session %s: options are not JSON", ss.ID)
	}
	now := s.now()
	created := ss.CreatedAt
	if created.IsZero() {
		created = now
	}
	_, err := s.db.Exec(`INSERT INTO sessions (id, backend, model, mode, cwd, options, title, created_at, updated_at, resume_handle)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET
			backend = excluded.backend, model = excluded.model, mode = excluded.mode,
			cwd = excluded.cwd, options = excluded.options,
			title = iif(excluded.title = '', title, excluded.title),
			resume_handle = iif(excluded.resume_handle = '', resume_handle, excluded.resume_handle),
			updated_at = excluded.updated_at`,
		ss.ID, ss.Backend, ss.Model, ss.Mode, ss.Cwd, jsonText(ss.Options), ss.Title,
		millis(created), millis(now), ss.ResumeHandle)
	if err != nil {
		return fmt.Errorf("storing session %s: %w", ss.ID, err)
	}
	return nil
}

// Update changes some fields of a stored session; nil fields stay. It is
// for changes while the session lives: a switched model or mode, new
// options. (A resume handle that arrives with a turn's result goes with the
// turn: [TurnEnd].)
type Update struct {
	Model        *string
	Mode         *string
	Options      json.RawMessage
	Title        *string
	ResumeHandle *string
}

// Update applies u to the stored session id and sets its UpdatedAt to now.
// It fails with ErrNotFound when no session has the id.
func (s *Store) Update(id string, u Update) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if u.Options != nil && !json.Valid(u.Options) {
		return fmt.Errorf("updating session %s: options are not JSON", id)
	}
	res, err := s.db.Exec(`UPDATE sessions SET
			model = coalesce(?, model), mode = coalesce(?, mode), options = coalesce(?, options),
			title = coalesce(?, title), resume_handle = coalesce(?, resume_handle), updated_at = ?
		WHERE id = ?`,
		u.Model, u.Mode, jsonText(u.Options), u.Title, u.ResumeHandle, millis(s.now()), id)
	if err != nil {
		return fmt.Errorf("updating session %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("updating session %s: %w", id, ErrNotFound)
	}
	return nil
}

// Get returns the stored session id, or an error wrapping ErrNotFound.
func (s *Store) Get(id string) (Session, error) {
	if err := s.checkOpen(); err != nil {
		return Session{}, err
	}
	row := s.db.QueryRow(`SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id)
	ss, err := scanSession(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("reading session %s: %w", id, err)
	}
	return ss, nil
}

// Delete removes a stored session with its turns, events, history and
// claim. It fails with ErrNotFound when there is none, and with a
// *ClaimedError while another live process holds it; a session live here is
// closed by the caller first.
func (s *Store) Delete(id string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	err := s.inTx(func(tx *sql.Tx) error {
		holder, held, err := s.heldElsewhere(tx, id)
		if err != nil {
			return err
		}
		if held {
			return &ClaimedError{SessionID: id, PID: holder.pid}
		}
		if _, err := tx.Exec(`DELETE FROM claims WHERE session_id = ?`, id); err != nil {
			return err
		}
		res, err := tx.Exec(`DELETE FROM sessions WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting session %s: %w", id, err)
	}
	s.mu.Lock()
	delete(s.claims, id)
	s.mu.Unlock()
	return nil
}

// Prune removes the sessions not updated for olderThan, with their turns,
// events and history, and reports how many. Sessions a live process holds
// are kept; claims of dead processes are dropped. It is for
// --store-max-age, at start.
func (s *Store) Prune(olderThan time.Duration) (int, error) {
	if err := s.checkOpen(); err != nil {
		return 0, err
	}
	cutoff := millis(s.now().Add(-olderThan))
	var n int64
	err := s.inTx(func(tx *sql.Tx) error {
		if err := dropStaleClaims(tx); err != nil {
			return err
		}
		res, err := tx.Exec(`DELETE FROM sessions
			WHERE updated_at < ? AND id NOT IN (SELECT session_id FROM claims)`, cutoff)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pruning sessions older than %v: %w", olderThan, err)
	}
	return int(n), nil
}

// inTx runs fn in a write transaction and commits it unless fn fails.
func (s *Store) inTx(fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// readTx begins a read transaction: a consistent snapshot that takes no
// write lock (a plain BEGIN would be IMMEDIATE, see dsn).
func (s *Store) readTx() (*sql.Tx, error) {
	return s.db.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
}
