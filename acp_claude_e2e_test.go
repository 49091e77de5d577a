//go:build linux

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends/claude/claudetest"
)

// TestACPSDKClientOnRealClaude drives `tether acp` on the real claude CLI
// (pinned in testdeps) with the official SDK's client, against
// claudetest's fake Messages API on 127.0.0.1, in one session:
//
//   - a streamed answer, then the usage_update the CLI's result brings;
//   - a Write the client is asked about: the file is not there while the
//     request waits, and is written once the client allows it; the
//     tool_call carries kind, title, location and diff, and the
//     permission request shows the same call;
//   - mode acceptEdits (session/set_config_option): the next Write runs
//     without asking;
//   - an image prompt: the image reaches the API; the CLI's slash
//     commands arrive as available_commands_update;
//   - model haiku: the CLI's next API request is for a Haiku model.
//
// When drive.mjs closes Tether's input, Tether and every CLI process
// must be gone (driveTether checks).
func TestACPSDKClientOnRealClaude(t *testing.T) {
	cli := claudetest.RealCLI(t)
	tl := findACPTools(t)
	cwd := t.TempDir()
	api := claudetest.NewFakeAPI(t, func(req claudetest.Request) []claudetest.Event {
		last := req.LastUserText()
		write := func(id, name string) []claudetest.Event {
			input, _ := json.Marshal(map[string]string{"file_path": filepath.Join(cwd, name), "content": name + " written\n"})
			return claudetest.ToolReply(req.Model, id, "Write", string(input))
		}
		switch {
		case strings.HasPrefix(last, "tool_result:"):
			return claudetest.TextReply(req.Model, "Written", ".")
		case strings.Contains(last, "write asked.txt"):
			return write("toolu_acp_asked", "asked.txt")
		case strings.Contains(last, "write accepted.txt"):
			return write("toolu_acp_accepted", "accepted.txt")
		}
		return claudetest.TextReply(req.Model, "Hello", " from", " the fake API")
	})
	env := append(claudetest.Env(t, api.URL()), "PATH="+os.Getenv("PATH"))
	run := driveTether(t, tl, env, cwd, map[string]any{
		"timeoutMs":    60000,
		"strict":       true,
		"allowDropped": []string{"usage"},
		"permissions":  []string{"manual"},
		"steps": []step{
			{"op": "initialize"},
			{"op": "new_session", "as": "s"},
			{"op": "prompt", "session": "s", "prompt": "say hello", "expectText": "Hello from the fake API",
				"expect": map[string]any{"stopReason": "end_turn"}},
			{"op": "prompt", "session": "s", "as": "asked", "prompt": "please write asked.txt", "wait": false,
				"expect": map[string]any{"stopReason": "end_turn"}, "expectText": "Written."},
			{"op": "wait_permission", "count": 1},
			{"op": "check_file", "path": "asked.txt", "exists": false},
			{"op": "answer_permission", "answer": "allow_once"},
			{"op": "await", "request": "asked"},
			{"op": "check_file", "path": "asked.txt", "content": "asked.txt written\n"},
			{"op": "set_config_option", "session": "s", "configId": "mode", "value": "acceptEdits"},
			{"op": "prompt", "session": "s", "prompt": "now write accepted.txt", "expect": map[string]any{"stopReason": "end_turn"}},
			{"op": "check_file", "path": "accepted.txt", "content": "accepted.txt written\n"},
			{"op": "prompt", "session": "s", "prompt": []any{
				map[string]any{"type": "text", "text": "what is in this picture?"},
				map[string]any{"type": "image", "mimeType": "image/png", "data": onePixelPNG},
			}, "expect": map[string]any{"stopReason": "end_turn"}},
			{"op": "set_config_option", "session": "s", "configId": "model", "value": "haiku"},
			{"op": "prompt", "session": "s", "prompt": "say hello again", "expect": map[string]any{"stopReason": "end_turn"}},
		},
	}, "--backend", "claude", "--claude-path", cli)
	require.Equal(t, 0, run.code, "drive.mjs found a protocol error or a failed step")

	// The streamed answer, then how full the context is.
	var usage []acpUpdate
	for _, u := range acpUpdates(t, run.turn(t, 0)) {
		if u.Update.Kind == "usage_update" {
			usage = append(usage, u)
		}
	}
	require.NotEmpty(t, usage, "a usage_update in the first turn")
	assert.Positive(t, usage[len(usage)-1].Update.Used, "tokens in the context")
	assert.Positive(t, usage[len(usage)-1].Update.Size, "the model's context window")

	// The asked Write: shown, asked about, then completed.
	asked := run.turn(t, 1)
	var call, done acpUpdate
	var diff []struct {
		Type    string  `json:"type"`
		Path    string  `json:"path"`
		OldText *string `json:"oldText"`
		NewText string  `json:"newText"`
	}
	for _, u := range acpUpdates(t, asked) {
		switch {
		case u.Update.Kind == "tool_call" && u.Update.ToolCallID == "toolu_acp_asked":
			call = u
			require.NoError(t, json.Unmarshal(u.Update.Content, &diff))
		case u.Update.Kind == "tool_call_update" && u.Update.ToolCallID == "toolu_acp_asked" && u.Update.Status != "":
			done = u
		}
	}
	target := filepath.Join(cwd, "asked.txt")
	assert.Equal(t, "edit", call.Update.ToolKind)
	assert.Equal(t, "Write asked.txt", call.Update.Title)
	require.Len(t, call.Update.Locations, 1)
	assert.Equal(t, target, call.Update.Locations[0].Path)
	require.Len(t, diff, 1)
	assert.Equal(t, "diff", diff[0].Type)
	assert.Equal(t, "asked.txt written\n", diff[0].NewText)
	assert.Nil(t, diff[0].OldText, "a new file has no old text")
	assert.Equal(t, "completed", done.Update.Status)

	requests := of(run.evs, "request", "session/request_permission")
	require.Len(t, requests, 1, "only the first Write is asked about; acceptEdits runs the second")
	var p struct {
		ToolCall struct {
			ToolCallID string `json:"toolCallId"`
			Kind       string `json:"kind"`
			Title      string `json:"title"`
		} `json:"toolCall"`
	}
	require.NoError(t, json.Unmarshal(requests[0].Params, &p))
	assert.Equal(t, "toolu_acp_asked", p.ToolCall.ToolCallID)
	assert.Equal(t, "edit", p.ToolCall.Kind)
	assert.Equal(t, "Write asked.txt", p.ToolCall.Title)

	var modes []string
	for _, u := range acpUpdates(t, run.evs) {
		if u.Update.Kind == "current_mode_update" {
			modes = append(modes, u.Update.CurrentModeID)
		}
	}
	assert.Equal(t, []string{"acceptEdits"}, modes)

	// The image reaches the API as an image block of the user's message.
	var sawImage bool
	for _, r := range api.Recorded() {
		for _, m := range r.Messages {
			sawImage = sawImage || m.Role == "user" && strings.Contains(string(m.Content), onePixelPNG) &&
				strings.Contains(string(m.Content), `"type":"image"`)
		}
	}
	assert.True(t, sawImage, "the prompt's image reached the Messages API")

	// The CLI's slash commands, once.
	var commands int
	for _, u := range acpUpdates(t, run.evs) {
		if u.Update.Kind == "available_commands_update" {
			commands++
		}
	}
	assert.Equal(t, 1, commands, "available_commands_update from the CLI's init")

	// The model switch reaches the CLI: its last request is for Haiku.
	var models []string
	for _, r := range api.Recorded() {
		if r.Stream {
			models = append(models, r.Model)
		}
	}
	require.NotEmpty(t, models)
	assert.NotContains(t, strings.ToLower(models[0]), "haiku")
	assert.Contains(t, strings.ToLower(models[len(models)-1]), "haiku", "models asked for: %v", models)
}

// onePixelPNG is a 1×1 PNG, base64.
const onePixelPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
