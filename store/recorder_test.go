package store_test

import (
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

func TestRecorderKeepsEventsInOrderWithTextRunsMerged(t *testing.T) {
	clock := newClock()
	st := openStore(t, store.WithClock(store.Options{}, clock.Now))
	newSession(t, st, "s", "/a")
	started := clock.Now()

	r := st.BeginTurn("s", prompt("list files"), "list files")
	r.Thinking("The user ")
	r.Thinking("wants ls.")
	r.Text("Let me ")
	r.Text("")
	r.Text("look.")
	input := []byte(`{"command":"ls"}`)
	r.ToolUse(store.ToolUse{ID: "t1", Name: "Bash", Input: input, Display: json.RawMessage(`{"kind":"execute","title":"ls"}`)})
	copy(input, `{"command":"rm"}`) // the recorder keeps its own copy
	r.Permission(store.Permission{ToolUseID: "t1", Tool: "Bash", Allow: true, Rule: "Bash(ls:*)"})
	r.ToolResult(store.ToolResult{ID: "t1", Name: "Bash", Summary: "a.go b.go"})
	r.ToolUse(store.ToolUse{ID: "t2", Name: "Edit", Input: json.RawMessage(`{}`)})
	r.Permission(store.Permission{ToolUseID: "t2", Tool: "Edit", Allow: false, Reason: "not now"})
	r.ToolResult(store.ToolResult{ID: "t2", Name: "Edit", Summary: "Edit denied: not now", IsError: true})
	r.Event("status", json.RawMessage(`{"status":"compacting"}`))
	r.Text("Two ")
	r.Text("files.")
	clock.Advance(3 * time.Second)
	r.End(store.TurnEnd{StopReason: "end_turn", Usage: store.Usage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 100, CacheWriteTokens: 7}, CostUSD: 0.25, ResumeHandle: "cli-1"})
	r.Text("after the end")
	flush(t, st)

	turns, err := st.Turns("s")
	require.NoError(t, err)
	require.Len(t, turns, 1)
	assert.Equal(t, store.Turn{
		Seq:    1,
		Prompt: prompt("list files"),
		Events: []store.Event{
			{Kind: store.EventThinking, Text: "The user wants ls."},
			{Kind: store.EventText, Text: "Let me look."},
			{Kind: store.EventToolUse, ToolUse: &store.ToolUse{ID: "t1", Name: "Bash", Input: json.RawMessage(`{"command":"ls"}`), Display: json.RawMessage(`{"kind":"execute","title":"ls"}`)}},
			{Kind: store.EventPermission, Permission: &store.Permission{ToolUseID: "t1", Tool: "Bash", Allow: true, Rule: "Bash(ls:*)"}},
			{Kind: store.EventToolResult, ToolResult: &store.ToolResult{ID: "t1", Name: "Bash", Summary: "a.go b.go"}},
			{Kind: store.EventToolUse, ToolUse: &store.ToolUse{ID: "t2", Name: "Edit", Input: json.RawMessage(`{}`)}},
			{Kind: store.EventPermission, Permission: &store.Permission{ToolUseID: "t2", Tool: "Edit", Reason: "not now"}},
			{Kind: store.EventToolResult, ToolResult: &store.ToolResult{ID: "t2", Name: "Edit", Summary: "Edit denied: not now", IsError: true}},
			{Kind: "status", Data: json.RawMessage(`{"status":"compacting"}`)},
			{Kind: store.EventText, Text: "Two files."},
		},
		StopReason: "end_turn",
		Usage:      store.Usage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 100, CacheWriteTokens: 7},
		CostUSD:    0.25,
		StartedAt:  started,
		EndedAt:    started.Add(3 * time.Second),
	}, turns[0])

	got, err := st.Get("s")
	require.NoError(t, err)
	assert.Equal(t, 1, got.Turns)
	assert.Equal(t, "list files", got.Title)
	assert.Equal(t, "cli-1", got.ResumeHandle)
	assert.Equal(t, started.Add(3*time.Second), got.UpdatedAt)
}

func TestSessionTotalsSumTheTurns(t *testing.T) {
	st := openStore(t, store.Options{})
	newSession(t, st, "s", "/a")
	recordTurn(st, "s", "first prompt\nsecond line", "one", store.Usage{InputTokens: 1, OutputTokens: 2, CacheReadTokens: 3, CacheWriteTokens: 4}, 0.5)
	recordTurn(st, "s", "second prompt", "two", store.Usage{InputTokens: 10, OutputTokens: 20, CacheReadTokens: 30, CacheWriteTokens: 40}, 0.25)
	flush(t, st)

	got, err := st.Get("s")
	require.NoError(t, err)
	assert.Equal(t, 2, got.Turns)
	assert.Equal(t, store.Usage{InputTokens: 11, OutputTokens: 22, CacheReadTokens: 33, CacheWriteTokens: 44}, got.Usage)
	assert.InDelta(t, 0.75, got.CostUSD, 1e-9)
	assert.Equal(t, "first prompt", got.Title, "the first prompt names the session")
	assert.Equal(t, "", got.ResumeHandle)

	turns, err := st.Turns("s")
	require.NoError(t, err)
	require.Len(t, turns, 2)
	for i, want := range []string{"one", "two"} {
		assert.Equal(t, i+1, turns[i].Seq)
		assert.Equal(t, []store.Event{{Kind: store.EventText, Text: want}}, turns[i].Events)
	}
}

// A turn in flight is in the file up to the last flush, its text run
// growing in place; a crash at any point leaves a readable turn.
func TestRecorderCommitsATurnInFlight(t *testing.T) {
	st := openStore(t, store.Options{FlushInterval: time.Hour}) // only explicit flushes
	newSession(t, st, "s", "/a")
	r := st.BeginTurn("s", prompt("p"), "p")
	r.Text("Hel")
	r.Text("lo")
	flush(t, st)

	turns, err := st.Turns("s")
	require.NoError(t, err)
	require.Len(t, turns, 1)
	assert.Equal(t, []store.Event{{Kind: store.EventText, Text: "Hello"}}, turns[0].Events)
	assert.True(t, turns[0].EndedAt.IsZero(), "the turn has not ended")
	assert.Empty(t, turns[0].StopReason)

	r.Text(", wor")
	flush(t, st)
	r.Text("ld")
	r.ToolUse(store.ToolUse{ID: "t", Name: "Read"})
	r.Text("!")
	flush(t, st)
	turns, err = st.Turns("s")
	require.NoError(t, err)
	assert.Equal(t, []store.Event{
		{Kind: store.EventText, Text: "Hello, world"},
		{Kind: store.EventToolUse, ToolUse: &store.ToolUse{ID: "t", Name: "Read"}},
		{Kind: store.EventText, Text: "!"},
	}, turns[0].Events)

	r.End(store.TurnEnd{StopReason: "cancelled"})
	flush(t, st)
	turns, err = st.Turns("s")
	require.NoError(t, err)
	assert.Equal(t, "cancelled", turns[0].StopReason)
	assert.False(t, turns[0].EndedAt.IsZero())
}

// A long run handed over a piece per flush, as a long answer is, is not
// rewritten whole at each flush: past 64 KiB its text goes on in another
// event, and Turns gives the run back as one.
func TestALongRunIsStoredInPartsAndReadWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	st := openAt(t, path, store.Options{FlushInterval: time.Hour}) // only explicit flushes
	newSession(t, st, "s", "/a")
	r := st.BeginTurn("s", prompt("p"), "p")
	piece := strings.Repeat("0123456789abcdef", 1<<10) // 16 KiB
	var want strings.Builder
	for range 20 {
		r.Text(piece)
		want.WriteString(piece)
		flush(t, st)
	}
	r.Thinking("hmm")
	r.Text("done")
	r.End(store.TurnEnd{StopReason: "end_turn"})
	flush(t, st)

	turns, err := st.Turns("s")
	require.NoError(t, err)
	require.Len(t, turns, 1)
	assert.Equal(t, []store.Event{
		{Kind: store.EventText, Text: want.String()},
		{Kind: store.EventThinking, Text: "hmm"},
		{Kind: store.EventText, Text: "done"},
	}, turns[0].Events)
	assert.Equal(t, 5+2, count(t, rawDB(t, path), `SELECT count(*) FROM events`),
		"320 KiB of text in events of at most 64 KiB (and a piece), then the thinking and the last text")
}

// Close commits what recorders hold, even of a turn that has not ended.
func TestCloseCommitsWhatRecordersHold(t *testing.T) {
	path := t.TempDir() + "/" + store.FileName
	st, err := store.Open(path, store.Options{FlushInterval: time.Hour})
	require.NoError(t, err)
	newSession(t, st, "s", "/a")
	ended := st.BeginTurn("s", prompt("one"), "one")
	ended.Text("done")
	ended.End(store.TurnEnd{StopReason: "end_turn"})
	running := st.BeginTurn("s", prompt("two"), "two")
	running.Text("half")
	require.NoError(t, st.Close())

	st = openAt(t, path, store.Options{})
	turns, err := st.Turns("s")
	require.NoError(t, err)
	require.Len(t, turns, 2)
	assert.Equal(t, "end_turn", turns[0].StopReason)
	assert.Equal(t, []store.Event{{Kind: store.EventText, Text: "done"}}, turns[0].Events)
	assert.Empty(t, turns[1].StopReason)
	assert.Equal(t, []store.Event{{Kind: store.EventText, Text: "half"}}, turns[1].Events)
}

func TestRecordersOfManySessionsAtOnce(t *testing.T) {
	st := openStore(t, store.Options{FlushInterval: time.Millisecond})
	const sessions, turns = 8, 5
	reply := strings.Repeat("token ", 200)
	var wg sync.WaitGroup
	for i := range sessions {
		id := "s" + string(rune('a'+i))
		newSession(t, st, id, "/a")
		wg.Go(func() {
			for range turns {
				recordTurn(st, id, "go", reply, store.Usage{OutputTokens: 1}, 0)
			}
		})
	}
	wg.Wait()
	flush(t, st)
	for i := range sessions {
		id := "s" + string(rune('a'+i))
		got, err := st.Turns(id)
		require.NoError(t, err)
		require.Len(t, got, turns, id)
		for _, turn := range got {
			assert.Equal(t, []store.Event{{Kind: store.EventText, Text: reply}}, turn.Events, id)
		}
	}
	assert.Zero(t, st.WriteErrors())
}

func TestNilRecorderRecordsNothing(t *testing.T) {
	var st *store.Store
	r := st.BeginTurn("s", nil, "")
	assert.Nil(t, r)
	r.Text("x")
	r.Thinking("x")
	r.ToolUse(store.ToolUse{})
	r.ToolResult(store.ToolResult{})
	r.Permission(store.Permission{})
	r.Event("x", nil)
	r.End(store.TurnEnd{})
}

func TestTurnOfAnUnstoredSessionIsAWriteError(t *testing.T) {
	var mu sync.Mutex
	var reported []error
	st := openStore(t, store.Options{OnWriteError: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}})
	r := st.BeginTurn("ghost", prompt("p"), "p")
	r.Text("boo")
	r.End(store.TurnEnd{})
	flush(t, st)
	flush(t, st)
	assert.Equal(t, int64(1), st.WriteErrors(), "given up at once, not retried")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, reported, 1)
	assert.ErrorIs(t, reported[0], store.ErrNotFound)
	assert.Contains(t, reported[0].Error(), "ghost")
}

// Another process holding the write lock past the busy timeout fails a
// commit; the writer tries again later, and the turns arrive whole and in
// order.
func TestWriterRetriesAfterTheFileWasBusy(t *testing.T) {
	clock := newClock()
	st := openStore(t, store.WithClock(store.Options{BusyTimeout: 20 * time.Millisecond, FlushInterval: time.Hour}, clock.Now))
	newSession(t, st, "s", "/a")
	db, err := sql.Open("sqlite", "file:"+st.Path())
	require.NoError(t, err)
	defer db.Close()
	locker, err := db.Conn(t.Context())
	require.NoError(t, err)
	defer locker.Close()
	_, err = locker.ExecContext(t.Context(), `BEGIN IMMEDIATE`)
	require.NoError(t, err)

	recordTurn(st, "s", "one", "first answer", store.Usage{OutputTokens: 1}, 0)
	recordTurn(st, "s", "two", "second answer", store.Usage{OutputTokens: 2}, 0)
	flush(t, st)
	flush(t, st)
	assert.Equal(t, int64(1), st.WriteErrors(), "tried once; the second turn waits for the first")

	_, err = locker.ExecContext(t.Context(), `ROLLBACK`)
	require.NoError(t, err)
	clock.Advance(time.Second) // the first retry is due
	flush(t, st)
	assert.Equal(t, int64(1), st.WriteErrors())
	turns, err := st.Turns("s")
	require.NoError(t, err)
	require.Len(t, turns, 2)
	for i, want := range []string{"first answer", "second answer"} {
		assert.Equal(t, i+1, turns[i].Seq)
		assert.Equal(t, []store.Event{{Kind: store.EventText, Text: want}}, turns[i].Events)
		assert.Equal(t, "end_turn", turns[i].StopReason)
	}
	got, err := st.Get("s")
	require.NoError(t, err)
	assert.Equal(t, int64(3), got.Usage.OutputTokens)
}

// Long texts (kept as they are) and short ones (copied into blocks) merge
// into one run in order, in whatever mix; a run flushed in the middle goes
// on in the same event.
func TestLongAndShortTextsMergeInOrder(t *testing.T) {
	st := openStore(t, store.Options{FlushInterval: time.Hour})
	newSession(t, st, "s", "/a")
	long := func(c string) string { return strings.Repeat(c, 3000) }
	for _, tc := range []struct {
		name  string
		texts []string
	}{
		{"one long", []string{long("a")}},
		{"long then short", []string{long("a"), "b", "c"}},
		{"short then long", []string{"a", long("b"), "c"}},
		{"long, long", []string{long("a"), long("b")}},
		{"many blocks", []string{strings.Repeat("x", 40<<10), "y", strings.Repeat("z", 20<<10)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := st.Turns("s")
			require.NoError(t, err)
			r := st.BeginTurn("s", prompt("p"), "p")
			half := len(tc.texts) / 2
			for _, s := range tc.texts[:half] {
				r.Text(s)
			}
			flush(t, st)
			for _, s := range tc.texts[half:] {
				r.Text(s)
			}
			r.End(store.TurnEnd{StopReason: "end_turn"})
			flush(t, st)
			turns, err := st.Turns("s")
			require.NoError(t, err)
			require.Len(t, turns, len(before)+1)
			assert.Equal(t, []store.Event{{Kind: store.EventText, Text: strings.Join(tc.texts, "")}}, turns[len(turns)-1].Events)
		})
	}
}
