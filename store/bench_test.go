package store_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

// benchStore opens a store for a benchmark, with its writer running as in
// production (flushing every DefaultFlushInterval).
func benchStore(b *testing.B) *store.Store {
	b.Helper()
	st, err := store.Open(filepath.Join(b.TempDir(), store.FileName), store.Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(b, err)
	b.Cleanup(func() { st.Close() })
	require.NoError(b, st.UpsertSession(store.Session{ID: "s", Backend: "mock"}))
	return st
}

// BenchmarkRecorderText is the cost the store adds per streamed token: one
// TurnRecorder.Text call, while the writer commits in the background. The
// tokens go to turns of 2000 (a 12 KB answer), begun and ended in the
// loop, as a long session's would. "nil" is a nil recorder, what runs
// without a store.
func BenchmarkRecorderText(b *testing.B) {
	b.Run("store", func(b *testing.B) {
		st := benchStore(b)
		r := st.BeginTurn("s", prompt("p"), "p")
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			r.Text("token ")
			if n++; n%2000 == 0 {
				r.End(store.TurnEnd{StopReason: "end_turn"})
				r = st.BeginTurn("s", prompt("p"), "p")
			}
		}
		r.End(store.TurnEnd{StopReason: "end_turn"})
	})
	b.Run("nil", func(b *testing.B) {
		var r *store.TurnRecorder
		b.ReportAllocs()
		for b.Loop() {
			r.Text("token ")
		}
	})
}

// BenchmarkRecorderToolUse is the cost of a non-text event: a copy of its
// JSON, a queued op and a wake-up of the writer. The writer's commits are
// let catch up every 1000 events, outside the timer, as no agent calls
// tools a million times a second.
func BenchmarkRecorderToolUse(b *testing.B) {
	st := benchStore(b)
	r := st.BeginTurn("s", prompt("p"), "p")
	input := json.RawMessage(`{"command":"go test ./..."}`)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		r.ToolUse(store.ToolUse{ID: "t", Name: "Bash", Input: input})
		if n++; n%1000 == 0 {
			b.StopTimer()
			flush(b, st)
			b.StartTimer()
		}
	}
	r.End(store.TurnEnd{StopReason: "end_turn"})
}

// BenchmarkWriterTurn is the writer's side, off the token path: recording
// a turn of 500 tokens and 2 tool events, then waiting for its commit.
func BenchmarkWriterTurn(b *testing.B) {
	st := benchStore(b)
	b.ReportAllocs()
	for b.Loop() {
		r := st.BeginTurn("s", prompt("p"), "p")
		for range 500 {
			r.Text("token ")
		}
		r.ToolUse(store.ToolUse{ID: "t", Name: "Read", Input: json.RawMessage(`{}`)})
		r.ToolResult(store.ToolResult{ID: "t", Name: "Read", Summary: "ok"})
		r.End(store.TurnEnd{StopReason: "end_turn"})
		flush(b, st)
	}
	b.StopTimer()
	got, err := st.Get("s")
	require.NoError(b, err)
	require.Positive(b, got.Turns, fmt.Sprint(got))
}
