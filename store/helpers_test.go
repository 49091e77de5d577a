package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

// guard bounds every wait of a test.
const guard = 20 * time.Second

// fakeClock is a settable clock for stores under test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_800_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openStore opens a store in a fresh temp dir and closes it at cleanup.
func openStore(t *testing.T, opts store.Options) *store.Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "state", store.FileName), opts)
}

// openAt opens the store at path and closes it at cleanup.
func openAt(t *testing.T, path string, opts store.Options) *store.Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	st, err := store.Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

// flush waits until the writer has committed what the recorders hold.
func flush(t testing.TB, st *store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	require.NoError(t, st.Flush(ctx))
}

// rawDB opens path directly, to look at what the store wrote.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// count runs a count query on db.
func count(t *testing.T, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(query, args...).Scan(&n))
	return n
}

// newSession stores a session with the given id and cwd.
func newSession(t *testing.T, st *store.Store, id, cwd string) {
	t.Helper()
	require.NoError(t, st.UpsertSession(store.Session{ID: id, Backend: "mock", Cwd: cwd}))
}

// prompt is a turn's prompt as the caller stores it: content blocks.
func prompt(text string) json.RawMessage {
	b, _ := json.Marshal([]map[string]string{{"type": "text", "text": text}})
	return b
}

// recordTurn records a whole turn of text and ends it.
func recordTurn(st *store.Store, id, text, reply string, usage store.Usage, cost float64) {
	r := st.BeginTurn(id, prompt(text), text)
	for _, tok := range splitTokens(reply) {
		r.Text(tok)
	}
	r.End(store.TurnEnd{StopReason: "end_turn", Usage: usage, CostUSD: cost})
}

// splitTokens cuts s into tokens of up to 3 bytes, as a stream would.
func splitTokens(s string) []string {
	var toks []string
	for len(s) > 3 {
		toks = append(toks, s[:3])
		s = s[3:]
	}
	if s != "" {
		toks = append(toks, s)
	}
	return toks
}
