package ask

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

// sessionLine is the line tether ask starts a new session with.
var sessionLine = regexp.MustCompile(`^\[session\] ([0-9a-f-]{36}): tether ask --session ([0-9a-f-]{36}) continues it$`)

// tether ask --session continues a stored conversation across
// invocations: each is a Tether of its own, and the store carries the
// session from one to the next.
func TestAskContinuesAStoredSession(t *testing.T) {
	state := t.TempDir()
	dir := t.TempDir()
	code, stdout, stderr := askRun(t, "", "--state-dir", state, "--backend", "mock", "--cwd", dir, "first question")
	require.Equal(t, askOK, code)
	assert.Equal(t, "first question\n", stdout)
	m := sessionLine.FindStringSubmatch(strings.SplitN(stderr, "\n", 2)[0])
	require.NotNil(t, m, "the new session's id on stderr: %q", stderr)
	id := m[1]
	assert.Equal(t, id, m[2])

	// From another directory, without --backend or --cwd: the session
	// runs where it was made, on its backend.
	code, stdout, stderr = askRun(t, "", "--state-dir", state, "--json", "--session", id, "second")
	require.Equal(t, askOK, code, stderr)
	lines := askJSONLines(t, stdout)
	res := lines[len(lines)-1].Result
	require.NotNil(t, res)
	assert.Equal(t, id, res.SessionID)
	assert.Empty(t, stderr, "a named session is not announced")

	st, err := store.Open(filepath.Join(state, store.FileName), store.Options{})
	require.NoError(t, err)
	ss, err := st.Get(id)
	require.NoError(t, err)
	assert.Equal(t, 2, ss.Turns, "one session, two turns")
	assert.Equal(t, dir, ss.Cwd)
	assert.Equal(t, "first question", ss.Title)
	require.NoError(t, st.Close())

	// A backend other than the stored one is refused, naming the field.
	code, _, stderr = askRun(t, "", "--state-dir", state, "--backend", "openai", "--openai-base-url", "http://127.0.0.1:1/v1", "--session", id, "third")
	assert.Equal(t, askFailed, code)
	assert.Contains(t, stderr, "invalid backend")

	// --new starts it afresh.
	code, _, _ = askRun(t, "", "--state-dir", state, "--backend", "mock", "--session", id, "--new", "fresh start")
	require.Equal(t, askOK, code)
	st, err = store.Open(filepath.Join(state, store.FileName), store.Options{})
	require.NoError(t, err)
	defer st.Close()
	ss, err = st.Get(id)
	require.NoError(t, err)
	assert.Equal(t, 1, ss.Turns)
	assert.Equal(t, "fresh start", ss.Title)
}

func TestAskWithoutAStore(t *testing.T) {
	code, _, stderr := askRun(t, "", "--no-store", "--backend", "mock", "hi")
	require.Equal(t, askOK, code)
	assert.NotContains(t, stderr, "[session]", "nothing to continue without a store")
}
