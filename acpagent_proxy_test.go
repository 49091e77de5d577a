//go:build linux

// The process checks read /proc.

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

// driveEvent is one line drive.mjs prints (testdata/acp/README.md).
type driveEvent struct {
	Event  string          `json:"event"`
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
	What   string          `json:"what"`
	Msg    string          `json:"message"`
	Paths  []string        `json:"paths"`
}

// driveUpdate is the part of a session/update the tests look at.
type driveUpdate struct {
	SessionID string `json:"sessionId"`
	Update    struct {
		Kind       string          `json:"sessionUpdate"`
		Content    json.RawMessage `json:"content"`
		ToolCallID string          `json:"toolCallId"`
		Title      string          `json:"title"`
		ToolKind   string          `json:"kind"`
		Status     string          `json:"status"`
		Locations  json.RawMessage `json:"locations"`
		Entries    json.RawMessage `json:"entries"`
		Commands   json.RawMessage `json:"availableCommands"`
		Used       int             `json:"used"`
		Size       int             `json:"size"`
	} `json:"update"`
}

// drive runs drive.mjs with steps against `tether acp ARGS...` (the built
// binary), with env added to the environment, and returns its events
// and exit status. drive.mjs ends Tether's input and waits for it to
// exit.
func drive(t *testing.T, tl acpTools, env []string, steps any, args ...string) ([]driveEvent, int) {
	t.Helper()
	b, err := json.Marshal(steps)
	require.NoError(t, err)
	stepsFile := filepath.Join(t.TempDir(), "steps.json")
	require.NoError(t, os.WriteFile(stepsFile, b, 0o644))
	cwd := t.TempDir()
	cmd := exec.Command(tl.node, append([]string{tl.drive, "--cwd", cwd, stepsFile, "--", tetherBinary(t), "acp"}, args...)...)
	cmd.Dir = cwd
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	t.Logf("drive.mjs stderr (Tether's log):\n%s", errOut.String())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	var evs []driveEvent
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev driveEvent
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), "drive.mjs printed %q", sc.Text())
		evs = append(evs, ev)
		if ev.Event == "failure" || ev.Event == "end" {
			t.Logf("drive.mjs: %s", sc.Text())
		}
	}
	return evs, code
}

func driveUpdates(t *testing.T, evs []driveEvent) []driveUpdate {
	t.Helper()
	var ups []driveUpdate
	for _, ev := range evs {
		if ev.Event == "notification" && ev.Method == "session/update" {
			var u driveUpdate
			require.NoError(t, json.Unmarshal(ev.Params, &u))
			ups = append(ups, u)
		}
	}
	return ups
}

// chunkText is the text of a chunk's content block.
func (u driveUpdate) chunkText() string {
	var block struct {
		Type, Text string
	}
	if json.Unmarshal(u.Update.Content, &block) != nil || block.Type != "text" {
		return ""
	}
	return block.Text
}

// TestScriptedAgentThroughTetherACP puts the scripted agent behind `tether
// acp` (Tether as an ACP proxy) and checks, with the SDK's schemas, that
// every update of its turn comes through to an ACP client: thoughts,
// chunks, a plan, tool calls with kind, title, locations and diff, their
// ends with the summary, usage, and the slash commands.
func TestScriptedAgentThroughTetherACP(t *testing.T) {
	tl := findACPTools(t)
	steps := map[string]any{
		"strict":       true,
		"allowDropped": []string{"usage"}, // the prompt answer's usage is unstable ACP
		"steps": []map[string]any{
			{"op": "initialize"},
			{"op": "new_session", "as": "s"},
			{"op": "prompt", "session": "s", "prompt": "hello", "expect": map[string]any{"stopReason": "end_turn"}, "expectText": "Hello, world!"},
		},
	}
	evs, code := drive(t, tl, nil, steps, "--agent", "scripted="+tl.node+" "+tl.agent+" basic", "--backend", "scripted")
	require.Equal(t, 0, code, "drive.mjs failed")

	var kinds []string
	var thought strings.Builder
	for _, u := range driveUpdates(t, evs) {
		kinds = append(kinds, u.Update.Kind)
		switch u.Update.Kind {
		case "agent_thought_chunk":
			thought.WriteString(u.chunkText())
		case "tool_call":
			if u.Update.ToolCallID == "call_edit" {
				assert.Equal(t, "edit", u.Update.ToolKind)
				assert.Equal(t, "Write hello.txt", u.Update.Title)
				assert.JSONEq(t, `[{"path":"/work/hello.txt","line":1}]`, string(u.Update.Locations))
				assert.Contains(t, string(u.Update.Content), `"type":"diff"`)
				assert.Contains(t, string(u.Update.Content), `"newText":"hi\n"`)
			}
		case "tool_call_update":
			if u.Update.ToolCallID == "call_edit" {
				assert.Equal(t, "completed", u.Update.Status)
				assert.Contains(t, string(u.Update.Content), "Write hello.txt (Wrote 1 line to hello.txt)")
			}
		case "usage_update":
			assert.Equal(t, 1234, u.Update.Used)
			assert.Equal(t, 200000, u.Update.Size)
		case "available_commands_update":
			assert.Contains(t, string(u.Update.Commands), `"review"`)
		}
	}
	assert.Equal(t, "The user greets me. I will greet back.", thought.String())
	for _, k := range []string{"available_commands_update", "plan", "tool_call", "tool_call_update", "usage_update", "agent_message_chunk"} {
		assert.Contains(t, kinds, k)
	}
}

// TestClaudeAgentACPThroughTetherACP puts claude-agent-acp behind `tether
// acp` (the built binary) and drives it with drive.mjs, the ACP SDK's own
// client: a streamed turn; a Write that the client allows, after which the
// file exists, and one it rejects; a cancelled turn; and no process of the
// agent left once drive.mjs has closed Tether's input.
func TestClaudeAgentACPThroughTetherACP(t *testing.T) {
	tl := findACPTools(t)
	tl.needClaudeACP(t)
	api := fakeClaude(t)
	mark := newMark()
	var env []string
	for name, value := range tl.claudeAgent(t, api.URL(), mark).Env {
		env = append(env, name+"="+value)
	}
	dir := t.TempDir()
	allowed, rejected := filepath.Join(dir, "allowed.txt"), filepath.Join(dir, "rejected.txt")
	steps := map[string]any{
		"timeoutMs":   60000,
		"permissions": []string{"allow_once", "reject_once"},
		"steps": []map[string]any{
			{"op": "initialize"},
			{"op": "new_session", "as": "a", "cwd": dir},
			{"op": "prompt", "session": "a", "prompt": "say hello", "expect": map[string]any{"stopReason": "end_turn"}, "expectText": "Hello from the fake API"},
			// The agent has run a session now, so Tether offers its modes:
			// "default" asks before edits (claude-agent-acp starts in "auto").
			{"op": "new_session", "as": "b", "cwd": dir},
			{"op": "set_config_option", "session": "b", "configId": "mode", "value": "default"},
			{"op": "prompt", "session": "b", "prompt": "write " + allowed, "expect": map[string]any{"stopReason": "end_turn"}},
			{"op": "prompt", "session": "b", "prompt": "write " + rejected, "expect": map[string]any{"stopReason": "end_turn"}},
			{"op": "prompt", "session": "a", "prompt": "wait for it", "wait": false, "as": "w"},
			{"op": "wait_updates", "session": "a", "kind": "agent_message_chunk", "text": "Hello from the fake APIWorking"},
			{"op": "cancel", "session": "a"},
			{"op": "await", "request": "w", "expect": map[string]any{"stopReason": "cancelled"}},
		},
	}
	evs, code := drive(t, tl, append(env, orphanMarkEnv+"="+mark), steps, "--agent", "claude-acp="+tl.node+" "+tl.claudeACP, "--backend", "claude-acp")
	require.Equal(t, 0, code, "drive.mjs failed")

	var asked []string
	for _, ev := range evs {
		if ev.Event == "request" && ev.Method == "session/request_permission" {
			asked = append(asked, string(ev.Params))
		}
	}
	require.Len(t, asked, 2, "one permission request per Write")
	assert.Contains(t, asked[0], "allowed.txt")
	content, err := os.ReadFile(allowed)
	require.NoError(t, err, "written after the allow")
	assert.Equal(t, "allowed\n", string(content))
	_, err = os.Stat(rejected)
	assert.True(t, os.IsNotExist(err), "not written after the reject: %v", err)

	var chunks int
	for _, u := range driveUpdates(t, evs) {
		if u.Update.Kind == "agent_message_chunk" && u.chunkText() != "" {
			chunks++
		}
	}
	assert.GreaterOrEqual(t, chunks, 3, "the answers stream")
	waitGone(t, mark, "", "after drive.mjs closed Tether's input")
}

// TestNoACPAgentProcessOutlivesAKilledTether: Tether (the binary) killed
// with SIGKILL mid-session leaves nothing of claude-agent-acp behind: the
// adapter gets the parent-death signal, and the janitor ends the Claude
// CLI it started.
func TestNoACPAgentProcessOutlivesAKilledTether(t *testing.T) {
	tl := findACPTools(t)
	tl.needClaudeACP(t)
	api := fakeClaude(t)
	mark := newMark()
	cmd := exec.Command(tetherBinary(t), "--framing", "ndjson", "--agent", "claude-acp="+tl.node+" "+tl.claudeACP, "--backend", "claude-acp")
	// A store of its own: the shared one keeps session "s", with this
	// run's cwd, for a later run (-count).
	cmd.Env = append(os.Environ(), store.EnvStateDir+"="+t.TempDir())
	for name, value := range tl.claudeAgent(t, api.URL(), mark).Env {
		cmd.Env = append(cmd.Env, name+"="+value)
	}
	cmd.Dir = t.TempDir()
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		waitGone(t, mark, "", "after the test")
	})
	_, err = stdin.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"session/query","params":{"sessionId":"s","prompt":"say hello","cwd":"` + cmd.Dir + `"}}` + "\n"))
	require.NoError(t, err)
	dec := json.NewDecoder(stdout)
	for {
		var m map[string]json.RawMessage
		require.NoError(t, dec.Decode(&m))
		if string(m["id"]) == "1" {
			require.NotContains(t, m, "error", "the query failed: %s", m["error"])
			break
		}
	}
	require.NotEmpty(t, marked(mark, tetherBinary(t)), "the agent runs")
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	waitGone(t, mark, "", "after Tether was killed")
}
