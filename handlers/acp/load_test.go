package acp_test

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/handlers/acp"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/store"
)

// withStoreAt serves with the session store at path, opened for this run
// of Tether and closed when the test ends, as the command line does.
func withStoreAt(t *testing.T, path string) option {
	st, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return func(c *handlers.Config) { c.Store = st }
}

// stop ends a run of Tether: its input, then its exit.
func (c *client) stop() {
	c.t.Helper()
	c.W.Close()
	c.Drain()
	c.ExitCode()
}

// A session lives on after Tether: a later run lists it, session/load
// replays its conversation as the updates it produced (user messages
// too) and then answers, and its prompts go on; session/resume restores
// one without a replay.
func TestLoadAndResumeAStoredSession(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	dir := t.TempDir()

	first := start(t, withStoreAt(t, path))
	var init struct {
		AgentCapabilities struct {
			LoadSession         bool                       `json:"loadSession"`
			SessionCapabilities map[string]json.RawMessage `json:"sessionCapabilities"`
		}
	}
	first.call("initialize", map[string]any{"protocolVersion": 1}, &init)
	assert.True(t, init.AgentCapabilities.LoadSession)
	assert.JSONEq(t, `{}`, string(init.AgentCapabilities.SessionCapabilities["resume"]), "an object: the TS SDK drops true")
	assert.JSONEq(t, `{}`, string(init.AgentCapabilities.SessionCapabilities["list"]))

	id := first.newSession(dir)
	p := first.Request("session/prompt", promptText(id, "hello brave world\n/think pondering\n/tool Bash {\"command\":\"ls\"}\ndone"))
	req := first.waitMethod("session/request_permission")
	first.Reply(req.ID, selected("allow_once"))
	live, resp := first.waitResponse(p)
	require.Nil(t, resp.Error)
	first.call("session/prompt", promptText(id, "second"), nil)
	first.stop()

	second := start(t, withStoreAt(t, path))
	var list struct {
		Sessions []struct {
			SessionID string  `json:"sessionId"`
			Cwd       string  `json:"cwd"`
			Title     string  `json:"title"`
			UpdatedAt string  `json:"updatedAt"`
			Next      *string `json:"nextCursor"`
		} `json:"sessions"`
	}
	second.call("session/list", map[string]any{"cwd": dir}, &list)
	require.Len(t, list.Sessions, 1)
	assert.Equal(t, id, list.Sessions[0].SessionID, "the ACP session id is the Tether session id")
	assert.Equal(t, "hello brave world", list.Sessions[0].Title)
	assert.NotEmpty(t, list.Sessions[0].UpdatedAt)
	second.call("session/list", map[string]any{"cwd": t.TempDir()}, &list)
	assert.Empty(t, list.Sessions, "filtered by cwd")

	e := second.callError("session/load", map[string]any{"sessionId": id, "cwd": t.TempDir(), "mcpServers": []any{}})
	assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code)
	assert.JSONEq(t, `{"field":"cwd"}`, string(e.Data))
	e = second.callError("session/load", map[string]any{"sessionId": "nope", "cwd": dir, "mcpServers": []any{}})
	assert.Equal(t, int64(acp.CodeResourceNotFound), e.Code)

	load := second.Request("session/load", map[string]any{"sessionId": id, "cwd": dir, "mcpServers": []any{}})
	replayed, resp := second.waitResponse(load)
	require.Nil(t, resp.Error)
	var loaded struct {
		ConfigOptions []map[string]any `json:"configOptions"`
	}
	require.NoError(t, json.Unmarshal(resp.Result, &loaded))
	assert.NotEmpty(t, loaded.ConfigOptions)
	replayed = updatesOf(t, replayed, id)
	assert.Equal(t, []string{
		"user_message_chunk",
		"agent_message_chunk", "agent_thought_chunk", "tool_call", "tool_call_update", "agent_message_chunk",
		"user_message_chunk", "agent_message_chunk",
	}, kinds(t, replayed))
	assert.Equal(t, chunks(t, updatesOf(t, live, id))+"second", chunks(t, replayed), "the agent's text as it streamed")
	user := replayed[0].update(t).Update["content"].(map[string]any)
	assert.Equal(t, "hello brave world\n/think pondering\n/tool Bash {\"command\":\"ls\"}\ndone", user["text"])
	assert.Equal(t, toolUpdates(t, updatesOf(t, live, id))[0], toolUpdates(t, replayed)[0], "the tool call as it was shown")
	assert.Equal(t, "completed", toolUpdates(t, replayed)[1]["status"])

	// The loaded session goes on.
	seen := len(second.Log)
	p = second.Request("session/prompt", promptText(id, "third"))
	after, resp := second.waitResponse(p)
	require.Nil(t, resp.Error)
	assert.Equal(t, "third", chunks(t, updatesOf(t, after[seen:], id)))
	second.stop()

	third := start(t, withStoreAt(t, path))
	resume := third.Request("session/resume", map[string]any{"sessionId": id, "cwd": dir})
	before, resp := third.waitResponse(resume)
	require.Nil(t, resp.Error)
	assert.Empty(t, updatesOf(t, before, id), "resume does not replay")
	third.call("session/prompt", promptText(id, "fourth"), nil)
	third.stop()

	fourth := start(t, withStoreAt(t, path))
	load = fourth.Request("session/load", map[string]any{"sessionId": id, "cwd": dir, "mcpServers": []any{}})
	replayed, _ = fourth.waitResponse(load)
	assert.Equal(t, "hello brave world\ndonesecondthirdfourth", chunks(t, updatesOf(t, replayed, id)), "every turn, from every run")
}
