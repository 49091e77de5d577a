package cli

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

// askIn makes a session with tether ask in the store in state and returns
// its id.
func askIn(t *testing.T, state, cwd string, args ...string) string {
	t.Helper()
	code, _, stderr := run(t, "", "", append([]string{"ask", "--state-dir", state, "--backend", "mock", "--cwd", cwd}, args...)...)
	require.Equal(t, exitOK, code)
	if m := regexp.MustCompile(`\[session\] ([0-9a-f-]{36}):`).FindStringSubmatch(stderr); m != nil {
		return m[1]
	}
	return ""
}

func TestSessionsListsShowsAndRemoves(t *testing.T) {
	state, dir := t.TempDir(), t.TempDir()
	code, stdout, stderr := run(t, "", "", "sessions", "--state-dir", state)
	assert.Equal(t, exitOK, code)
	assert.Empty(t, stdout+stderr, "no store, no session")
	assert.NoFileExists(t, filepath.Join(state, store.FileName), "listing makes no store")

	first := askIn(t, state, dir, "Fix the parser\nit drops the last line\n/think where is it?\n/tool Bash {\"command\":\"ls\"}")
	askIn(t, state, dir, "--session", first, "/tokens 2")
	second := askIn(t, state, dir, "second session")
	require.NotEmpty(t, first)
	require.NotEmpty(t, second)

	code, stdout, _ = run(t, "", "", "sessions", "--state-dir", state)
	require.Equal(t, exitOK, code)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3, "a header and a row per session")
	assert.Regexp(t, `^ID\s+TITLE\s+BACKEND\s+CWD\s+UPDATED\s+TURNS$`, lines[0])
	tail := dir[len(dir)-20:]
	assert.Regexp(t, "^"+second+`\s+second session\s+mock\s+\S*`+regexp.QuoteMeta(tail)+`\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+1$`, lines[1],
		"newest first; a long directory cut at its front")
	assert.Regexp(t, "^"+first+`\s+Fix the parser\s+mock\s+.*\s+2$`, lines[2])

	code, stdout, _ = run(t, "", "", "sessions", "--state-dir", state, "--json")
	require.Equal(t, exitOK, code)
	var got []sessionLine
	for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var s sessionLine
		require.NoError(t, json.Unmarshal([]byte(l), &s), l)
		got = append(got, s)
	}
	require.Len(t, got, 2)
	assert.Equal(t, second, got[0].SessionID)
	assert.Equal(t, first, got[1].SessionID)
	assert.Equal(t, "Fix the parser", got[1].Title)
	assert.Equal(t, dir, got[1].Cwd)
	assert.Equal(t, 2, got[1].Turns)
	assert.NotEmpty(t, got[1].UpdatedAt)

	code, stdout, _ = run(t, "", "", "sessions", "show", "--state-dir", state, first)
	require.Equal(t, exitOK, code)
	for _, want := range []string{
		"── 1 · ", "> Fix the parser\n> it drops the last line\n",
		"Fix the parser\nit drops the last line\n[thinking] where is it?\n",
		`[tool] Bash {"command":"ls"}`,
		"[permission] Bash denied: nobody to ask: tether ask runs without a terminal\n",
		"[tool failed] Bash denied: nobody to ask",
		"[end_turn · ", "── 2 · ", "> /tokens 2\n", "tok1 tok2\n[end_turn · ",
		"Session " + first + " · mock · " + dir + " · 2 turns · ",
	} {
		assert.Contains(t, stdout, want)
	}

	code, _, stderr = run(t, "", "", "sessions", "rm", "--state-dir", state, first, "nope")
	assert.Equal(t, 1, code, "one of them was not there")
	assert.Contains(t, stderr, `no stored session "nope"`)
	code, stdout, _ = run(t, "", "", "sessions", "--state-dir", state, "--json")
	require.Equal(t, exitOK, code)
	assert.Equal(t, 1, strings.Count(stdout, "\n"))
	assert.Contains(t, stdout, second)
	code, _, stderr = run(t, "", "", "sessions", "show", "--state-dir", state, first)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no stored session")
}

func TestSessionsUsage(t *testing.T) {
	for _, args := range [][]string{{"sessions", "show"}, {"sessions", "rm"}, {"sessions", "extra"}, {"sessions", "--bogus"}} {
		code, stdout, _ := run(t, "", "", args...)
		assert.Equal(t, exitUsage, code, "%q", args)
		assert.Empty(t, stdout)
	}
	code, stdout, _ := run(t, "", "", "help", "sessions")
	assert.Equal(t, exitOK, code)
	assert.True(t, strings.HasPrefix(stdout, "Usage: tether sessions [flags]\n"))
	assert.Contains(t, stdout, "-state-dir")
}

// A store file that cannot serve is reported and left as it was.
func TestSessionsOnACorruptStore(t *testing.T) {
	state := t.TempDir()
	path := filepath.Join(state, store.FileName)
	junk := []byte("not a database at all")
	require.NoError(t, os.WriteFile(path, junk, 0o600))
	code, _, stderr := run(t, "", "", "sessions", "--state-dir", state)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "not an SQLite database")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, junk, data)
}

// --store-max-age deletes, at start, the sessions not used for that long.
func TestStoreMaxAgePrunesAtStart(t *testing.T) {
	state, dir := t.TempDir(), t.TempDir()
	old := askIn(t, state, dir, "an old question")
	recent := askIn(t, state, dir, "a recent one")
	// As if the first had last been used two days ago.
	db, err := sql.Open("sqlite", filepath.Join(state, store.FileName))
	require.NoError(t, err)
	_, err = db.Exec(`UPDATE sessions SET updated_at = updated_at - ? WHERE id = ?`, (48 * time.Hour).Milliseconds(), old)
	require.NoError(t, err)
	require.NoError(t, db.Close())

	code, _, stderr := run(t, `{"jsonrpc":"2.0","id":1,"method":"initialize"}`+"\n", "", "--state-dir", state, "--store-max-age", "24h")
	require.Equal(t, exitOK, code)
	assert.Contains(t, stderr, "deleted sessions not used for 24h0m0s")
	_, stdout, _ := run(t, "", "", "sessions", "--state-dir", state, "--json")
	assert.NotContains(t, stdout, old)
	assert.Contains(t, stdout, recent)
}
