package acp_test

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/handlers/acp"
	"github.com/tether-dev/tether/rpc"
)

// permissionParams is what a session/request_permission carries.
type permissionParams struct {
	SessionID string         `json:"sessionId"`
	ToolCall  map[string]any `json:"toolCall"`
	Options   []struct {
		OptionID string `json:"optionId"`
		Name     string `json:"name"`
		Kind     string `json:"kind"`
	} `json:"options"`
}

func permission(t *testing.T, m message) permissionParams {
	t.Helper()
	require.NotNil(t, m.ID, "session/request_permission is a request")
	var p permissionParams
	require.NoError(t, json.Unmarshal(m.Params, &p))
	return p
}

func selected(optionID string) map[string]any {
	return map[string]any{"outcome": map[string]any{"outcome": "selected", "optionId": optionID}}
}

// toolUpdates returns the tool_call and tool_call_update payloads among ms.
func toolUpdates(t *testing.T, ms []message) []map[string]any {
	var out []map[string]any
	for _, m := range ms {
		if k := m.kind(t); k == "tool_call" || k == "tool_call_update" {
			out = append(out, m.update(t).Update)
		}
	}
	return out
}

func TestPermissionRoundTrips(t *testing.T) {
	c := start(t)
	id := c.newSession(t.TempDir())
	ls := `/tool Bash {"command":"ls"}` + "\nafter"

	// allow_once: the tool runs, and the next identical call asks again.
	p1 := c.Request("session/prompt", promptText(id, ls))
	req := c.waitMethod("session/request_permission")
	perm := permission(t, req)
	assert.Equal(t, id, perm.SessionID)
	assert.Equal(t, map[string]any{
		"toolCallId": "toolu_mock_1", "title": "Bash", "kind": "execute", "status": "pending",
		"rawInput": map[string]any{"command": "ls"},
	}, perm.ToolCall)
	require.Len(t, perm.Options, 3)
	assert.Equal(t, []string{"allow_once", "allow_always", "reject_once"}, []string{perm.Options[0].Kind, perm.Options[1].Kind, perm.Options[2].Kind})
	assert.Equal(t, "Allow", perm.Options[0].Name)
	assert.Equal(t, `Always allow Bash(ls:*)`, perm.Options[1].Name, "named with the rule it adds")
	assert.Equal(t, "Reject", perm.Options[2].Name)
	c.Reply(req.ID, selected(perm.Options[0].OptionID))
	before, resp := c.waitResponse(p1)
	require.Nil(t, resp.Error)
	updates := toolUpdates(t, updatesOf(t, before, id))
	require.Len(t, updates, 2)
	assert.Equal(t, "tool_call", updates[0]["sessionUpdate"])
	assert.Equal(t, "pending", updates[0]["status"])
	assert.Equal(t, "execute", updates[0]["kind"])
	assert.Equal(t, map[string]any{
		"sessionUpdate": "tool_call_update", "toolCallId": "toolu_mock_1", "status": "completed",
		"content": []any{map[string]any{"type": "content", "content": map[string]any{"type": "text", "text": "Bash ran (mock result)"}}},
	}, updates[1])
	assert.Equal(t, "after", chunks(t, updatesOf(t, before, id)))

	// allow_always: this time, and the identical call after it is not
	// asked.
	p2 := c.Request("session/prompt", promptText(id, ls))
	req = c.waitMethod("session/request_permission")
	c.Reply(req.ID, selected("allow_always"))
	_, resp = c.waitResponse(p2)
	require.Nil(t, resp.Error)
	p3 := c.Request("session/prompt", promptText(id, ls))
	before, resp = c.waitResponse(p3)
	require.Nil(t, resp.Error)
	assert.Equal(t, 2, countMethod(before, "session/request_permission"), "two asked, the third allowed by the rule")
	last := toolUpdates(t, updatesOf(t, before, id))
	assert.Equal(t, "completed", last[len(last)-1]["status"])

	// reject_once: the tool fails with the denial, and the turn goes on.
	p4 := c.Request("session/prompt", promptText(id, `/tool Bash {"command":"rm -rf /"}`+"\nafter"))
	req = c.waitMethod("session/request_permission")
	c.Reply(req.ID, selected("reject_once"))
	before, resp = c.waitResponse(p4)
	require.Nil(t, resp.Error)
	assert.JSONEq(t, `{"stopReason":"end_turn","usage":{"inputTokens":6,"outputTokens":1,"totalTokens":7}}`, string(resp.Result))
	last = toolUpdates(t, updatesOf(t, before, id))
	final := last[len(last)-1]
	assert.Equal(t, "failed", final["status"])
	assert.Contains(t, final["content"].([]any)[0].(map[string]any)["content"].(map[string]any)["text"], "Bash denied")
}

func countMethod(ms []message, method string) int {
	n := 0
	for _, m := range ms {
		if m.Method == method {
			n++
		}
	}
	return n
}

// TestPermissionCancelledOutcomeCancelsTheTurn: ACP's "cancelled" outcome
// means the prompt turn was cancelled before the user answered. The turn
// ends "cancelled" then, even when the answer reaches Tether before (or
// without) the session/cancel that caused it, and the tool is denied; a
// prompt queued behind it still runs, since only session/cancel cancels
// those.
func TestPermissionCancelledOutcomeCancelsTheTurn(t *testing.T) {
	c := start(t)
	id := c.newSession(t.TempDir())
	p := c.Request("session/prompt", promptText(id, "/tool Bash {}\nnever said"))
	req := c.waitMethod("session/request_permission")
	q := c.Request("session/prompt", promptText(id, "queued"))
	c.Reply(req.ID, map[string]any{"outcome": map[string]any{"outcome": "cancelled"}})
	before, resp := c.waitResponse(p)
	require.Nil(t, resp.Error)
	var res map[string]any
	require.NoError(t, json.Unmarshal(resp.Result, &res))
	assert.Equal(t, "cancelled", res["stopReason"])
	calls := toolUpdates(t, updatesOf(t, before, id))
	require.Len(t, calls, 2)
	assert.Equal(t, map[string]any{
		"sessionUpdate": "tool_call_update", "toolCallId": "toolu_mock_1", "status": "failed",
		"content": []any{map[string]any{"type": "content", "content": map[string]any{"type": "text", "text": "not finished: the turn ended first"}}},
	}, calls[1], "the tool call does not stay pending")
	assert.NotContains(t, chunks(t, updatesOf(t, before, id)), "never said")

	_, resp = c.waitResponse(q)
	require.Nil(t, resp.Error)
	require.NoError(t, json.Unmarshal(resp.Result, &res))
	assert.Equal(t, "end_turn", res["stopReason"])
}

func TestCancelWithAPendingPermission(t *testing.T) {
	c := start(t)
	id := c.newSession(t.TempDir())
	p := c.Request("session/prompt", promptText(id, "/tokens 2\n/tool Bash {}\nnever"))
	req := c.waitMethod("session/request_permission")
	q := c.Request("session/prompt", promptText(id, "queued"))
	c.Notify("session/cancel", map[string]any{"sessionId": id})

	cancelReq := c.waitMethod("$/cancel_request")
	assert.JSONEq(t, `{"requestId":`+string(req.ID)+`}`, string(cancelReq.Params), "the withdrawn request is cancelled by its id")
	before, resp := c.waitResponse(p)
	require.Nil(t, resp.Error)
	assert.JSONEq(t, `{"stopReason":"cancelled","usage":{"inputTokens":6,"outputTokens":2,"totalTokens":8}}`, string(resp.Result))
	assert.Contains(t, methodsOf(before), "$/cancel_request", "the client is told before the prompt's answer")
	assert.Equal(t, "tok1 tok2", chunks(t, updatesOf(t, before, id)))
	calls := toolUpdates(t, updatesOf(t, before, id))
	require.Len(t, calls, 2)
	assert.Equal(t, map[string]any{
		"sessionUpdate": "tool_call_update", "toolCallId": "toolu_mock_1", "status": "failed",
		"content": []any{map[string]any{"type": "content", "content": map[string]any{"type": "text", "text": "not run: the permission request was withdrawn (cancelled)"}}},
	}, calls[1], "the tool call does not stay pending")
	_, resp = c.waitResponse(q)
	require.Nil(t, resp.Error)
	assert.JSONEq(t, `{"stopReason":"cancelled","usage":{"inputTokens":0,"outputTokens":0,"totalTokens":0}}`, string(resp.Result), "the queued prompt is cancelled too")

	// A late answer to the withdrawn request is dropped, and the session
	// goes on.
	c.Reply(req.ID, selected("allow_once"))
	var res map[string]any
	c.call("session/prompt", promptText(id, "still here"), &res)
	assert.Equal(t, "end_turn", res["stopReason"])
}

func methodsOf(ms []message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Method)
	}
	return out
}

func TestCancelRequestOfAPrompt(t *testing.T) {
	c := start(t)
	id := c.newSession(t.TempDir())
	p := c.Request("session/prompt", promptText(id, "/tokens 1\n/sleep 60000"))
	c.waitMethod("session/update")
	c.Notify("$/cancel_request", map[string]any{"requestId": p})
	_, resp := c.waitResponse(p)
	require.NotNil(t, resp.Error)
	assert.Equal(t, int64(rpc.CodeRequestCancelled), resp.Error.Code)
}

func TestTwoSessionsAtOnce(t *testing.T) {
	c := start(t)
	a, b := c.newSession(t.TempDir()), c.newSession(t.TempDir())
	pa := c.Request("session/prompt", promptText(a, "/tool Bash {}\nfrom a"))
	req := c.waitMethod("session/request_permission")
	assert.Equal(t, a, permission(t, req).SessionID)
	var res map[string]any
	c.call("session/prompt", promptText(b, "from b"), &res)
	assert.Equal(t, "end_turn", res["stopReason"], "b runs while a waits for the client")
	c.Reply(req.ID, selected("allow_once"))
	before, resp := c.waitResponse(pa)
	require.Nil(t, resp.Error)
	assert.Equal(t, "from a", chunks(t, updatesOf(t, before, a)))
	assert.Equal(t, "from b", chunks(t, updatesOf(t, before, b)))
}

func TestQueuedPromptsAreAnsweredInOrder(t *testing.T) {
	c := start(t)
	id := c.newSession(t.TempDir())
	p1 := c.Request("session/prompt", promptText(id, "/tool Bash {}\none"))
	req := c.waitMethod("session/request_permission")
	p2 := c.Request("session/prompt", promptText(id, "two"))
	p3 := c.Request("session/prompt", promptText(id, "three"))
	c.Reply(req.ID, selected("allow_once"))
	_, r3 := c.waitResponse(p3)
	require.Nil(t, r3.Error)
	var order []string
	text := ""
	for _, m := range c.Log {
		switch {
		case m.isResponse() && m.ID != nil && (string(m.ID) == itoa(p1) || string(m.ID) == itoa(p2) || string(m.ID) == itoa(p3)):
			order = append(order, "reply "+string(m.ID)+" after "+text)
			text = ""
		case m.kind(t) == "agent_message_chunk":
			text += chunks(t, []message{m})
		}
	}
	assert.Equal(t, []string{"reply " + itoa(p1) + " after one", "reply " + itoa(p2) + " after two", "reply " + itoa(p3) + " after three"}, order,
		"each prompt's chunks come before its reply, and the replies in order")
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestConfigOptionsSwitchModelAndMode(t *testing.T) {
	v := choosy()
	c := start(t, withBackends("choosy", v, mock.Backend{}))
	id := c.newSession(t.TempDir())
	var res struct {
		ConfigOptions []map[string]any `json:"configOptions"`
	}
	c.call("session/set_config_option", map[string]any{"sessionId": id, "configId": "model", "value": "large"}, &res)
	require.Len(t, res.ConfigOptions, 3)
	assert.Equal(t, "large", res.ConfigOptions[1]["currentValue"], "the full options, switched")

	p := c.Request("session/set_config_option", map[string]any{"sessionId": id, "configId": "mode", "value": "plan"})
	before, resp := c.waitResponse(p)
	require.Nil(t, resp.Error)
	require.NoError(t, json.Unmarshal(resp.Result, &res))
	assert.Equal(t, "plan", res.ConfigOptions[2]["currentValue"])
	mode := updatesOf(t, before, id)
	require.NotEmpty(t, mode)
	assert.Equal(t, map[string]any{"sessionUpdate": "current_mode_update", "currentModeId": "plan"}, mode[len(mode)-1].update(t).Update,
		"clients that follow the legacy modes are told")

	c.call("session/prompt", promptText(id, "hi"), nil)
	turn := v.lastTurn()
	assert.Equal(t, "large", turn.Model, "the next turn runs with them")
	assert.Equal(t, "plan", turn.PermissionMode)

	// The legacy session/set_mode, and the config_option_update it brings.
	p = c.Request("session/set_mode", map[string]any{"sessionId": id, "modeId": "default"})
	before, resp = c.waitResponse(p)
	require.Nil(t, resp.Error)
	assert.JSONEq(t, `{}`, string(resp.Result))
	u := updatesOf(t, before, id)
	last := u[len(u)-1].update(t).Update
	assert.Equal(t, "config_option_update", last["sessionUpdate"])
	assert.Equal(t, "default", last["configOptions"].([]any)[2].(map[string]any)["currentValue"])
	c.call("session/prompt", promptText(id, "hi"), nil)
	assert.Equal(t, "default", v.lastTurn().PermissionMode)

	for _, tc := range []struct {
		params map[string]any
		msg    string
	}{
		{map[string]any{"sessionId": id, "configId": "model", "value": "huge"}, `no model "huge" (it has small, large)`},
		{map[string]any{"sessionId": id, "configId": "mode", "value": "yolo"}, `no mode "yolo"`},
		{map[string]any{"sessionId": id, "configId": "effort", "value": "high"}, `unknown option "effort"`},
		{map[string]any{"sessionId": id, "configId": "model", "type": "boolean", "value": true}, "must be a string"},
		{map[string]any{"sessionId": id, "configId": "backend", "value": "mock"}, "only before the first prompt"},
	} {
		e := c.callError("session/set_config_option", tc.params)
		assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code, "%v", tc.params)
		assert.Contains(t, e.Message, tc.msg)
	}
	e := c.callError("session/set_mode", map[string]any{"sessionId": id, "modeId": "yolo"})
	assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code)
}

func TestBackendChangesOnlyBeforeTheFirstPrompt(t *testing.T) {
	v := choosy()
	c := start(t, withBackends("mock", mock.Backend{}, v, named{"gone", false}))
	id := c.newSession(t.TempDir())
	var res struct {
		ConfigOptions []map[string]any `json:"configOptions"`
	}
	c.call("session/set_config_option", map[string]any{"sessionId": id, "configId": "backend", "value": "choosy"}, &res)
	assert.Equal(t, "choosy", res.ConfigOptions[0]["currentValue"])
	assert.Equal(t, []any{"small", "large"}, values(res.ConfigOptions[1]), "the new backend's models")

	c.call("session/prompt", promptText(id, "hi"), nil)
	assert.Equal(t, "hi", backends.PromptText(v.lastTurn().Prompt), "the prompt ran on choosy")

	e := c.callError("session/set_config_option", map[string]any{"sessionId": id, "configId": "backend", "value": "mock"})
	assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code)
	assert.Contains(t, e.Message, "start a new session for mock")

	other := c.newSession(t.TempDir())
	for value, msg := range map[string]string{"nope": `unknown backend "nope"`, "gone": "cannot run here: named gone"} {
		e = c.callError("session/set_config_option", map[string]any{"sessionId": other, "configId": "backend", "value": value})
		assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code)
		assert.Contains(t, e.Message, msg)
	}
}

func TestEveryKindOfUpdate(t *testing.T) {
	c := start(t, withBackends("showcase", showcase{}))
	id := c.newSession(t.TempDir())
	before, resp := c.waitResponse(c.Request("session/prompt", promptText(id, "go")))
	require.Nil(t, resp.Error)
	assert.JSONEq(t, `{"stopReason":"max_turn_requests","usage":{"inputTokens":10,"outputTokens":5,"cachedReadTokens":100,"totalTokens":115}}`, string(resp.Result))
	var lines []string
	for _, m := range updatesOf(t, before, id) {
		lines = append(lines, m.raw)
	}
	pre := `{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"` + id + `","update":`
	assert.Equal(t, []string{
		pre + `{"sessionUpdate":"session_info_update","title":"go","updatedAt":` + jsonString(t, updatesOf(t, before, id)[0].update(t).Update["updatedAt"]) + `}}}`,
		pre + `{"availableCommands":[{"description":"Review the diff","name":"review"},{"description":"Write CLAUDE.md","input":{"hint":"what to focus on"},"name":"init"}],"sessionUpdate":"available_commands_update"}}}`,
		pre + `{"sessionUpdate":"agent_thought_chunk","content":{"type":"text","text":"Let me plan."}}}}`,
		pre + `{"entries":[{"content":"Read main.go","priority":"high","status":"completed"},{"content":"Fix the bug","priority":"medium","status":"pending"}],"sessionUpdate":"plan"}}}`,
		pre + `{"content":[{"newText":"a := 2","oldText":"a := 1","path":"/w/main.go","type":"diff"}],"kind":"edit","locations":[{"line":7,"path":"/w/main.go"}],"rawInput":{"file_path":"/w/main.go","old_string":"a := 1","new_string":"a := 2","n":12345678901234567890},"sessionUpdate":"tool_call","status":"pending","title":"Edit main.go","toolCallId":"toolu_1"}}}`,
		pre + `{"content":[{"content":{"text":"main.go","type":"text"},"type":"content"}],"rawOutput":{"ok":true},"sessionUpdate":"tool_call_update","status":"completed","toolCallId":"toolu_1"}}}`,
		pre + `{"kind":"other","rawInput":"not json","sessionUpdate":"tool_call","status":"pending","title":"mcp__x__y","toolCallId":"toolu_2"}}}`,
		pre + `{"content":[{"content":{"text":"mcp__x__y: error: boom","type":"text"},"type":"content"}],"sessionUpdate":"tool_call_update","status":"failed","toolCallId":"toolu_2"}}}`,
		pre + `{"cost":{"amount":0.25,"currency":"USD"},"sessionUpdate":"usage_update","size":200000,"used":1200}}}`,
		pre + `{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"Done."}}}}`,
	}, lines, "rawInput passes through exactly, big numbers included")

	e := c.callError("session/prompt", promptText(id, "auth"))
	assert.Equal(t, int64(acp.CodeAuthRequired), e.Code)
	assert.Contains(t, e.Message, "Please run /login")
}

func jsonString(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestMCPServersGoToTheBackend(t *testing.T) {
	c := start(t, withBackends("showcase", showcase{}))
	var res map[string]any
	c.call("session/new", map[string]any{"cwd": t.TempDir(), "mcpServers": []any{
		map[string]any{"name": "fs", "command": "mcp-fs", "args": []any{"--root", "/"}, "env": []any{map[string]any{"name": "A", "value": "1"}}},
		map[string]any{"type": "http", "name": "web", "url": "http://127.0.0.1:1/mcp", "headers": []any{}},
	}}, &res)
	assert.NotEmpty(t, res["sessionId"], "a backend that takes MCP servers gets them")
}
