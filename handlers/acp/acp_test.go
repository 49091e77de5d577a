package acp_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/handlers/acp"
	"github.com/tether-dev/tether/rpc"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestInitializeAdvertisesWhatTetherDoes(t *testing.T) {
	c := start(t, withBackends("mock", named{"claude", true}, mock.Backend{}))
	for _, asked := range []int{1, 2} {
		var res struct {
			ProtocolVersion   int `json:"protocolVersion"`
			AgentInfo         map[string]string
			AgentCapabilities struct {
				LoadSession         bool                       `json:"loadSession"`
				PromptCapabilities  map[string]bool            `json:"promptCapabilities"`
				McpCapabilities     map[string]bool            `json:"mcpCapabilities"`
				SessionCapabilities map[string]json.RawMessage `json:"sessionCapabilities"`
			}
			AuthMethods []map[string]any
		}
		c.call("initialize", map[string]any{"protocolVersion": asked, "clientInfo": map[string]any{"name": "test", "version": "1"}}, &res)
		assert.Equal(t, 1, res.ProtocolVersion, "asked %d: Tether speaks 1", asked)
		assert.Equal(t, map[string]string{"name": "tether", "title": "Tether", "version": "test"}, res.AgentInfo)
		caps := res.AgentCapabilities
		assert.False(t, caps.LoadSession, "no stored sessions yet")
		assert.Equal(t, map[string]bool{"image": true, "embeddedContext": true}, caps.PromptCapabilities, "the mock takes images")
		assert.Empty(t, caps.McpCapabilities, "no backend here takes MCP servers over http or sse")
		assert.Contains(t, caps.SessionCapabilities, "list")
		assert.Contains(t, caps.SessionCapabilities, "close")
		assert.NotContains(t, caps.SessionCapabilities, "resume")
		require.Len(t, res.AuthMethods, 1, "a client without terminal auth gets the agent method only")
		assert.Equal(t, "tether-setup", res.AuthMethods[0]["id"])
		assert.Contains(t, res.AuthMethods[0]["description"], "claude auth login")
		assert.Contains(t, res.AuthMethods[0]["description"], "ANTHROPIC_API_KEY")
	}

	var res struct{ AuthMethods []map[string]any }
	c.call("initialize", map[string]any{"protocolVersion": 1, "clientCapabilities": map[string]any{"auth": map[string]any{"terminal": true}}}, &res)
	require.Len(t, res.AuthMethods, 2)
	assert.Equal(t, map[string]any{
		"id": "claude-login", "name": "Log in to Claude", "type": "terminal", "args": []any{"--login"},
		"description": "Runs the claude CLI's login in a terminal.",
	}, res.AuthMethods[1])

	var ok map[string]any
	c.call("authenticate", map[string]any{"methodId": "tether-setup"}, &ok)
	assert.Empty(t, ok, "the mock needs no login: authenticate succeeds")
}

func TestInitializeWithoutImageBackends(t *testing.T) {
	c := start(t, withBackends("textonly", textOnly()))
	var res struct {
		AgentCapabilities struct {
			PromptCapabilities map[string]bool `json:"promptCapabilities"`
		}
	}
	c.call("initialize", map[string]any{"protocolVersion": 1}, &res)
	assert.Equal(t, map[string]bool{"embeddedContext": true}, res.AgentCapabilities.PromptCapabilities)
}

func TestNewSessionAnswersConfigOptionsAndModes(t *testing.T) {
	c := start(t, withBackends("choosy", choosy(), mock.Backend{}, named{"claude", false}))
	var res struct {
		SessionID     string           `json:"sessionId"`
		ConfigOptions []map[string]any `json:"configOptions"`
		Modes         map[string]any   `json:"modes"`
	}
	c.call("session/new", map[string]any{"cwd": t.TempDir(), "mcpServers": []any{}}, &res)
	assert.Regexp(t, uuidRE, res.SessionID)
	require.Len(t, res.ConfigOptions, 3)
	backend, model, mode := res.ConfigOptions[0], res.ConfigOptions[1], res.ConfigOptions[2]
	assert.Equal(t, "backend", backend["id"])
	assert.Equal(t, "choosy", backend["currentValue"])
	assert.Equal(t, []any{"choosy", "mock"}, values(backend), "only the backends that can run here")
	assert.Nil(t, backend["category"])
	assert.Equal(t, "model", model["category"])
	assert.Equal(t, "small", model["currentValue"], "the default: the first")
	assert.Equal(t, []any{"small", "large"}, values(model))
	assert.Equal(t, "mode", mode["category"])
	assert.Equal(t, "default", mode["currentValue"])
	assert.Equal(t, []any{"default", "plan"}, values(mode))
	assert.Equal(t, "default", res.Modes["currentModeId"])
	assert.Len(t, res.Modes["availableModes"], 2)
}

func values(option map[string]any) []any {
	var out []any
	for _, o := range option["options"].([]any) {
		out = append(out, o.(map[string]any)["value"])
	}
	return out
}

func TestNewSessionErrors(t *testing.T) {
	c := start(t)
	for _, tc := range []struct {
		params map[string]any
		code   int64
		field  string
		msg    string
	}{
		{map[string]any{"mcpServers": []any{}}, rpc.CodeInvalidParams, "cwd", "required"},
		{map[string]any{"cwd": "relative/dir", "mcpServers": []any{}}, rpc.CodeInvalidParams, "cwd", "not an absolute path"},
		{map[string]any{"cwd": "/", "mcpServers": []any{map[string]any{"type": "acp", "name": "fs", "id": "mcp-1"}}},
			rpc.CodeInvalidParams, "mcpServers[0]", "unsupported MCP transport"},
	} {
		e := c.callError("session/new", tc.params)
		assert.Equal(t, tc.code, e.Code, "%v", tc.params)
		assert.Contains(t, e.Message, tc.msg)
		if tc.field != "" {
			assert.JSONEq(t, `{"field":"`+tc.field+`"}`, string(e.Data))
		}
	}
}

func TestPromptStreamsChunksThenAnswers(t *testing.T) {
	c := start(t)
	id := c.newSession(t.TempDir())
	before, resp := c.waitResponse(c.Request("session/prompt", promptText(id, "  \nhello brave world\n/think pondering\n/tokens 3")))
	require.Nil(t, resp.Error)
	mine := updatesOf(t, before, id)
	assert.Equal(t, "hello brave world\ntok1 tok2 tok3", chunks(t, mine), "the chunks concatenate exactly to what the mock streams")
	assert.Equal(t, []string{"session_info_update", "agent_message_chunk", "agent_thought_chunk", "agent_message_chunk"}, kinds(t, mine))
	info := mine[0].update(t).Update
	assert.Equal(t, "hello brave world", info["title"], "the first line of the first prompt")
	assert.NotEmpty(t, info["updatedAt"])
	assert.JSONEq(t, `{"stopReason":"end_turn","usage":{"inputTokens":7,"outputTokens":6,"totalTokens":13}}`, string(resp.Result))
	// The chunk lines are written by hand: check one byte for byte (it
	// holds one token, or several merged for a client that fell behind).
	for _, m := range mine {
		if m.kind(t) == "agent_message_chunk" {
			text, err := json.Marshal(m.update(t).Update["content"].(map[string]any)["text"])
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(string(text), `"hello`))
			assert.Equal(t, `{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"`+id+`","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":`+string(text)+`}}}}`, m.raw)
			break
		}
	}

	// A later prompt sets no title again.
	before, _ = c.waitResponse(c.Request("session/prompt", promptText(id, "again")))
	assert.Equal(t, []string{"agent_message_chunk"}, kinds(t, updatesOf(t, before[len(mine)+1:], id)))
}

func TestPromptContentBlocks(t *testing.T) {
	c := start(t, withBackends("mock", mock.Backend{}, textOnly()))
	id := c.newSession(t.TempDir())
	prompt := map[string]any{"sessionId": id, "prompt": []any{
		map[string]any{"type": "text", "text": "Look at "},
		map[string]any{"type": "resource_link", "uri": "file:///w/main.go", "name": "main.go"},
		map[string]any{"type": "text", "text": " and "},
		map[string]any{"type": "resource", "resource": map[string]any{"uri": "file:///w/notes.txt", "text": "note one", "mimeType": "text/plain"}},
		map[string]any{"type": "image", "mimeType": "image/png", "data": "iVBORw0KGgo="},
	}}
	before, resp := c.waitResponse(c.Request("session/prompt", prompt))
	require.Nil(t, resp.Error)
	assert.Equal(t, "image image/png 12 base64 bytes\nLook at [@main.go](file:///w/main.go) and [@notes.txt](file:///w/notes.txt)\n<context ref=\"file:///w/notes.txt\">\nnote one\n</context>",
		chunks(t, updatesOf(t, before, id)), "the mock echoes what it was shown")

	// A backend without images refuses them, and the session stays.
	text := c.newSessionOn(t, "textonly")
	prompt["sessionId"] = text
	e := c.callError("session/prompt", prompt)
	assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code)
	assert.Contains(t, e.Message, "the textonly backend takes no images")
	var res map[string]any
	c.call("session/prompt", promptText(text, "still here"), &res)
	assert.Equal(t, "end_turn", res["stopReason"])

	for _, tc := range []struct {
		prompt []any
		field  string
	}{
		{[]any{}, "prompt"},
		{[]any{map[string]any{"type": "video"}}, "prompt[0]"},
		{[]any{map[string]any{"type": "text", "text": "x"}, map[string]any{"type": "image", "mimeType": "image/png"}}, "prompt[1]"},
	} {
		e := c.callError("session/prompt", map[string]any{"sessionId": id, "prompt": tc.prompt})
		assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code, "%v", tc.prompt)
		assert.JSONEq(t, `{"field":"`+tc.field+`"}`, string(e.Data), "%v: %s", tc.prompt, e.Message)
	}
	e = c.callError("session/prompt", map[string]any{"sessionId": id, "prompt": []any{map[string]any{"type": "audio", "mimeType": "audio/wav", "data": "AAAA"}}})
	assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code)
	assert.Contains(t, e.Message, "audio")
}

// newSessionOn makes a session and moves it to backend.
func (c *client) newSessionOn(t *testing.T, backend string) string {
	id := c.newSession(t.TempDir())
	c.call("session/set_config_option", map[string]any{"sessionId": id, "configId": "backend", "value": backend}, nil)
	return id
}

func TestUnknownSessionIsResourceNotFound(t *testing.T) {
	c := start(t)
	for method, params := range map[string]any{
		"session/prompt":            promptText("nope", "hi"),
		"session/set_config_option": map[string]any{"sessionId": "nope", "configId": "mode", "value": "default"},
		"session/set_mode":          map[string]any{"sessionId": "nope", "modeId": "default"},
		"session/close":             map[string]any{"sessionId": "nope"},
	} {
		e := c.callError(method, params)
		assert.Equal(t, int64(acp.CodeResourceNotFound), e.Code, method)
		assert.Contains(t, e.Message, `"nope"`, method)
	}
}

func TestSessionListAndClose(t *testing.T) {
	c := start(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	a, b := c.newSession(dirA), c.newSession(dirB)
	c.call("session/prompt", promptText(a, "first of a\nmore"), nil)

	type list struct {
		Sessions []struct {
			SessionID string `json:"sessionId"`
			Cwd       string `json:"cwd"`
			Title     string `json:"title"`
			UpdatedAt string `json:"updatedAt"`
		} `json:"sessions"`
	}
	var l list
	c.call("session/list", map[string]any{}, &l)
	require.Len(t, l.Sessions, 2)
	assert.Equal(t, a, l.Sessions[0].SessionID, "oldest first")
	assert.Equal(t, dirA, l.Sessions[0].Cwd)
	assert.Equal(t, "first of a", l.Sessions[0].Title)
	assert.NotEmpty(t, l.Sessions[0].UpdatedAt)
	assert.Equal(t, b, l.Sessions[1].SessionID)
	assert.Empty(t, l.Sessions[1].Title, "no prompt, no title")

	c.call("session/list", map[string]any{"cwd": dirB}, &l)
	require.Len(t, l.Sessions, 1, "filtered by cwd")
	assert.Equal(t, b, l.Sessions[0].SessionID)

	var closed map[string]any
	c.call("session/close", map[string]any{"sessionId": a}, &closed)
	assert.Empty(t, closed)
	c.call("session/list", nil, &l)
	require.Len(t, l.Sessions, 1)
	assert.Equal(t, b, l.Sessions[0].SessionID)
	e := c.callError("session/prompt", promptText(a, "hi"))
	assert.Equal(t, int64(acp.CodeResourceNotFound), e.Code, "a closed session is gone")
}

func TestNoGoroutineLeftAfterEndOfInput(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	c := start(t)
	a, b := c.newSession(t.TempDir()), c.newSession(t.TempDir())
	c.call("session/prompt", promptText(a, "hello"), nil)
	c.Request("session/prompt", promptText(b, `/tool Bash {"command":"ls"}`))
	c.waitMethod("session/request_permission")
	c.Request("session/prompt", promptText(a, "/tokens 100"))
	c.W.Close()
	assert.Equal(t, 0, c.ExitCode(), "end of input after the answers")
	log := c.Drain()
	answered := map[string]string{}
	for _, m := range log {
		if m.isResponse() && m.Error == nil {
			var res map[string]any
			require.NoError(t, json.Unmarshal(m.Result, &res))
			if r, ok := res["stopReason"].(string); ok {
				answered[string(m.ID)] = r
			}
		}
	}
	assert.Equal(t, map[string]string{"3": "end_turn", "4": "end_turn", "5": "end_turn"}, answered,
		"every prompt is answered; the permission nobody can answer is denied and the turn goes on")
	var denied map[string]any
	for _, m := range updatesOf(t, log, b) {
		if m.kind(t) == "tool_call_update" {
			denied = m.update(t).Update
		}
	}
	require.NotNil(t, denied)
	assert.Equal(t, "failed", denied["status"])
	assert.Contains(t, denied["content"].([]any)[0].(map[string]any)["content"].(map[string]any)["text"], "client gone")
	goleak.VerifyNone(t, ignore)
}
