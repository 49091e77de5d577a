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

	"github.com/tether-dev/tether/backends/claude/claudetest"
	"github.com/tether-dev/tether/internal/acpdrive"
	"github.com/tether-dev/tether/internal/testenv"
)

// TestClaudeAgentACPStreamsAPrompt runs claude-agent-acp (pinned in
// testdeps) on the pinned claude CLI against claudetest's fake Messages
// API, driven by drive.mjs: initialize, session/new, one prompt whose
// answer streams as message chunks, then EOF.
func TestClaudeAgentACPStreamsAPrompt(t *testing.T) {
	tl := findTools(t)
	testenv.Need(t, tl.node22)
	testenv.Need(t, tl.claudeACP)
	testenv.Need(t, tl.claudeCLI)
	api := claudetest.NewFakeAPI(t, func(req claudetest.Request) []claudetest.Event {
		return claudetest.TextReply(req.Model, "Hello", " from", " the fake API")
	})
	env := append(claudetest.Env(t, api.URL()), "CLAUDE_CODE_EXECUTABLE="+tl.claudeCLI, "IS_SANDBOX=")
	cwd := t.TempDir()
	steps := map[string]any{
		"timeoutMs": 60000,
		"steps": []map[string]any{
			{"op": "initialize"},
			{"op": "new_session", "as": "s"},
			{"op": "prompt", "session": "s", "prompt": "say hello", "expect": map[string]any{"stopReason": "end_turn"}},
		},
	}
	evs, code := drive(t, tl, env, cwd, steps, tl.node22, tl.claudeACP)
	for _, ev := range evs {
		t.Logf("%s %s %s %s %s %s %v", ev.Event, ev.Method, ev.Params, ev.Result, ev.Error, ev.Msg, ev.Paths)
	}
	require.Equal(t, 0, code, "drive.mjs failed")
	var text strings.Builder
	for _, u := range acpdrive.Updates(t, evs) {
		if u.Update.Kind == "agent_message_chunk" {
			text.WriteString(u.Text())
		}
	}
	assert.Equal(t, "Hello from the fake API", text.String())
	assert.NotEmpty(t, api.Recorded())
}

// TestClaudeAgentACPPermissionRoundTrip has the fake API ask for a Write
// tool call in the session's cwd; claude-agent-acp asks the client through
// session/request_permission, and the file exists only when the client
// allows it.
func TestClaudeAgentACPPermissionRoundTrip(t *testing.T) {
	tl := findTools(t)
	testenv.Need(t, tl.node22)
	testenv.Need(t, tl.claudeACP)
	testenv.Need(t, tl.claudeCLI)
	for _, tc := range []struct {
		answer    string
		wantFile  bool
		wantState string
	}{
		{answer: "allow_once", wantFile: true, wantState: "completed"},
		{answer: "reject_once", wantFile: false, wantState: "failed"},
	} {
		t.Run(tc.answer, func(t *testing.T) {
			cwd := t.TempDir()
			target := filepath.Join(cwd, "allowed.txt")
			api := claudetest.NewFakeAPI(t, func(req claudetest.Request) []claudetest.Event {
				if strings.HasPrefix(req.LastUserText(), "tool_result:") {
					return claudetest.TextReply(req.Model, "Done.")
				}
				input, _ := json.Marshal(map[string]string{"file_path": target, "content": "allowed\n"})
				return claudetest.ToolReply(req.Model, "toolu_write_1", "Write", string(input))
			})
			env := append(claudetest.Env(t, api.URL()), "CLAUDE_CODE_EXECUTABLE="+tl.claudeCLI, "IS_SANDBOX=")
			steps := map[string]any{
				"timeoutMs":   60000,
				"permissions": []string{tc.answer},
				"steps": []map[string]any{
					{"op": "initialize"},
					{"op": "new_session", "as": "s"},
					{"op": "set_config_option", "session": "s", "configId": "mode", "value": "default"},
					{"op": "prompt", "session": "s", "prompt": "write allowed.txt", "expect": map[string]any{"stopReason": "end_turn"}},
				},
			}
			evs, code := drive(t, tl, env, cwd, steps, tl.node22, tl.claudeACP)
			for _, ev := range evs {
				t.Logf("%s %s %.300s %.300s %s", ev.Event, ev.Method, ev.Params, ev.Result, ev.Error)
			}
			require.Equal(t, 0, code, "drive.mjs failed")
			var asked bool
			for _, ev := range evs {
				if ev.Event == "request" && ev.Method == "session/request_permission" {
					asked = true
				}
			}
			assert.True(t, asked, "claude-agent-acp asked for permission")
			_, err := os.Stat(target)
			assert.Equal(t, tc.wantFile, err == nil, "allowed.txt exists: %v", err)
			var kinds, states []string
			for _, u := range acpdrive.Updates(t, evs) {
				if u.Update.ToolCallID == "toolu_write_1" {
					kinds = append(kinds, u.Update.ToolKind)
					states = append(states, u.Update.Status)
				}
			}
			assert.Contains(t, kinds, "edit")
			assert.Contains(t, states, tc.wantState)
		})
	}
}
