package store

import (
	"database/sql"
	"errors"
	"fmt"
)

// owner identifies a process: its pid, and where the system tells it, its
// start time, so that a pid reused by a new process after the owner died
// does not count as the owner (see owner_linux.go, owner_other.go).
type owner struct {
	pid   int
	start string
}

// Claim marks session sessionID live in this process, so that no other
// Tether process brings it to life too. It fails with a *ClaimedError
// (wrapping ErrClaimed, naming the pid) while another live process holds
// it. A claim whose process has died is stale and is taken over. Claiming a
// session this process holds already succeeds; the session need not be
// stored yet. Close releases every claim the Store made.
//
// Liveness is judged on this machine: pid and start time on Linux, pid
// alone elsewhere. A store shared by processes in different pid namespaces
// is not supported.
func (s *Store) Claim(sessionID string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	var holder owner
	held := false
	err := s.inTx(func(tx *sql.Tx) error {
		err := tx.QueryRow(`SELECT pid, pid_start FROM claims WHERE session_id = ?`, sessionID).Scan(&holder.pid, &holder.start)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case holder != s.owner && holder.alive():
			held = true
			return nil
		}
		_, err = tx.Exec(`INSERT INTO claims (session_id, pid, pid_start, claimed_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (session_id) DO UPDATE SET
				pid = excluded.pid, pid_start = excluded.pid_start, claimed_at = excluded.claimed_at`,
			sessionID, s.owner.pid, s.owner.start, millis(s.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("claiming session %s: %w", sessionID, err)
	}
	if held {
		return &ClaimedError{SessionID: sessionID, PID: holder.pid}
	}
	s.mu.Lock()
	s.claims[sessionID] = struct{}{}
	s.mu.Unlock()
	return nil
}

// Release gives up this process's claim on session sessionID, when the
// session stops being live here (closed, deleted). Releasing a session this
// process does not hold does nothing.
func (s *Store) Release(sessionID string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	if _, err := s.db.Exec(`DELETE FROM claims WHERE session_id = ? AND pid = ? AND pid_start = ?`,
		sessionID, s.owner.pid, s.owner.start); err != nil {
		return fmt.Errorf("releasing session %s: %w", sessionID, err)
	}
	s.mu.Lock()
	delete(s.claims, sessionID)
	s.mu.Unlock()
	return nil
}

// releaseAll gives up every claim this Store made; Close calls it.
func (s *Store) releaseAll() error {
	s.mu.Lock()
	ids := make([]string, 0, len(s.claims))
	for id := range s.claims {
		ids = append(ids, id)
	}
	clear(s.claims)
	s.mu.Unlock()
	if len(ids) == 0 {
		return nil
	}
	return s.inTx(func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.Exec(`DELETE FROM claims WHERE session_id = ? AND pid = ? AND pid_start = ?`,
				id, s.owner.pid, s.owner.start); err != nil {
				return err
			}
		}
		return nil
	})
}

// heldElsewhere reports the live process other than this one that holds
// session id, if any, in tx.
func (s *Store) heldElsewhere(tx *sql.Tx, id string) (holder owner, held bool, err error) {
	err = tx.QueryRow(`SELECT pid, pid_start FROM claims WHERE session_id = ?`, id).Scan(&holder.pid, &holder.start)
	if errors.Is(err, sql.ErrNoRows) {
		return owner{}, false, nil
	}
	if err != nil {
		return owner{}, false, err
	}
	return holder, holder != s.owner && holder.alive(), nil
}

// dropStaleClaims deletes the claims of processes that have died, in tx.
func dropStaleClaims(tx *sql.Tx) error {
	rows, err := tx.Query(`SELECT session_id, pid, pid_start FROM claims`)
	if err != nil {
		return err
	}
	var stale []string
	for rows.Next() {
		var (
			id string
			o  owner
		)
		if err := rows.Scan(&id, &o.pid, &o.start); err != nil {
			rows.Close()
			return err
		}
		if !o.alive() {
			stale = append(stale, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range stale {
		if _, err := tx.Exec(`DELETE FROM claims WHERE session_id = ?`, id); err != nil {
			return err
		}
	}
	return nil
}
