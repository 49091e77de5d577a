package store

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// TurnRecorder records one turn. Its methods only append to memory and never
// wait for the file: the Store's writer commits what it holds (see the
// package doc for when, and what a crash loses). Consecutive Text calls, or
// Thinking calls, merge into one event; a Text call costs a lock and a copy
// into the run's buffer, with no allocation but a pooled block now and then,
// and a long text is kept without a copy (runBuffer).
//
// Methods are safe for concurrent use, though a turn's events come from one
// goroutine in practice (the backend's Query). Calls after End do nothing. A
// nil *TurnRecorder records nothing, so code can record unconditionally when
// it runs without a store.
type TurnRecorder struct {
	s         *Store
	sessionID string
	prompt    json.RawMessage
	title     string
	startedAt time.Time

	mu      sync.Mutex
	discard bool // the writer gave up on this turn, or the Store was closed
	ended   bool
	end     TurnEnd
	endedAt time.Time
	// endTaken says the writer has the end (in a batch it is committing).
	endTaken bool
	nextSeq  int       // the seq of the turn's next new event
	runKind  EventKind // kind of the open run, "" when none
	runSeq   int       // the open run's event seq
	// runStored says the run's event was handed to the writer already, so
	// more text extends it rather than inserts it; runBytes is how much
	// text that event holds (see maxEventText).
	runStored bool
	runBytes  int
	run       runBuffer // the open run's text not yet handed to the writer
	ops       []op      // what the writer has not taken yet, in order

	// Owned by the writer goroutine: where the turn is in the file.
	inserted bool      // the turn's row is committed
	turnSeq  int       // its seq, once inserted
	failures int       // consecutive failed commits
	retryAt  time.Time // when to try again after a failed commit
}

// op is one change to a turn's events.
type op struct {
	seq int
	// extend appends ev.Text to the stored run seq instead of inserting ev.
	extend bool
	ev     Event
}

// BeginTurn starts recording a turn of session sessionID, which must be
// stored (UpsertSession) first. prompt is opaque JSON kept as the turn's
// prompt (content blocks, as the caller wants to replay them); promptText is
// its plain text, whose [Title] names the session when it has no title yet.
// The turn's row is written by the writer with the turn's first commit: at
// its first event other than text, its end, or the next flush, whichever
// comes first (a short answer costs one commit, not two). On a nil Store it
// returns nil, a recorder that records nothing.
func (s *Store) BeginTurn(sessionID string, prompt json.RawMessage, promptText string) *TurnRecorder {
	if s == nil {
		return nil
	}
	r := &TurnRecorder{
		s:         s,
		sessionID: sessionID,
		prompt:    bytes.Clone(prompt),
		title:     Title(promptText),
		startedAt: s.now(),
	}
	s.mu.Lock()
	if s.closed {
		r.discard = true
	} else {
		s.active = append(s.active, r)
	}
	s.mu.Unlock()
	return r
}

// Text records assistant text; it merges with the text recorded just
// before it.
func (r *TurnRecorder) Text(s string) { r.appendRun(EventText, s) }

// Thinking records the model's visible reasoning; it merges with the
// thinking recorded just before it.
func (r *TurnRecorder) Thinking(s string) { r.appendRun(EventThinking, s) }

// ToolUse records the agent calling a tool. Input and Display are copied.
func (r *TurnRecorder) ToolUse(u ToolUse) {
	u.Input, u.Display = bytes.Clone(u.Input), bytes.Clone(u.Display)
	r.addEvent(Event{Kind: EventToolUse, ToolUse: &u})
}

// ToolResult records the outcome of a tool call.
func (r *TurnRecorder) ToolResult(res ToolResult) {
	r.addEvent(Event{Kind: EventToolResult, ToolResult: &res})
}

// Permission records the answer to a permission request.
func (r *TurnRecorder) Permission(p Permission) {
	r.addEvent(Event{Kind: EventPermission, Permission: &p})
}

// Event records an event of a kind of the caller's, with opaque JSON data
// (copied). A built-in or empty kind is ignored (and logged): those have
// their own methods.
func (r *TurnRecorder) Event(kind EventKind, data json.RawMessage) {
	if r == nil {
		return
	}
	if kind == "" || kind.builtin() {
		r.s.log.Warn("store: TurnRecorder.Event needs a kind of the caller's", "kind", kind)
		return
	}
	r.addEvent(Event{Kind: kind, Data: bytes.Clone(data)})
}

// End records how the turn ended and hands it to the writer, which commits
// it at once and adds its usage and cost to the session's. Later calls of
// any method do nothing.
func (r *TurnRecorder) End(end TurnEnd) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.discard || r.ended {
		r.mu.Unlock()
		return
	}
	r.closeRunLocked()
	r.ended, r.end, r.endedAt = true, end, r.s.now()
	r.mu.Unlock()
	r.s.poke()
}

// appendRun is Text and Thinking: the token path.
func (r *TurnRecorder) appendRun(kind EventKind, s string) {
	if r == nil || s == "" {
		return
	}
	r.mu.Lock()
	if r.discard || r.ended {
		r.mu.Unlock()
		return
	}
	if r.runKind != kind {
		r.closeRunLocked()
		r.runKind, r.runSeq, r.runStored, r.runBytes = kind, r.nextSeq, false, 0
		r.nextSeq++
	}
	r.run.append(s)
	r.mu.Unlock()
}

// addEvent queues a non-text event and wakes the writer to commit it.
func (r *TurnRecorder) addEvent(ev Event) {
	if r == nil {
		return
	}
	r.mu.Lock()
	if r.discard || r.ended {
		r.mu.Unlock()
		return
	}
	r.closeRunLocked()
	r.ops = append(r.ops, op{seq: r.nextSeq, ev: ev})
	r.nextSeq++
	r.mu.Unlock()
	r.s.poke()
}

// closeRunLocked ends the open run, queueing its unsent text.
func (r *TurnRecorder) closeRunLocked() {
	r.cutRunLocked()
	r.runKind = ""
}

// maxEventText bounds the text of one stored event. Extending an event
// rewrites all of its text (SQLite rewrites the row), so a long run,
// handed over a piece per flush, continues in a new event of its kind once
// its event holds this much; Turns joins them back into one run.
const maxEventText = 64 << 10

// cutRunLocked queues the open run's text that the writer has not had yet;
// the run stays open, and later text extends the same event (or, past
// maxEventText, the next one).
func (r *TurnRecorder) cutRunLocked() {
	if r.runKind == "" || r.run.n == 0 {
		return
	}
	if r.runStored && r.runBytes >= maxEventText {
		r.runSeq, r.runStored, r.runBytes = r.nextSeq, false, 0
		r.nextSeq++
	}
	text := r.run.take()
	r.ops = append(r.ops, op{seq: r.runSeq, extend: r.runStored, ev: Event{Kind: r.runKind, Text: text}})
	r.runStored = true
	r.runBytes += len(text)
}

// batch is what the writer takes from a recorder to commit in one
// transaction.
type batch struct {
	ops     []op
	end     bool // finish the turn with the fields below
	endInfo TurnEnd
	endedAt time.Time
}

// take hands the writer everything the recorder holds, cutting the open run.
// discarded reports that the writer gave up on the turn.
func (r *TurnRecorder) take() (b batch, discarded bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.discard {
		return batch{}, true
	}
	r.cutRunLocked()
	b.ops, r.ops = r.ops, nil
	if r.ended && !r.endTaken {
		r.endTaken = true
		b.end, b.endInfo, b.endedAt = true, r.end, r.endedAt
	}
	return b, false
}

// giveBack returns a batch whose commit failed, to be tried again first.
func (r *TurnRecorder) giveBack(b batch) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(b.ops, r.ops...)
	if b.end {
		r.endTaken = false
	}
}

// giveUp drops what the recorder holds and makes it record nothing more.
func (r *TurnRecorder) giveUp() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.discard = true
	r.ops = nil
	r.run.reset()
}

// runBlockSize is the size of a runBuffer's blocks.
const runBlockSize = 16 << 10

// runBlocks pools the blocks of every recorder's runs.
var runBlocks = sync.Pool{New: func() any {
	b := make([]byte, 0, runBlockSize)
	return &b
}}

// runBuffer is a run's text not yet handed to the writer. Short texts (a
// token) are copied into blocks of runBlockSize bytes: a growing slice
// would copy its text again at each growth, some four times over for a
// long answer, and the token path of a stored session would allocate
// several times what it streams; blocks are filled once, joined once for
// the writer, and go back to a pool. A long text that starts the buffer is
// kept as it is (strings do not change), and handed to the writer without
// a copy if nothing follows it: a caller that gathers a turn's text itself
// and hands it over in pieces (the sessions package) costs no copy at all.
type runBuffer struct {
	shared string    // a long text kept as it is; only when blocks is empty
	blocks []*[]byte // each of capacity runBlockSize; the last one filling
	n      int       // bytes held
}

// runShareMin is the length from which a text starting the buffer is kept
// rather than copied.
const runShareMin = 1 << 10

func (b *runBuffer) append(s string) {
	if b.n == 0 && len(s) >= runShareMin {
		b.shared, b.n = s, len(s)
		return
	}
	if b.shared != "" {
		shared := b.shared
		b.shared, b.n = "", 0
		b.copyIn(shared)
	}
	b.copyIn(s)
}

// copyIn copies s into the blocks.
func (b *runBuffer) copyIn(s string) {
	b.n += len(s)
	for s != "" {
		if len(b.blocks) == 0 || len(*b.blocks[len(b.blocks)-1]) == runBlockSize {
			b.blocks = append(b.blocks, runBlocks.Get().(*[]byte))
		}
		last := b.blocks[len(b.blocks)-1]
		k := min(runBlockSize-len(*last), len(s))
		*last = append(*last, s[:k]...)
		s = s[k:]
	}
}

// take returns the text held, and empties the buffer.
func (b *runBuffer) take() string {
	if b.shared != "" {
		s := b.shared
		b.shared, b.n = "", 0
		return s
	}
	var sb strings.Builder
	sb.Grow(b.n)
	for _, blk := range b.blocks {
		sb.Write(*blk)
	}
	b.reset()
	return sb.String()
}

// reset drops the text held, giving the blocks back to the pool.
func (b *runBuffer) reset() {
	for i, blk := range b.blocks {
		*blk = (*blk)[:0]
		runBlocks.Put(blk)
		b.blocks[i] = nil
	}
	b.shared, b.blocks, b.n = "", b.blocks[:0], 0
}
