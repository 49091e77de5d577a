package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tether-dev/tether/store"
)

// The life of a session in the store, as the server would drive it.
func Example() {
	dir, _ := os.MkdirTemp("", "tether-example")
	defer os.RemoveAll(dir)
	st, err := store.Open(filepath.Join(dir, store.FileName), store.Options{})
	if err != nil {
		fmt.Println("running without a store:", err) // errors.Is(err, store.ErrUnusable)
		return
	}
	defer st.Close()

	// Session created (first query, or ACP session/new).
	_ = st.Claim("s1")
	_ = st.UpsertSession(store.Session{ID: "s1", Backend: "mock", Cwd: "/src/app"})

	// A turn: the recorder goes where the session's sink is.
	rec := st.BeginTurn("s1", json.RawMessage(`[{"type":"text","text":"Say hi"}]`), "Say hi")
	rec.Text("Hi")
	rec.Text(" there.")
	rec.End(store.TurnEnd{StopReason: "end_turn", Usage: store.Usage{InputTokens: 2, OutputTokens: 2}})

	// session/load: flush what recorders hold, then replay.
	_ = st.Flush(context.Background())
	turns, _ := st.Turns("s1")
	for _, t := range turns {
		for _, ev := range t.Events {
			fmt.Printf("turn %d %s %q\n", t.Seq, ev.Kind, ev.Text)
		}
	}

	// session/list.
	page, _ := st.List(store.ListOptions{Cwd: "/src/app"})
	for _, s := range page.Sessions {
		fmt.Printf("%s %q turns=%d out=%d\n", s.ID, s.Title, s.Turns, s.Usage.OutputTokens)
	}
	// Output:
	// turn 1 text "Hi there."
	// s1 "Say hi" turns=1 out=2
}
