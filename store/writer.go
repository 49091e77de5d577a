package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// A turn whose commit failed is tried again after retryDelay, doubled at
// each failure, and dropped after maxWriteAttempts: about 15 s in all, which
// outlasts another process holding the lock past the busy timeout, while a
// full disk costs a handful of logged errors per turn.
const (
	maxWriteAttempts = 5
	retryDelay       = time.Second
)

// poke wakes the writer without waiting for it.
func (s *Store) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// writeLoop is the writer goroutine, started by Open and stopped by Close.
// It is the only goroutine that writes recorded turns: at a poke (a turn
// ended, a non-text event), at every tick of FlushInterval (text runs, turns
// just begun), at Flush, and one last time at Close.
func (s *Store) writeLoop() {
	defer close(s.done)
	tick := time.NewTicker(s.opts.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.wake:
			s.flushActive(false)
		case <-tick.C:
			s.flushActive(false)
		case ack := <-s.flushReq:
			s.flushActive(false)
			close(ack)
		case <-s.stop:
			s.flushActive(true)
			return
		}
	}
}

// Flush makes the writer commit what every recorder holds now, and returns
// when it has tried or when ctx ends. A failed commit counts in WriteErrors
// and is retried later; a turn waiting for that retry, and the later turns
// of its session, are not tried by Flush.
func (s *Store) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case s.flushReq <- ack:
	case <-s.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// flushActive commits every active recorder's batch, in BeginTurn order,
// and drops the recorders that are done. A recorder waiting to retry a
// failed commit is skipped, and so are the later turns of its session, so
// that their seqs stay in order. final is Close's last pass: one try for
// each, no waiting, and turns still running are left open in the file.
func (s *Store) flushActive(final bool) {
	s.mu.Lock()
	recs := slices.Clone(s.active)
	s.mu.Unlock()
	now := s.now()
	var done []*TurnRecorder
	blocked := map[string]bool{} // sessions with a turn waiting to retry
	for _, r := range recs {
		if !final && (blocked[r.sessionID] || r.failures > 0 && now.Before(r.retryAt)) {
			blocked[r.sessionID] = true
			continue
		}
		switch {
		case s.flushRecorder(r, final):
			done = append(done, r)
		case final:
			// The Store is closing: what the turn records from now on
			// has nowhere to go, so it is not kept in memory either.
			r.giveUp()
			done = append(done, r)
		case r.failures > 0:
			blocked[r.sessionID] = true
		}
	}
	if len(done) == 0 {
		return
	}
	s.mu.Lock()
	s.active = slices.DeleteFunc(s.active, func(r *TurnRecorder) bool { return slices.Contains(done, r) })
	s.mu.Unlock()
}

// flushRecorder commits r's batch and reports whether r is done: ended and
// committed, or given up on.
func (s *Store) flushRecorder(r *TurnRecorder, final bool) (done bool) {
	b, discarded := r.take()
	if discarded {
		return true
	}
	if r.inserted && len(b.ops) == 0 && !b.end {
		return false
	}
	err := s.commit(r, b)
	if err == nil {
		r.failures = 0
		return b.end
	}
	r.failures++
	s.reportWriteError(fmt.Errorf("recording a turn of session %s: %w", r.sessionID, err))
	// A turn of a session that is not stored fails the same way each time.
	if final || r.failures >= maxWriteAttempts || errors.Is(err, ErrNotFound) {
		s.log.Error("store: dropping the rest of a turn after failed writes", "session", r.sessionID, "attempts", r.failures)
		r.giveUp()
		return true
	}
	r.retryAt = s.now().Add(retryDelay << (r.failures - 1))
	r.giveBack(b)
	return false
}

// reportWriteError logs, counts and reports a failed background write.
func (s *Store) reportWriteError(err error) {
	s.writeErrors.Add(1)
	s.log.Error("store: write failed", "err", err)
	if s.opts.OnWriteError != nil {
		s.opts.OnWriteError(err)
	}
}

// commit writes b in one transaction: the turn's row first if it is not in
// the file yet, then the events, then the end with the session's totals.
// Only the writer goroutine calls it, so r's writer fields need no lock.
func (s *Store) commit(r *TurnRecorder, b batch) error {
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	w := s.stmts.in(tx)
	turnSeq := r.turnSeq
	if !r.inserted {
		if turnSeq, err = w.insertTurn(r); err != nil {
			return err
		}
	}
	for _, o := range b.ops {
		if err := w.writeOp(r.sessionID, turnSeq, o); err != nil {
			return err
		}
	}
	if b.end {
		if err := w.endTurn(r.sessionID, turnSeq, b); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	r.inserted, r.turnSeq = true, turnSeq
	return nil
}

// The writer's statements, prepared once per Store: parsing them again
// for every commit was a third of the writer's time in the pure-Go
// SQLite.
const (
	sqlNextTurn    = `SELECT coalesce(max(seq), 0) + 1 FROM turns WHERE session_id = ?`
	sqlCountTurn   = `UPDATE sessions SET turns = turns + 1, updated_at = max(updated_at, ?), title = iif(title = '', ?, title) WHERE id = ?`
	sqlInsertTurn  = `INSERT INTO turns (session_id, seq, prompt, started_at) VALUES (?, ?, ?, ?)`
	sqlExtendEvent = `UPDATE events SET text = text || ? WHERE session_id = ? AND turn_seq = ? AND seq = ?`
	sqlInsertEvent = `INSERT INTO events (session_id, turn_seq, seq, kind, text, tool_use_id, tool_name, data, display, is_error, allow, rule)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlEndTurn = `UPDATE turns SET stop_reason = ?, input_tokens = ?, output_tokens = ?,
			cache_read_tokens = ?, cache_write_tokens = ?, cost_usd = ?, ended_at = ?
		WHERE session_id = ? AND seq = ?`
	sqlEndSession = `UPDATE sessions SET input_tokens = input_tokens + ?, output_tokens = output_tokens + ?,
			cache_read_tokens = cache_read_tokens + ?, cache_write_tokens = cache_write_tokens + ?,
			cost_usd = cost_usd + ?, updated_at = max(updated_at, ?),
			resume_handle = iif(? = '', resume_handle, ?)
		WHERE id = ?`
)

// writeStmts are the writer's prepared statements.
type writeStmts struct {
	nextTurn, countTurn, insertTurn, extendEvent, insertEvent, endTurn, endSession *sql.Stmt
}

// prepareWriteStmts prepares the writer's statements on db.
func prepareWriteStmts(db *sql.DB) (*writeStmts, error) {
	w := &writeStmts{}
	for _, p := range []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&w.nextTurn, sqlNextTurn}, {&w.countTurn, sqlCountTurn}, {&w.insertTurn, sqlInsertTurn},
		{&w.extendEvent, sqlExtendEvent}, {&w.insertEvent, sqlInsertEvent},
		{&w.endTurn, sqlEndTurn}, {&w.endSession, sqlEndSession},
	} {
		stmt, err := db.Prepare(p.query)
		if err != nil {
			w.close()
			return nil, err
		}
		*p.stmt = stmt
	}
	return w, nil
}

// close closes the statements prepared so far.
func (w *writeStmts) close() {
	for _, stmt := range []*sql.Stmt{w.nextTurn, w.countTurn, w.insertTurn, w.extendEvent, w.insertEvent, w.endTurn, w.endSession} {
		if stmt != nil {
			stmt.Close()
		}
	}
}

// txWriter runs the writer's statements in one transaction.
type txWriter struct {
	tx *sql.Tx
	w  *writeStmts
}

func (w *writeStmts) in(tx *sql.Tx) txWriter { return txWriter{tx: tx, w: w} }

func (t txWriter) exec(stmt *sql.Stmt, args ...any) (sql.Result, error) {
	return t.tx.Stmt(stmt).Exec(args...)
}

// insertTurn writes the turn's row as the session's next and counts it.
func (t txWriter) insertTurn(r *TurnRecorder) (seq int, err error) {
	if err := t.tx.Stmt(t.w.nextTurn).QueryRow(r.sessionID).Scan(&seq); err != nil {
		return 0, err
	}
	started := millis(r.startedAt)
	res, err := t.exec(t.w.countTurn, started, r.title, r.sessionID)
	if err != nil {
		return 0, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return 0, fmt.Errorf("session %s: %w", r.sessionID, ErrNotFound)
	}
	if _, err := t.exec(t.w.insertTurn, r.sessionID, seq, jsonTextOr(r.prompt, "null"), started); err != nil {
		return 0, err
	}
	return seq, nil
}

// jsonTextOr is jsonText with a default for nil.
func jsonTextOr(raw []byte, def string) any {
	if raw == nil {
		return def
	}
	return jsonText(raw)
}

// writeOp writes one op of a turn.
func (t txWriter) writeOp(sessionID string, turnSeq int, o op) error {
	ev := o.ev
	if o.extend {
		_, err := t.exec(t.w.extendEvent, ev.Text, sessionID, turnSeq, o.seq)
		return err
	}
	var (
		text, useID, name, rule any
		data, display           any
		isError, allow          any
	)
	switch ev.Kind {
	case EventText, EventThinking:
		text = ev.Text
	case EventToolUse:
		u := ev.ToolUse
		useID, name, data, display = u.ID, u.Name, jsonText(u.Input), jsonText(u.Display)
	case EventToolResult:
		res := ev.ToolResult
		useID, name, text, isError = res.ID, res.Name, res.Summary, res.IsError
	case EventPermission:
		p := ev.Permission
		useID, name, allow, rule, text = p.ToolUseID, p.Tool, p.Allow, p.Rule, p.Reason
	default:
		data = jsonText(ev.Data)
	}
	_, err := t.exec(t.w.insertEvent,
		sessionID, turnSeq, o.seq, string(ev.Kind), text, useID, name, data, display, isError, allow, rule)
	return err
}

// endTurn writes how the turn ended and adds its usage and cost to the
// session's.
func (t txWriter) endTurn(sessionID string, turnSeq int, b batch) error {
	e, ended := b.endInfo, millis(b.endedAt)
	if _, err := t.exec(t.w.endTurn,
		e.StopReason, e.Usage.InputTokens, e.Usage.OutputTokens, e.Usage.CacheReadTokens, e.Usage.CacheWriteTokens,
		e.CostUSD, ended, sessionID, turnSeq); err != nil {
		return err
	}
	_, err := t.exec(t.w.endSession,
		e.Usage.InputTokens, e.Usage.OutputTokens, e.Usage.CacheReadTokens, e.Usage.CacheWriteTokens,
		e.CostUSD, ended, e.ResumeHandle, e.ResumeHandle, sessionID)
	return err
}
