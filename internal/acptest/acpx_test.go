//go:build linux

package acptest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/testenv"
)

// TestAcpxExecRunsAScriptedTurn runs acpx (pinned in testdeps, on testdeps'
// Node 22) in one-shot exec mode against agent.mjs's permission scenario:
// acpx approves the write, the agent writes the file, and acpx prints the
// JSON-RPC traffic as JSON lines. HOME is a temp dir; exec mode writes
// nothing there and starts no queue owner.
func TestAcpxExecRunsAScriptedTurn(t *testing.T) {
	tl := findTools(t)
	testenv.Need(t, tl.node22)
	testenv.Need(t, tl.acpx)
	home, cwd := t.TempDir(), t.TempDir()
	agent := tl.node22 + " " + tl.agent + " permission"
	stdout, stderr, code := run(t, []string{"HOME=" + home}, cwd, tl.node22, tl.acpx,
		"--approve-all", "--format", "json", "--cwd", cwd, "--agent", agent, "exec", "write it")
	t.Logf("acpx stderr:\n%s", stderr)
	require.Equal(t, 0, code, "acpx failed; stdout:\n%s", stdout)

	var messages []map[string]json.RawMessage
	for _, line := range strings.Split(strings.TrimSpace(string(stdout)), "\n") {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(line), &m), "acpx printed %q", line)
		messages = append(messages, m)
	}
	var answered, ended bool
	for _, m := range messages {
		if string(m["result"]) == `{"outcome":{"outcome":"selected","optionId":"allow_once"}}` {
			answered = true
		}
		if string(m["result"]) == `{"stopReason":"end_turn"}` {
			ended = true
		}
	}
	assert.True(t, answered, "acpx allowed the write once")
	assert.True(t, ended, "the turn ended with end_turn")
	content, err := os.ReadFile(filepath.Join(cwd, "allowed.txt"))
	require.NoError(t, err, "the agent wrote the file after acpx allowed it")
	assert.Equal(t, "allowed\n", string(content))
	entries, err := os.ReadDir(home)
	require.NoError(t, err)
	assert.Empty(t, entries, "acpx exec left files in HOME")
}
