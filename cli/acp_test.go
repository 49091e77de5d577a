package cli

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestACPLoginRunsTheClaudeCLIsLogin is ACP's terminal auth method: the
// client runs `tether acp ... --login` in a terminal and takes the exit
// code for whether the login worked.
func TestACPLoginRunsTheClaudeCLIsLogin(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, "claude")
	require.NoError(t, os.WriteFile(fake, []byte("#!/bin/sh\necho \"claude $*\"\nexit 3\n"), 0o755))
	var out, errb bytes.Buffer
	code := Main([]string{"acp", "--backend", "mock", "--claude-path", fake, "--login"}, io.NopCloser(strings.NewReader("")), &out, &errb, "test")
	assert.Equal(t, 3, code, "the login's own exit code; stderr:\n%s", errb.String())
	assert.Equal(t, "claude auth login\n", out.String())

	out.Reset()
	errb.Reset()
	code = Main([]string{"acp", "--claude-path", filepath.Join(dir, "missing"), "--login"}, io.NopCloser(strings.NewReader("")), &out, &errb, "test")
	assert.Equal(t, 1, code)
	assert.Empty(t, out.String())
	assert.Contains(t, errb.String(), "cannot log in to Claude: claude CLI not found")
}

// TestACPServesACPOnStdout runs `tether acp` in-process: its stdout
// carries ACP's answers and nothing else, with the flags `tether` takes.
func TestACPServesACPOnStdout(t *testing.T) {
	in := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":1}}` + "\n" +
		`{"jsonrpc":"2.0","id":2,"method":"session/new","params":{"cwd":"` + t.TempDir() + `","mcpServers":[]}}` + "\n"
	var out, errb bytes.Buffer
	code := Main([]string{"acp", "--backend", "mock", "--log-level", "debug", "--trace"}, io.NopCloser(strings.NewReader(in)), &out, &errb, "test")
	assert.Equal(t, 0, code, "stderr:\n%s", errb.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 2, "stdout: %s", out.String())
	var init struct {
		Result struct {
			ProtocolVersion int               `json:"protocolVersion"`
			AgentInfo       map[string]string `json:"agentInfo"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &init))
	assert.Equal(t, 1, init.Result.ProtocolVersion)
	assert.Equal(t, "test", init.Result.AgentInfo["version"])
	assert.Contains(t, lines[1], `"sessionId"`)
	assert.Contains(t, errb.String(), "-> message", "--trace logs to stderr")

	errb.Reset()
	assert.Equal(t, 2, Main([]string{"acp", "--no-such-flag"}, io.NopCloser(strings.NewReader("")), &out, &errb, "test"))
	assert.Contains(t, errb.String(), "-no-such-flag", "the error names the flag")
	assert.Contains(t, errb.String(), "tether acp --help", "and where the flags are listed")

	out.Reset()
	assert.Equal(t, 0, Main([]string{"acp", "--help"}, io.NopCloser(strings.NewReader("")), &out, &errb, "test"))
	assert.Contains(t, out.String(), "-login", "acp's own flag is listed with the shared ones")
	assert.Contains(t, out.String(), "-backend")
}
