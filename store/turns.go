package store

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// EventKind says what an [Event] is. The kinds below are the built-in ones;
// any other string is a caller's kind whose payload is Event.Data.
type EventKind string

// The built-in event kinds.
const (
	// EventText is a run of assistant text: consecutive tokens, merged.
	EventText EventKind = "text"
	// EventThinking is a run of the model's visible reasoning, merged.
	EventThinking EventKind = "thinking"
	// EventToolUse is the agent calling a tool.
	EventToolUse EventKind = "tool_use"
	// EventToolResult is a tool call's outcome.
	EventToolResult EventKind = "tool_result"
	// EventPermission is the answer to a permission request.
	EventPermission EventKind = "permission"
)

// builtin reports whether k is one of the built-in kinds.
func (k EventKind) builtin() bool {
	switch k {
	case EventText, EventThinking, EventToolUse, EventToolResult, EventPermission:
		return true
	}
	return false
}

// Event is one thing that happened in a turn, stored in the order it
// happened, so that replaying a turn's events reproduces its notifications.
// Exactly the field for Kind is set.
type Event struct {
	Kind EventKind
	// Text is the run of an EventText or EventThinking.
	Text       string
	ToolUse    *ToolUse
	ToolResult *ToolResult
	Permission *Permission
	// Data is the payload of a caller's kind: opaque JSON.
	Data json.RawMessage
}

// ToolUse is the agent calling a tool.
type ToolUse struct {
	ID    string
	Name  string
	Input json.RawMessage
	// Display is optional opaque JSON on how to show the call (a tool kind,
	// a title); nil when there is none.
	Display json.RawMessage
}

// ToolResult is the outcome of a tool call.
type ToolResult struct {
	ID      string
	Name    string
	Summary string
	IsError bool
}

// Permission is the answer to a permission request.
type Permission struct {
	ToolUseID string
	Tool      string
	Allow     bool
	// Rule is what was remembered for later requests ("" when nothing
	// was); a structured rule can be stored as its JSON text.
	Rule string
	// Reason is the deny's reason, or why the request was withdrawn.
	Reason string
}

// Turn is one stored turn with its events, for replay.
type Turn struct {
	// Seq numbers the session's turns from 1.
	Seq int
	// Prompt is the opaque JSON the caller gave to BeginTurn.
	Prompt     json.RawMessage
	Events     []Event
	StopReason string
	Usage      Usage
	CostUSD    float64
	StartedAt  time.Time
	// EndedAt is zero for a turn that has not ended: still running, or cut
	// off when its process died.
	EndedAt time.Time
}

// TurnEnd is how a turn ended, given to [TurnRecorder.End].
type TurnEnd struct {
	StopReason string
	Usage      Usage
	CostUSD    float64
	// ResumeHandle, when not "", becomes the session's resume handle
	// (claude's backendSessionId from the turn's result).
	ResumeHandle string
}

// Turns returns the committed turns of session id in order, each with its
// events in order. What recorders still hold in memory is not there yet:
// call Flush first to include it (session/load of a live session). It fails
// with ErrNotFound when no session has the id.
func (s *Store) Turns(id string) ([]Turn, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	// One read transaction, so the turns and their events agree.
	tx, err := s.readTx()
	if err != nil {
		return nil, fmt.Errorf("reading turns of session %s: %w", id, err)
	}
	defer tx.Rollback()
	turns, err := readTurns(tx, id)
	if err != nil {
		return nil, fmt.Errorf("reading turns of session %s: %w", id, err)
	}
	return turns, nil
}

// readTurns reads the turns of session id and their events in tx.
func readTurns(tx *sql.Tx, id string) ([]Turn, error) {
	var one int
	if err := tx.QueryRow(`SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	rows, err := tx.Query(`SELECT seq, prompt, stop_reason, input_tokens, output_tokens, cache_read_tokens,
			cache_write_tokens, cost_usd, started_at, ended_at
		FROM turns WHERE session_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var turns []Turn
	index := map[int]int{} // turn seq -> position in turns
	for rows.Next() {
		var (
			t       Turn
			prompt  string
			started int64
			ended   sql.NullInt64
		)
		if err := rows.Scan(&t.Seq, &prompt, &t.StopReason, &t.Usage.InputTokens, &t.Usage.OutputTokens,
			&t.Usage.CacheReadTokens, &t.Usage.CacheWriteTokens, &t.CostUSD, &started, &ended); err != nil {
			return nil, err
		}
		t.Prompt = json.RawMessage(prompt)
		t.StartedAt = fromMillis(started)
		if ended.Valid {
			t.EndedAt = fromMillis(ended.Int64)
		}
		index[t.Seq] = len(turns)
		turns = append(turns, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()

	rows, err = tx.Query(`SELECT turn_seq, kind, text, tool_use_id, tool_name, data, display, is_error, allow, rule
		FROM events WHERE session_id = ? ORDER BY turn_seq, seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			turnSeq                 int
			kind                    string
			text, useID, name, rule sql.NullString
			data, display           sql.NullString
			isError, allow          sql.NullBool
		)
		if err := rows.Scan(&turnSeq, &kind, &text, &useID, &name, &data, &display, &isError, &allow, &rule); err != nil {
			return nil, err
		}
		ev := Event{Kind: EventKind(kind)}
		switch ev.Kind {
		case EventText, EventThinking:
			ev.Text = text.String
		case EventToolUse:
			ev.ToolUse = &ToolUse{ID: useID.String, Name: name.String, Input: rawOrNil(data), Display: rawOrNil(display)}
		case EventToolResult:
			ev.ToolResult = &ToolResult{ID: useID.String, Name: name.String, Summary: text.String, IsError: isError.Bool}
		case EventPermission:
			ev.Permission = &Permission{ToolUseID: useID.String, Tool: name.String, Allow: allow.Bool, Rule: rule.String, Reason: text.String}
		default:
			ev.Data = rawOrNil(data)
		}
		i, ok := index[turnSeq]
		if !ok {
			continue
		}
		evs := turns[i].Events
		if n := len(evs); n > 0 && (ev.Kind == EventText || ev.Kind == EventThinking) && evs[n-1].Kind == ev.Kind {
			// A long run is stored in several events (maxEventText).
			evs[n-1].Text += ev.Text
			continue
		}
		turns[i].Events = append(evs, ev)
	}
	return turns, rows.Err()
}

// rawOrNil is a nullable JSON column as raw JSON.
func rawOrNil(v sql.NullString) json.RawMessage {
	if !v.Valid {
		return nil
	}
	return json.RawMessage(v.String)
}
