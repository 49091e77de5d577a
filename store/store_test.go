package store_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

func TestDefaultPath(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	cases := []struct {
		name, stateDir, xdg, want string
	}{
		{"TETHER_STATE_DIR wins", "/srv/tether", "/xdg", "/srv/tether/tether.db"},
		{"XDG_STATE_HOME", "", "/xdg", "/xdg/tether/tether.db"},
		{"relative XDG_STATE_HOME is ignored", "", "xdg", filepath.Join(home, ".local/state/tether/tether.db")},
		{"home", "", "", filepath.Join(home, ".local/state/tether/tether.db")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(store.EnvStateDir, c.stateDir)
			t.Setenv("XDG_STATE_HOME", c.xdg)
			got, err := store.DefaultPath()
			require.NoError(t, err)
			assert.Equal(t, c.want, got)
		})
	}
}

func TestTitle(t *testing.T) {
	long := strings.Repeat("word ", 40)
	cases := []struct{ prompt, want string }{
		{"", ""},
		{"  \n\t\n", ""},
		{"Fix the build\nIt fails on CI", "Fix the build"},
		{"\n\n   explain   this\tcode  \nmore", "explain this code"},
		{long, strings.TrimSpace(long[:75]) + "…"},
		{strings.Repeat("é", 100), strings.Repeat("é", 79) + "…"},
	}
	for _, c := range cases {
		got := store.Title(c.prompt)
		assert.Equal(t, c.want, got, "Title(%q)", c.prompt)
		assert.LessOrEqual(t, len([]rune(got)), store.TitleMaxRunes)
	}
}

func TestOpenCreatesPrivateDirAndFileInWALMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, store.FileName)
	st := openAt(t, path, store.Options{})
	assert.Equal(t, path, st.Path())

	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	fi, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	var mode string
	require.NoError(t, rawDB(t, path).QueryRow(`PRAGMA journal_mode`).Scan(&mode))
	assert.Equal(t, "wal", mode)
}

func TestSessionUpsertUpdateGet(t *testing.T) {
	clock := newClock()
	st := openStore(t, store.WithClock(store.Options{}, clock.Now))
	created := clock.Now()
	require.NoError(t, st.UpsertSession(store.Session{
		ID: "s1", Backend: "claude", Model: "opus", Mode: "default", Cwd: "/src/app",
		Options: json.RawMessage(`{"systemPrompt":"be brief"}`), Title: "first",
		ResumeHandle: "h1",
		Turns:        99, CostUSD: 9, // the store's own totals: ignored
	}))

	got, err := st.Get("s1")
	require.NoError(t, err)
	assert.Equal(t, store.Session{
		ID: "s1", Backend: "claude", Model: "opus", Mode: "default", Cwd: "/src/app",
		Options: json.RawMessage(`{"systemPrompt":"be brief"}`), Title: "first",
		CreatedAt: created, UpdatedAt: created, ResumeHandle: "h1",
	}, got)

	// Storing it again changes what was given, keeps the title and resume
	// handle when none is given, and keeps the creation time.
	clock.Advance(time.Minute)
	require.NoError(t, st.UpsertSession(store.Session{ID: "s1", Backend: "claude", Model: "sonnet", Cwd: "/src/app"}))
	got, err = st.Get("s1")
	require.NoError(t, err)
	assert.Equal(t, "sonnet", got.Model)
	assert.Equal(t, "", got.Mode)
	assert.Nil(t, got.Options)
	assert.Equal(t, "first", got.Title)
	assert.Equal(t, "h1", got.ResumeHandle)
	assert.Equal(t, created, got.CreatedAt)
	assert.Equal(t, created.Add(time.Minute), got.UpdatedAt)

	clock.Advance(time.Minute)
	mode, handle := "plan", "h2"
	require.NoError(t, st.Update("s1", store.Update{Mode: &mode, ResumeHandle: &handle, Options: json.RawMessage(`{"maxTurns":3}`)}))
	got, err = st.Get("s1")
	require.NoError(t, err)
	assert.Equal(t, "sonnet", got.Model, "a field Update does not name stays")
	assert.Equal(t, "plan", got.Mode)
	assert.Equal(t, "h2", got.ResumeHandle)
	assert.JSONEq(t, `{"maxTurns":3}`, string(got.Options))
	assert.Equal(t, created.Add(2*time.Minute), got.UpdatedAt)

	require.ErrorIs(t, st.Update("nope", store.Update{Mode: &mode}), store.ErrNotFound)
	_, err = st.Get("nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.Error(t, st.UpsertSession(store.Session{ID: "s2", Backend: "mock", Options: json.RawMessage(`{bad`)}))
	require.Error(t, st.UpsertSession(store.Session{ID: "", Backend: "mock"}))
}

func TestListPagesNewestFirstAndFiltersByCwd(t *testing.T) {
	clock := newClock()
	st := openStore(t, store.WithClock(store.Options{}, clock.Now))
	// s0..s6 one minute apart, then s7 and s8 at the same instant; odd
	// ones in /b.
	for i := range 9 {
		cwd := "/a"
		if i%2 == 1 {
			cwd = "/b"
		}
		newSession(t, st, "s"+string(rune('0'+i)), cwd)
		if i < 7 {
			clock.Advance(time.Minute)
		}
	}
	// Writing a session again makes it the newest.
	clock.Advance(time.Minute)
	newSession(t, st, "s2", "/a")

	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		page, err := st.List(store.ListOptions{Limit: 4, Cursor: cursor})
		require.NoError(t, err)
		assert.LessOrEqual(t, len(page.Sessions), 4)
		for _, s := range page.Sessions {
			ids = append(ids, s.ID)
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	assert.Equal(t, []string{"s2", "s8", "s7", "s6", "s5", "s4", "s3", "s1", "s0"}, ids)

	page, err := st.List(store.ListOptions{Cwd: "/b"})
	require.NoError(t, err)
	var inB []string
	for _, s := range page.Sessions {
		inB = append(inB, s.ID)
	}
	assert.Equal(t, []string{"s7", "s5", "s3", "s1"}, inB)
	assert.Empty(t, page.Next)

	for _, bad := range []string{"garbage!", "Zm9v"} {
		_, err = st.List(store.ListOptions{Cursor: bad})
		require.ErrorIs(t, err, store.ErrBadCursor, bad)
	}
}

func TestDeleteRemovesTurnsAndEvents(t *testing.T) {
	st := openStore(t, store.Options{})
	newSession(t, st, "gone", "/a")
	newSession(t, st, "kept", "/a")
	for _, id := range []string{"gone", "kept"} {
		r := st.BeginTurn(id, prompt("hi"), "hi")
		r.Text("hello")
		r.ToolUse(store.ToolUse{ID: "t1", Name: "Read", Input: json.RawMessage(`{}`)})
		r.End(store.TurnEnd{StopReason: "end_turn"})
	}
	flush(t, st)

	require.NoError(t, st.Delete("gone"))
	_, err := st.Get("gone")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = st.Turns("gone")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, st.Delete("gone"), store.ErrNotFound)

	db := rawDB(t, st.Path())
	assert.Zero(t, count(t, db, `SELECT count(*) FROM turns WHERE session_id = 'gone'`))
	assert.Zero(t, count(t, db, `SELECT count(*) FROM events WHERE session_id = 'gone'`))
	turns, err := st.Turns("kept")
	require.NoError(t, err)
	require.Len(t, turns, 1)
	assert.Len(t, turns[0].Events, 2)
}

func TestPruneRemovesSessionsNotUpdatedForTheAge(t *testing.T) {
	clock := newClock()
	st := openStore(t, store.WithClock(store.Options{}, clock.Now))
	newSession(t, st, "old", "/a")
	newSession(t, st, "touched", "/a")
	clock.Advance(40 * 24 * time.Hour)
	newSession(t, st, "new", "/a")
	recordTurn(st, "touched", "again", "yes", store.Usage{}, 0)
	flush(t, st)

	n, err := st.Prune(30 * 24 * time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, err = st.Get("old")
	require.ErrorIs(t, err, store.ErrNotFound)
	for _, id := range []string{"new", "touched"} {
		_, err = st.Get(id)
		require.NoError(t, err, id)
	}
}

func TestClosedStore(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName), store.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	require.NoError(t, st.Close(), "Close twice")
	_, err = st.Get("x")
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, st.UpsertSession(store.Session{ID: "x", Backend: "mock"}), store.ErrClosed)
	require.ErrorIs(t, st.Flush(t.Context()), store.ErrClosed)
	// A recorder of a closed store records nothing and does not block.
	r := st.BeginTurn("x", prompt("p"), "p")
	r.Text("t")
	r.End(store.TurnEnd{})
}
