//go:build linux

// The process checks read /proc.

package main

import (
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
	run := driveTether(t, tl, acpEnv(t), t.TempDir(), steps, "--agent", "scripted="+tl.node+" "+tl.agent+" basic", "--backend", "scripted")
	require.Equal(t, 0, run.code, "drive.mjs failed")

	var kinds []string
	var thought strings.Builder
	for _, u := range acpUpdates(t, run.evs) {
		kinds = append(kinds, u.Update.Kind)
		switch u.Update.Kind {
		case "agent_thought_chunk":
			thought.WriteString(u.Text())
		case "tool_call":
			if u.Update.ToolCallID == "call_edit" {
				assert.Equal(t, "edit", u.Update.ToolKind)
				assert.Equal(t, "Write hello.txt", u.Update.Title)
				locations, err := json.Marshal(u.Update.Locations)
				require.NoError(t, err)
				assert.JSONEq(t, `[{"path":"/work/hello.txt","line":1}]`, string(locations))
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
	run := driveTether(t, tl, append(acpEnv(t), env...), t.TempDir(), steps, "--agent", "claude-acp="+tl.node+" "+tl.claudeACP, "--backend", "claude-acp")
	require.Equal(t, 0, run.code, "drive.mjs failed")

	var asked []string
	for _, ev := range run.evs {
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
	for _, u := range acpUpdates(t, run.evs) {
		if u.Update.Kind == "agent_message_chunk" && u.Text() != "" {
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
