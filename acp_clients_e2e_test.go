//go:build linux

package main

import (
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests drive the built `tether acp` with the client side of the
// official ACP TypeScript SDK (@agentclientprotocol/sdk 2.4.0, through
// testdata/acp/drive.mjs) on the mock backend. drive.mjs runs in strict
// mode: every message Tether writes must pass the SDK's zod schemas for
// ACP v1 without losing a field (but the prompt answer's unstable usage),
// no request may go unanswered, and Tether must exit by itself when its
// input closes, leaving no process behind.

// step is one of drive.mjs's steps (testdata/acp/README.md).
type step = map[string]any

// mockArgs are `tether acp`'s arguments for the mock backend.
var mockArgs = []string{"--backend", "mock"}

// TestACPSDKClientStreamsAPrompt: initialize, session/new (with an MCP
// server, as Zed sends) and a prompt whose chunks concatenate exactly to
// the mock's text, JSON escapes and all.
func TestACPSDKClientStreamsAPrompt(t *testing.T) {
	tl := findACPTools(t)
	cwd := t.TempDir()
	prompt := "Grüße, \"quoted\" back\\slash <tag> & 😀 bell\a\nsecond\tline  with   spaces\n\n/tokens 3"
	want := "Grüße, \"quoted\" back\\slash <tag> & 😀 bell\a\nsecond line with spaces\ntok1 tok2 tok3"
	run := driveTether(t, tl, acpEnv(t), cwd, strictSteps(nil,
		step{"op": "initialize", "expect": map[string]any{"protocolVersion": 1}},
		// As Zed does: every MCP server the user configured goes to every
		// agent. The mock cannot use them and runs without them.
		step{"op": "new_session", "as": "s", "mcpServers": []any{
			map[string]any{"name": "files", "command": "mcp-files", "args": []any{}, "env": []any{}},
		}},
		step{"op": "prompt", "session": "s", "prompt": prompt,
			"expect": map[string]any{"stopReason": "end_turn"}, "expectText": want},
	), mockArgs...)
	require.Equal(t, 0, run.code, "drive.mjs found a protocol error or a failed step")

	// The SDK numbers its requests from 0: Tether must answer id 0.
	assert.Equal(t, "0", string(run.evs[1].ID), "the first request's id")
	assert.Equal(t, "initialize", run.response(t, "initialize", 0).Method)
	var init struct {
		ProtocolVersion   int `json:"protocolVersion"`
		AgentCapabilities struct {
			PromptCapabilities  map[string]bool            `json:"promptCapabilities"`
			SessionCapabilities map[string]json.RawMessage `json:"sessionCapabilities"`
		} `json:"agentCapabilities"`
		AuthMethods []struct {
			ID string `json:"id"`
		} `json:"authMethods"`
	}
	run.result(t, "initialize", 0, &init)
	assert.Equal(t, 1, init.ProtocolVersion)
	// The SDK drops a capability sent as true: they are objects.
	assert.JSONEq(t, `{}`, string(init.AgentCapabilities.SessionCapabilities["list"]))
	assert.JSONEq(t, `{}`, string(init.AgentCapabilities.SessionCapabilities["close"]))
	assert.True(t, init.AgentCapabilities.PromptCapabilities["image"], "the mock takes images")
	assert.True(t, init.AgentCapabilities.PromptCapabilities["embeddedContext"])
	assert.NotEmpty(t, init.AuthMethods, "agent registries refuse an agent without auth methods")

	var created struct {
		SessionID     string `json:"sessionId"`
		ConfigOptions []struct {
			ID           string `json:"id"`
			Category     string `json:"category"`
			CurrentValue string `json:"currentValue"`
		} `json:"configOptions"`
	}
	run.result(t, "session/new", 0, &created)
	_, err := uuid.Parse(created.SessionID)
	assert.NoError(t, err, "the session id is a UUID")
	var options []string
	for _, o := range created.ConfigOptions {
		options = append(options, o.ID+":"+o.Category+":"+o.CurrentValue)
	}
	assert.Equal(t, []string{"backend::mock", "model:model:mock", "mode:mode:default"}, options)

	// Everything of the turn comes before its answer, the title first.
	ups := acpUpdates(t, run.turn(t, 0))
	require.NotEmpty(t, ups)
	assert.Equal(t, "session_info_update", ups[0].Update.Kind)
	var text strings.Builder
	for _, u := range ups[1:] {
		assert.Equal(t, created.SessionID, u.SessionID)
		assert.Equal(t, "agent_message_chunk", u.Update.Kind)
		text.WriteString(u.Text())
	}
	assert.Equal(t, want, text.String(), "the chunks concatenate exactly to the text")
}

// TestACPSDKClientPermissions: allow_once, allow_always (the identical
// call after it is not asked again) and reject_once, each answered by the
// SDK's client to Tether's session/request_permission.
func TestACPSDKClientPermissions(t *testing.T) {
	tl := findACPTools(t)
	ls := `/tool Bash {"command":"ls -la"}`
	run := driveTether(t, tl, acpEnv(t), t.TempDir(), strictSteps([]any{"allow_once", "allow_always", "reject_once"},
		step{"op": "initialize"},
		step{"op": "new_session", "as": "s"},
		step{"op": "prompt", "session": "s", "prompt": ls, "expect": map[string]any{"stopReason": "end_turn"}},
		step{"op": "prompt", "session": "s", "prompt": ls, "expect": map[string]any{"stopReason": "end_turn"}},
		step{"op": "prompt", "session": "s", "prompt": ls, "expect": map[string]any{"stopReason": "end_turn"}},
		step{"op": "prompt", "session": "s", "prompt": `/tool Write {"file_path":"notes.txt","content":"x"}`, "expect": map[string]any{"stopReason": "end_turn"}},
	), mockArgs...)
	require.Equal(t, 0, run.code)

	type permission struct {
		SessionID string `json:"sessionId"`
		ToolCall  struct {
			ToolCallID string          `json:"toolCallId"`
			Title      string          `json:"title"`
			Kind       string          `json:"kind"`
			Status     string          `json:"status"`
			RawInput   json.RawMessage `json:"rawInput"`
		} `json:"toolCall"`
		Options []struct {
			OptionID string `json:"optionId"`
			Kind     string `json:"kind"`
			Name     string `json:"name"`
		} `json:"options"`
	}
	wantAnswer := []string{"allow_once", "allow_always", "", "reject_once"}
	wantStatus := []string{"completed", "completed", "completed", "failed"}
	wantKind := []string{"execute", "execute", "execute", "edit"}
	ids := map[string]bool{}
	for i := range 4 {
		evs := run.turn(t, i)
		var call, result acpUpdate
		for _, u := range acpUpdates(t, evs) {
			switch u.Update.Kind {
			case "tool_call":
				call = u
			case "tool_call_update":
				result = u
			}
		}
		require.NotEmpty(t, call.Update.ToolCallID, "prompt %d: a tool_call", i)
		assert.Equal(t, wantKind[i], call.Update.ToolKind, "prompt %d", i)
		assert.Equal(t, "pending", call.Update.Status, "prompt %d", i)
		assert.Equal(t, call.Update.ToolCallID, result.Update.ToolCallID, "prompt %d: the update is the call's", i)
		assert.Equal(t, wantStatus[i], result.Update.Status, "prompt %d", i)

		asked := of(evs, "request", "session/request_permission")
		answers := of(evs, "answer", "session/request_permission")
		if wantAnswer[i] == "" {
			assert.Empty(t, asked, "prompt %d: allow_always covers the identical call: not asked again", i)
			continue
		}
		require.Len(t, asked, 1, "prompt %d", i)
		require.Len(t, answers, 1, "prompt %d", i)
		var p permission
		require.NoError(t, json.Unmarshal(asked[0].Params, &p))
		assert.Equal(t, call.SessionID, p.SessionID)
		assert.Equal(t, call.Update.ToolCallID, p.ToolCall.ToolCallID, "prompt %d: the request shows the call", i)
		assert.Equal(t, call.Update.Title, p.ToolCall.Title)
		assert.Equal(t, call.Update.ToolKind, p.ToolCall.Kind)
		var kinds []string
		for _, o := range p.Options {
			kinds = append(kinds, o.Kind)
		}
		assert.Equal(t, []string{"allow_once", "allow_always", "reject_once"}, kinds)
		if i == 0 {
			assert.Contains(t, p.Options[1].Name, "Bash(ls:*)", "allow_always names the rule it adds")
			assert.JSONEq(t, `{"command":"ls -la"}`, string(p.ToolCall.RawInput))
		}
		assert.JSONEq(t, `{"outcome":{"outcome":"selected","optionId":"`+wantAnswer[i]+`"}}`, string(answers[0].Result))
		assert.False(t, ids[string(asked[0].ID)], "request ids are not reused")
		ids[string(asked[0].ID)] = true
	}
}

// TestACPSDKClientCancelsAPendingPermission: session/cancel while a
// permission request is pending withdraws it ($/cancel_request to the
// client, which answers nothing of its own), marks the tool call failed,
// and ends the running and the queued prompt "cancelled"; the session
// then takes prompts again, and the client's $/cancel_request cancels one
// of them.
func TestACPSDKClientCancelsAPendingPermission(t *testing.T) {
	tl := findACPTools(t)
	run := driveTether(t, tl, acpEnv(t), t.TempDir(), strictSteps([]any{"wait_withdraw"},
		step{"op": "initialize"},
		step{"op": "new_session", "as": "s"},
		step{"op": "prompt", "session": "s", "as": "running", "prompt": `/tool Bash {"command":"rm -rf build"}`, "wait": false,
			"expect": map[string]any{"stopReason": "cancelled"}},
		step{"op": "prompt", "session": "s", "as": "queued", "prompt": "never run", "wait": false,
			"expect": map[string]any{"stopReason": "cancelled"}},
		step{"op": "wait_permission", "count": 1},
		step{"op": "cancel", "session": "s"},
		step{"op": "await", "request": []string{"running", "queued"}},
		step{"op": "prompt", "session": "s", "prompt": "still here", "expectText": "still here",
			"expect": map[string]any{"stopReason": "end_turn"}},
		// $/cancel_request from the client cancels one prompt: -32800.
		step{"op": "prompt", "session": "s", "as": "long", "prompt": "/tokens 1\n/sleep 60000", "wait": false,
			"expect": map[string]any{"error": map[string]any{"code": -32800}}},
		// "still here", then the long prompt's first token: it runs.
		step{"op": "wait_updates", "session": "s", "kind": "agent_message_chunk", "text": "still heretok1"},
		step{"op": "cancel_request", "request": "long"},
		step{"op": "await", "request": "long"},
	), mockArgs...)
	require.Equal(t, 0, run.code)

	asked := of(run.evs, "request", "session/request_permission")
	require.Len(t, asked, 1)
	withdrawn := of(run.evs, "notification", "$/cancel_request")
	require.Len(t, withdrawn, 1, "Tether withdraws its request")
	assert.JSONEq(t, `{"requestId":`+string(asked[0].ID)+`}`, string(withdrawn[0].Params))

	prompts := of(run.evs, "send", "session/prompt")
	require.Len(t, prompts, 4)
	var withdrawnAt, runningAt, queuedAt, failedAt int
	for i, ev := range run.evs {
		switch {
		case ev.Event == "notification" && ev.Method == "$/cancel_request":
			withdrawnAt = i
		case ev.Event == "notification" && ev.Method == "session/update":
			if u := acpUpdates(t, run.evs[i:i+1])[0]; u.Update.Kind == "tool_call_update" && u.Update.Status == "failed" {
				failedAt = i
			}
		case ev.Event == "response" && string(ev.ID) == string(prompts[0].ID):
			runningAt = i
		case ev.Event == "response" && string(ev.ID) == string(prompts[1].ID):
			queuedAt = i
		}
	}
	require.NotZero(t, failedAt, "the withdrawn request's tool call is marked failed")
	assert.Less(t, withdrawnAt, runningAt, "the request is withdrawn before the prompt's answer")
	assert.Less(t, failedAt, runningAt, "the tool call is marked failed before the prompt's answer")
	assert.Less(t, queuedAt, runningAt, "the queued prompt is answered first")
}

// TestACPSDKClientTwoSessionsAtOnce: one session waits on a permission
// answer while another streams a whole turn; two sessions stream at once
// without their chunks crossing.
func TestACPSDKClientTwoSessionsAtOnce(t *testing.T) {
	tl := findACPTools(t)
	var want strings.Builder
	for i := 1; i <= 2000; i++ {
		if i > 1 {
			want.WriteString(" ")
		}
		want.WriteString("tok")
		want.WriteString(strconv.Itoa(i))
	}
	run := driveTether(t, tl, acpEnv(t), t.TempDir(), strictSteps([]any{"hold"},
		step{"op": "initialize"},
		step{"op": "new_session", "as": "a", "cwd": t.TempDir()},
		step{"op": "new_session", "as": "b", "cwd": t.TempDir()},
		step{"op": "prompt", "session": "a", "as": "pa", "prompt": "/tokens 2000", "wait": false,
			"expectText": want.String()},
		step{"op": "prompt", "session": "b", "as": "pb", "prompt": "/tokens 2000", "wait": false,
			"expectText": want.String()},
		step{"op": "await", "request": []string{"pa", "pb"}},
		step{"op": "prompt", "session": "a", "as": "waits", "prompt": `/tool Bash {"command":"make"}`, "wait": false,
			"expect": map[string]any{"stopReason": "cancelled"}},
		step{"op": "wait_permission", "count": 1},
		step{"op": "prompt", "session": "b", "prompt": "b goes on while a waits", "expectText": "b goes on while a waits",
			"expect": map[string]any{"stopReason": "end_turn"}},
		step{"op": "cancel", "session": "a"},
		step{"op": "await", "request": "waits"},
	), mockArgs...)
	require.Equal(t, 0, run.code)

	var a, b struct {
		SessionID string `json:"sessionId"`
	}
	run.result(t, "session/new", 0, &a)
	run.result(t, "session/new", 1, &b)
	require.NotEqual(t, a.SessionID, b.SessionID)
	// No cross-talk: each session's chunks (one per token, or merged for a
	// client that fell behind) add up to its own text.
	texts := map[string]string{}
	for _, u := range acpUpdates(t, run.evs) {
		if u.Update.Kind == "agent_message_chunk" {
			var block struct{ Text string }
			require.NoError(t, json.Unmarshal(u.Update.Content, &block))
			texts[u.SessionID] += block.Text
		}
	}
	assert.Equal(t, map[string]string{a.SessionID: want.String(), b.SessionID: want.String() + "b goes on while a waits"}, texts)
}

// TestACPSDKClientConfigOptions: model, mode and backend through
// session/set_config_option and the legacy session/set_mode, with the
// updates that keep both kinds of client in step, and the errors for what
// cannot change. The openai backend is configured (at a port nothing
// listens on: it is never asked) so that there is a second backend.
func TestACPSDKClientConfigOptions(t *testing.T) {
	tl := findACPTools(t)
	set := func(id, value string) step {
		return step{"op": "set_config_option", "session": "s", "configId": id, "value": value}
	}
	setFails := func(id, value string) step {
		s := set(id, value)
		s["expect"] = map[string]any{"error": map[string]any{"code": -32602}}
		return s
	}
	run := driveTether(t, tl, acpEnv(t), t.TempDir(), strictSteps(nil,
		step{"op": "initialize"},
		step{"op": "new_session", "as": "s"},
		set("model", "mock"),
		set("mode", "default"),
		setFails("mode", "plan"),
		setFails("temperature", "hot"),
		step{"op": "set_mode", "session": "s", "modeId": "default"},
		set("backend", "openai"),
		set("backend", "mock"),
		step{"op": "prompt", "session": "s", "prompt": "hello", "expect": map[string]any{"stopReason": "end_turn"}},
		setFails("backend", "openai"),
	), "--backend", "mock", "--openai-base-url", "http://127.0.0.1:9/v1", "--openai-model", "local-model")
	require.Equal(t, 0, run.code)

	type options struct {
		ConfigOptions []struct {
			ID           string `json:"id"`
			CurrentValue string `json:"currentValue"`
			Options      []struct {
				Value string `json:"value"`
			} `json:"options"`
		} `json:"configOptions"`
	}
	current := func(o options) map[string]string {
		m := map[string]string{}
		for _, c := range o.ConfigOptions {
			m[c.ID] = c.CurrentValue
		}
		return m
	}
	var created, toOpenAI, back options
	run.result(t, "session/new", 0, &created)
	require.NotEmpty(t, created.ConfigOptions)
	var backends []string
	for _, o := range created.ConfigOptions[0].Options {
		backends = append(backends, o.Value)
	}
	assert.ElementsMatch(t, []string{"mock", "openai"}, backends, "the backends that can run here")
	run.result(t, "session/set_config_option", 4, &toOpenAI)
	assert.Equal(t, map[string]string{"backend": "openai", "model": "local-model", "mode": "default"}, current(toOpenAI))
	run.result(t, "session/set_config_option", 5, &back)
	assert.Equal(t, map[string]string{"backend": "mock", "model": "mock", "mode": "default"}, current(back))

	var modeUpdates, optionUpdates int
	for _, u := range acpUpdates(t, run.evs) {
		switch u.Update.Kind {
		case "current_mode_update":
			modeUpdates++
			assert.Equal(t, "default", u.Update.CurrentModeID)
		case "config_option_update":
			optionUpdates++
		}
	}
	assert.Equal(t, 1, modeUpdates, "set_config_option mode tells legacy clients")
	assert.Equal(t, 1, optionUpdates, "set_mode tells config-option clients")
}

// TestACPSDKClientImagePrompt: an image block reaches the mock, which says
// what it was shown; audio, which Tether does not advertise, is refused.
func TestACPSDKClientImagePrompt(t *testing.T) {
	tl := findACPTools(t)
	data := base64.StdEncoding.EncodeToString([]byte("\x89PNG\r\n\x1a\nnot really"))
	run := driveTether(t, tl, acpEnv(t), t.TempDir(), strictSteps(nil,
		step{"op": "initialize"},
		step{"op": "new_session", "as": "s"},
		step{"op": "prompt", "session": "s", "prompt": []any{
			map[string]any{"type": "text", "text": "what is in it?"},
			map[string]any{"type": "image", "mimeType": "image/png", "data": data},
		}, "expect": map[string]any{"stopReason": "end_turn"},
			"expectText": "image image/png " + strconv.Itoa(len(data)) + " base64 bytes\nwhat is in it?"},
		step{"op": "prompt", "session": "s", "prompt": []any{
			map[string]any{"type": "audio", "mimeType": "audio/wav", "data": "UklGRg=="},
		}, "expect": map[string]any{"error": map[string]any{"code": -32602}}},
	), mockArgs...)
	require.Equal(t, 0, run.code)
}

// TestACPSDKClientListsAndClosesSessions: session/list (all, and by cwd),
// session/close, and what a closed session's id answers.
func TestACPSDKClientListsAndClosesSessions(t *testing.T) {
	tl := findACPTools(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	notFound := map[string]any{"error": map[string]any{"code": -32002}}
	run := driveTether(t, tl, acpEnv(t), dirA, strictSteps(nil,
		step{"op": "initialize"},
		step{"op": "new_session", "as": "a", "cwd": dirA},
		step{"op": "new_session", "as": "b", "cwd": dirB},
		step{"op": "prompt", "session": "a", "prompt": "first for a"},
		step{"op": "prompt", "session": "b", "prompt": "first for b"},
		step{"op": "list_sessions"},
		step{"op": "list_sessions", "cwd": dirB},
		step{"op": "close_session", "session": "a", "expect": map[string]any{}},
		step{"op": "list_sessions"},
		step{"op": "prompt", "session": "a", "prompt": "gone?", "expect": notFound},
		// The SDK's client turns session/close's -32002 into success
		// (treatSessionNotFoundAsSuccess): the raw answer is checked below.
		step{"op": "close_session", "session": "a", "expect": "any"},
		step{"op": "prompt", "session": "b", "prompt": "b still works", "expect": map[string]any{"stopReason": "end_turn"}},
		// Without the store a closed session is gone; with it, it stays
		// listed and can be loaded (store_acp_e2e_test.go).
	), append(mockArgs, "--no-store")...)
	require.Equal(t, 0, run.code)

	var a, b struct {
		SessionID string `json:"sessionId"`
	}
	run.result(t, "session/new", 0, &a)
	run.result(t, "session/new", 1, &b)
	type listed struct {
		Sessions []struct {
			SessionID string `json:"sessionId"`
			Cwd       string `json:"cwd"`
			Title     string `json:"title"`
			UpdatedAt string `json:"updatedAt"`
		} `json:"sessions"`
		NextCursor *string `json:"nextCursor"`
	}
	summary := func(l listed) []string {
		var out []string
		for _, s := range l.Sessions {
			assert.NotEmpty(t, s.UpdatedAt)
			out = append(out, s.SessionID+" "+filepath.Base(s.Cwd)+" "+s.Title)
		}
		return out
	}
	var all, inB, afterClose listed
	run.result(t, "session/list", 0, &all)
	run.result(t, "session/list", 1, &inB)
	run.result(t, "session/list", 2, &afterClose)
	sa := a.SessionID + " " + filepath.Base(dirA) + " first for a"
	sb := b.SessionID + " " + filepath.Base(dirB) + " first for b"
	assert.Equal(t, []string{sa, sb}, summary(all), "oldest first, titled by the first prompt")
	assert.Equal(t, []string{sb}, summary(inB))
	assert.Equal(t, []string{sb}, summary(afterClose))
	assert.Nil(t, all.NextCursor)
	again := run.response(t, "session/close", 1)
	assert.JSONEq(t, `-32002`, string(member(t, again.Error, "code")), "closing a closed session: resource not found")
}

// TestACPSDKClientEndOfInput: the client closes Tether's input while a
// permission request is pending: Tether denies the tool (the client can
// answer nothing any more), finishes and answers the prompt it was sent,
// and exits 0; no process is left (driveTether checks).
func TestACPSDKClientEndOfInput(t *testing.T) {
	tl := findACPTools(t)
	run := driveTether(t, tl, acpEnv(t), t.TempDir(), strictSteps([]any{"wait_withdraw"},
		step{"op": "initialize"},
		step{"op": "new_session", "as": "s"},
		step{"op": "prompt", "session": "s", "as": "p", "prompt": "/tool Bash {\"command\":\"make\"}\nafter the tool", "wait": false},
		step{"op": "wait_permission", "count": 1},
		step{"op": "end_stdin"},
		step{"op": "await", "request": "p", "expect": map[string]any{"stopReason": "end_turn"}},
	), mockArgs...)
	require.Equal(t, 0, run.code)

	exits := of(run.evs, "exit", "")
	require.Len(t, exits, 1)
	require.NotNil(t, exits[0].Code)
	assert.Equal(t, 0, *exits[0].Code, "tether acp exits 0 when what it was sent is answered")
	require.Len(t, of(run.evs, "request", "session/request_permission"), 1)
	assert.Empty(t, of(run.evs, "answer", "session/request_permission"), "the client never answered")
	ups := acpUpdates(t, run.turn(t, 0))
	var failed, after bool
	for _, u := range ups {
		failed = failed || u.Update.Kind == "tool_call_update" && u.Update.Status == "failed"
		after = after || strings.Contains(u.Text(), "after")
	}
	assert.True(t, failed, "the tool did not run")
	assert.True(t, after, "the turn went on to its end")
}

// member is the member key of the JSON object raw, or nil.
func member(t *testing.T, raw json.RawMessage, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m), "%s", raw)
	return m[key]
}
