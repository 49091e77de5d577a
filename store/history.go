package store

import (
	"database/sql"
	"encoding/json"
	"fmt"
)

// AppendHistory appends messages to session sessionID's history, in one
// transaction, before it returns. The history is for backends that keep no
// conversation of their own (openai): the messages, opaque JSON, are what
// the next request must carry, so the store is the history and the
// backend's memory only a cache of it. A message that is not JSON fails the
// whole call; so does a session that is not stored (ErrNotFound).
func (s *Store) AppendHistory(sessionID string, msgs ...json.RawMessage) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	for i, m := range msgs {
		if !json.Valid(m) {
			return fmt.Errorf("appending to the history of session %s: message %d is not JSON", sessionID, i)
		}
	}
	err := s.inTx(func(tx *sql.Tx) error {
		var exists, last int
		if err := tx.QueryRow(`SELECT
				(SELECT count(*) FROM sessions WHERE id = ?),
				(SELECT coalesce(max(seq), 0) FROM history WHERE session_id = ?)`,
			sessionID, sessionID).Scan(&exists, &last); err != nil {
			return err
		}
		if exists == 0 {
			return ErrNotFound
		}
		for i, m := range msgs {
			if _, err := tx.Exec(`INSERT INTO history (session_id, seq, message) VALUES (?, ?, ?)`,
				sessionID, last+1+i, string(m)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("appending to the history of session %s: %w", sessionID, err)
	}
	return nil
}

// History returns session sessionID's history, oldest message first. It
// fails with ErrNotFound when the session is not stored.
func (s *Store) History(sessionID string) ([]json.RawMessage, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	msgs, err := s.readHistory(sessionID)
	if err != nil {
		return nil, fmt.Errorf("reading the history of session %s: %w", sessionID, err)
	}
	return msgs, nil
}

// readHistory reads the history in one read transaction.
func (s *Store) readHistory(sessionID string) ([]json.RawMessage, error) {
	tx, err := s.readTx()
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	var exists int
	if err := tx.QueryRow(`SELECT count(*) FROM sessions WHERE id = ?`, sessionID).Scan(&exists); err != nil {
		return nil, err
	}
	if exists == 0 {
		return nil, ErrNotFound
	}
	rows, err := tx.Query(`SELECT message FROM history WHERE session_id = ? ORDER BY seq`, sessionID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var msgs []json.RawMessage
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, err
		}
		msgs = append(msgs, json.RawMessage(m))
	}
	return msgs, rows.Err()
}
