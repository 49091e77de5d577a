package sessions

// Recording a stored session's turns (see store.go): the turn sink feeds a
// store.TurnRecorder, off the token path.

import (
	"context"
	"encoding/json"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/store"
)

// storedContent is a prompt's content block as the store keeps it (the
// turn's prompt, for replay).
type storedContent struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	Data     string `json:"data,omitempty"`
	MimeType string `json:"mimeType,omitempty"`
	URI      string `json:"uri,omitempty"`
	Name     string `json:"name,omitempty"`
}

func encodePrompt(prompt []backends.Content) json.RawMessage {
	out := make([]storedContent, 0, len(prompt))
	for _, c := range prompt {
		out = append(out, storedContent(c))
	}
	raw, _ := json.Marshal(out) // strings only: it cannot fail
	return raw
}

func decodePrompt(raw json.RawMessage) []backends.Content {
	var in []storedContent
	if json.Unmarshal(raw, &in) != nil {
		return nil
	}
	out := make([]backends.Content, 0, len(in))
	for _, c := range in {
		out = append(out, backends.Content(c))
	}
	return out
}

// toolDisplay is how a tool use is shown, kept beside its input
// (store.ToolUse.Display) so a replay shows it as it was.
type toolDisplay struct {
	Kind      string              `json:"kind,omitempty"`
	Title     string              `json:"title,omitempty"`
	Locations []backends.Location `json:"locations,omitempty"`
	Diffs     []backends.Diff     `json:"diffs,omitempty"`
}

// beginRecord starts recording a turn with prompt, or returns nil for a
// session that is not stored (a nil recorder records nothing).
func (s *Session) beginRecord(prompt []backends.Content) *store.TurnRecorder {
	if !s.stored {
		return nil
	}
	return s.registry.store.BeginTurn(s.id, encodePrompt(prompt), backends.PromptText(prompt))
}

// endRecord records how the turn ended: its result, or the error that
// failed it (stop reason "error").
func (t *turnSink) endRecord(res backends.Result, err error) {
	if t.rec == nil {
		return
	}
	t.flushText()
	end := store.TurnEnd{
		StopReason:   res.StopReason,
		Usage:        store.Usage(res.Usage),
		CostUSD:      res.CostUSD,
		ResumeHandle: res.BackendSessionID,
	}
	if err != nil {
		end.StopReason = stopError
		data, _ := json.Marshal(map[string]string{"message": err.Error()})
		t.rec.Event(eventError, data)
	}
	t.rec.End(end)
}

// stopError is the stored stop reason of a turn that failed; eventError
// the event that says why.
const (
	stopError  = "error"
	eventError = store.EventKind("error")
)

// Text reaches the recorder in pieces, not token by token: the turn's text
// is in the sink's builder already, and a recorder call per token (a lock
// and a copy) was most of what the store cost the token path. The text
// since the last piece goes to the recorder before any other event (so
// the order holds), at the turn's end, and when textPieceInterval has
// passed (looked at every textClockTokens tokens, so the clock costs
// nothing per token) or, as a backstop, at textPieceSize. A crash then
// loses at most about textPieceInterval more than the store's own
// FlushInterval, or the last textClockTokens tokens of a slow stream. A
// piece is copied once out of the turn's Text, and the recorder keeps it
// without a copy of its own.
const (
	textPieceSize     = 1 << 20
	textPieceInterval = 250 * time.Millisecond
	textClockTokens   = 16
)

// unrecordedText is where the sink's text stands with the recorder.
type unrecordedText struct {
	from   int       // the builder's length at the last piece
	tokens int       // tokens since then
	at     time.Time // when the last piece was handed (or the turn began)
}

// recordText notes a token for the recorder, and hands it a piece when
// one is due.
func (t *turnSink) recordText() {
	if t.rec == nil {
		return
	}
	u := &t.unrecorded
	u.tokens++
	if t.text.Len()-u.from < textPieceSize && (u.tokens%textClockTokens != 0 || time.Since(u.at) < textPieceInterval) {
		return
	}
	t.flushText()
}

// flushText hands the recorder the text it has not had yet.
func (t *turnSink) flushText() {
	if t.rec == nil {
		return
	}
	u := &t.unrecorded
	if t.text.Len() > u.from {
		t.rec.Text(t.text.Since(u.from))
		u.from = t.text.Len()
	}
	u.tokens, u.at = 0, time.Now()
}

func (t *turnSink) recordThinking(text string) {
	if t.rec == nil {
		return
	}
	t.flushText()
	t.rec.Thinking(text)
}

// recordToolUse records a tool use with how it is shown.
func (t *turnSink) recordToolUse(u backends.ToolUse) {
	if t.rec == nil {
		return
	}
	t.flushText()
	var display json.RawMessage
	if u.Kind != "" || u.Title != "" || len(u.Locations) > 0 || len(u.Diffs) > 0 {
		display, _ = json.Marshal(toolDisplay{Kind: u.Kind, Title: u.Title, Locations: u.Locations, Diffs: u.Diffs})
	}
	t.rec.ToolUse(store.ToolUse{ID: u.ID, Name: u.Name, Input: u.Input, Display: display})
}

func (t *turnSink) recordToolResult(r backends.ToolResult) {
	if t.rec == nil {
		return
	}
	t.flushText()
	t.rec.ToolResult(store.ToolResult{ID: r.ID, Name: r.Name, Summary: r.Summary, IsError: r.IsError})
}

// recordSwitch writes a model or mode switch of a live session to the
// store; "" leaves a value as it is.
func (s *Session) recordSwitch(model, mode string) {
	if !s.stored || model == "" && mode == "" {
		return
	}
	var u store.Update
	if model != "" {
		u.Model = &model
	}
	if mode != "" {
		u.Mode = &mode
	}
	if err := s.registry.store.Update(s.id, u); err != nil {
		s.log.Warn("store: recording the switch of model or mode", "err", err)
	}
}

// flushTimeout bounds how long a replay or a delete waits for the store's
// writer to commit what the recorders hold.
const flushTimeout = 10 * time.Second

// flush makes the store commit what its recorders hold, so that a read
// sees a live session's turns up to now.
func (r *Registry) flush(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if err := r.store.Flush(ctx); err != nil {
		r.log.Warn("store: flushing the recorders", "err", err)
	}
}
