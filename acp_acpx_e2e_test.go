//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runAcpx runs a command line (acpx, directly or through sh) with env in
// cwd, and returns its stdout and exit status. Every process it starts
// carries a mark; none may be left once it has exited. acpx's exec mode is
// one-shot: it starts no queue owner and writes nothing to HOME.
func runAcpx(t *testing.T, env []string, cwd string, name string, args ...string) ([]byte, int) {
	t.Helper()
	mark := newMark()
	cmd := exec.Command(name, args...)
	cmd.Dir = cwd
	cmd.Env = append(env, orphanMarkEnv+"="+mark)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	waitGone(t, mark, "", "after acpx exited")
	if code != 0 || t.Failed() {
		t.Logf("acpx exited %d; stdout:\n%s\nstderr:\n%s", code, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), code
}

// rpcLines decodes acpx's --format json output: the JSON-RPC traffic,
// both ways, one message per line.
func rpcLines(t *testing.T, out []byte) []map[string]json.RawMessage {
	t.Helper()
	var msgs []map[string]json.RawMessage
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "acpx printed %q", sc.Text())
		msgs = append(msgs, m)
	}
	return msgs
}

// TestAcpxExecThroughTether runs acpx 0.19.1 (on testdeps' Node 22) in
// one-shot exec mode with `tether acp` on the mock backend as its agent:
// one prompt, with a tool call acpx approves, end to end.
func TestAcpxExecThroughTether(t *testing.T) {
	tl := findACPTools(t)
	home, cwd := t.TempDir(), t.TempDir()
	prompt := "/tool Bash {\"command\":\"ls\"}\nhello from acpx"
	out, code := runAcpx(t, []string{"HOME=" + home, "PATH=/usr/bin:/bin", "TETHER_STATE_DIR=" + t.TempDir()}, cwd, tl.node, tl.acpx,
		"--approve-all", "--format", "json", "--cwd", cwd,
		"--agent", tetherBinary(t)+" acp --backend mock", "exec", prompt)
	require.Equal(t, 0, code)

	var methods []string
	var text strings.Builder
	var approved, ended bool
	for _, m := range rpcLines(t, out) {
		var method string
		_ = json.Unmarshal(m["method"], &method)
		if method != "" {
			methods = append(methods, method)
		}
		if method == "session/update" {
			var p acpUpdate
			require.NoError(t, json.Unmarshal(m["params"], &p))
			if p.Update.Kind == "agent_message_chunk" {
				text.WriteString(p.Text())
			}
		}
		approved = approved || string(m["result"]) == `{"outcome":{"outcome":"selected","optionId":"allow_once"}}`
		ended = ended || strings.Contains(string(m["result"]), `"stopReason":"end_turn"`)
	}
	assert.Equal(t, "initialize", methods[0])
	assert.Contains(t, methods, "session/new")
	assert.Contains(t, methods, "session/prompt")
	assert.Contains(t, methods, "session/request_permission")
	assert.True(t, approved, "acpx allowed the tool once")
	assert.True(t, ended, "the turn ended with end_turn")
	assert.Equal(t, "hello from acpx", text.String())
	entries, err := os.ReadDir(home)
	require.NoError(t, err)
	assert.Empty(t, entries, "acpx exec left files in HOME")
}

// TestREADMEAcpxLinesRun runs README.md's acpx lines exactly as written,
// with `tether`, `acpx` and `node` (22) on PATH as a user has them. No
// claude CLI and no OpenAI key are found here, so `tether acp` answers
// on the mock backend, which echoes the prompt.
func TestREADMEAcpxLinesRun(t *testing.T) {
	tl := findACPTools(t)
	bin := t.TempDir()
	for name, target := range map[string]string{"tether": tetherBinary(t), "acpx": tl.acpx, "node": tl.node} {
		require.NoError(t, os.Symlink(target, filepath.Join(bin, name)))
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	var lines []string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "acpx --") { // a command, not prose
			lines = append(lines, line)
		}
	}
	require.Len(t, lines, 2, "README.md's acpx lines")

	for _, line := range lines {
		t.Run(line, func(t *testing.T) {
			home := t.TempDir()
			out, code := runAcpx(t, []string{"HOME=" + home, "PATH=" + bin + ":/usr/bin:/bin", "TETHER_STATE_DIR=" + t.TempDir()}, t.TempDir(), "sh", "-c", line)
			require.Equal(t, 0, code)
			if strings.Contains(line, "--format json") {
				var ended bool
				for _, m := range rpcLines(t, out) {
					ended = ended || strings.Contains(string(m["result"]), `"stopReason":"end_turn"`)
				}
				assert.True(t, ended, "the prompt ended with end_turn")
			} else {
				assert.Contains(t, string(out), "Summarise README.md", "the mock's echo")
			}
			entries, err := os.ReadDir(home)
			require.NoError(t, err)
			assert.Empty(t, entries, "acpx exec left files in HOME")
		})
	}
}
