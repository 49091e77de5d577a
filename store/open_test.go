package store_test

import (
	"bytes"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

// requireUnusableAndUntouched opens path, expects ErrUnusable with a
// message containing why, and checks the file and its directory are as they
// were.
func requireUnusableAndUntouched(t *testing.T, path, why string) {
	t.Helper()
	before, err := os.ReadFile(path)
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)

	st, err := store.Open(path, store.Options{})
	if err == nil {
		st.Close()
	}
	require.ErrorIs(t, err, store.ErrUnusable)
	assert.Contains(t, err.Error(), why)
	assert.Contains(t, err.Error(), path)

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(before, after), "the file changed")
	entriesAfter, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Equal(t, len(entries), len(entriesAfter), "files appeared next to it")
}

func TestOpenRefusesGarbageAndLeavesItAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	garbage := make([]byte, 10000)
	rand.Read(garbage)
	require.NoError(t, os.WriteFile(path, garbage, 0o600))
	requireUnusableAndUntouched(t, path, "not an SQLite database")
}

func TestOpenRefusesACorruptDatabaseAndLeavesItAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	st, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	newSession(t, st, "s", "/a")
	require.NoError(t, st.Close())

	// Keep SQLite's header, scribble over the rest of the first page (the
	// page size, the schema table).
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	for i := 16; i < 4096 && i < len(data); i++ {
		data[i] = 0xA5
	}
	require.NoError(t, os.WriteFile(path, data, 0o600))
	requireUnusableAndUntouched(t, path, "")
}

func TestOpenRefusesAnotherProgramsDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE notes (body TEXT)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	requireUnusableAndUntouched(t, path, "not a Tether store")
}

func TestOpenRefusesANewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	st, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Close())
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = db.Exec(`PRAGMA user_version = 999`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	requireUnusableAndUntouched(t, path, "newer Tether")
}

func TestOpenRefusesWhatIsNotAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	require.NoError(t, os.Mkdir(path, 0o700))
	_, err := store.Open(path, store.Options{})
	require.ErrorIs(t, err, store.ErrUnusable)
	assert.Contains(t, err.Error(), "not a regular file")
}

func TestFullDiskFailsTheWriteNotTheStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	st, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	newSession(t, st, "s", "/a")
	recordTurn(st, "s", "first", "kept answer", store.Usage{OutputTokens: 2}, 0.5)
	require.NoError(t, st.Close())

	// max_page_count below the file's size pins it at its size: any write
	// that needs a new page fails with SQLITE_FULL, as on a full disk.
	var reported []error
	clock := newClock()
	st = openAt(t, path, store.WithPragmas(store.WithClock(store.Options{
		OnWriteError: func(err error) { reported = append(reported, err) }, // writer goroutine only
	}, clock.Now), "max_page_count(1)"))

	err = st.UpsertSession(store.Session{ID: "big", Backend: "mock", Options: bigJSON(1 << 20)})
	require.Error(t, err, "a synchronous write fails with its error")
	assert.Contains(t, err.Error(), "full")

	r := st.BeginTurn("s", prompt("second"), "second")
	r.Text(string(bytes.Repeat([]byte("x"), 1<<20)))
	r.End(store.TurnEnd{StopReason: "end_turn", CostUSD: 1})
	// The writer tries again later, a few times, then drops the turn.
	for range store.MaxWriteAttempts + 2 {
		flush(t, st)
		clock.Advance(time.Minute)
	}
	assert.Equal(t, int64(store.MaxWriteAttempts), st.WriteErrors())
	require.Len(t, reported, store.MaxWriteAttempts)
	assert.Contains(t, reported[0].Error(), "full")

	// Reads work and nothing written before is lost.
	got, err := st.Get("s")
	require.NoError(t, err)
	assert.InDelta(t, 0.5, got.CostUSD, 1e-9, "the failed turn's end is not counted")
	turns, err := st.Turns("s")
	require.NoError(t, err)
	require.NotEmpty(t, turns)
	assert.Equal(t, []store.Event{{Kind: store.EventText, Text: "kept answer"}}, turns[0].Events)
	for _, turn := range turns[1:] {
		assert.Empty(t, turn.Events, "the failed turn has no half-written events")
	}
	var check string
	require.NoError(t, rawDB(t, path).QueryRow(`PRAGMA integrity_check`).Scan(&check))
	assert.Equal(t, "ok", check)
}

// bigJSON is a JSON string of n bytes.
func bigJSON(n int) []byte {
	return append(append([]byte{'"'}, bytes.Repeat([]byte("y"), n)...), '"')
}
