package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends/openai"
	"github.com/tether-dev/tether/protocol"
)

// textReplyEvents streams text as one chunk, then stop and usage.
func textReplyEvents(text string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		sseEvents(w,
			chunkHead+`{"role":"assistant","content":`+jsonString(text)+`},"finish_reason":"stop"}]}`,
			`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"fake","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}}`,
			`[DONE]`)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The openai backend after a restart: the API keeps no conversation, so
// the next request must carry the whole earlier one, tool call and
// result included, from the store.
func TestRestartOpenAIContinuesFromTheStoredHistory(t *testing.T) {
	fake := &openaiFake{replies: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, _ *http.Request) {
			sseEvents(w,
				chunkHead+`{"role":"assistant","content":"Looking."},"finish_reason":null}]}`,
				chunkHead+`{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"main.go\"}"}}]},"finish_reason":null}]}`,
				chunkHead+`{},"finish_reason":"tool_calls"}]}`,
				`[DONE]`)
		},
		textReplyEvents(" It is package main."),
		textReplyEvents("You are welcome."),
		textReplyEvents("Still package main."),
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	state, dir := t.TempDir(), t.TempDir()
	env := append(stateEnv(state), openai.EnvAPIKey+"=sk-e2e")
	args := []string{"--backend", "openai", "--openai-base-url", srv.URL + "/v1", "--openai-model", "fake-model"}

	first := startRun(t, env, args...)
	id := first.Request(protocol.MethodSessionQuery, map[string]any{
		"sessionId": "chat", "prompt": "What is in main.go?", "cwd": dir, "systemPrompt": "Be brief.",
		"tools": []map[string]any{{"name": "read_file", "description": "Read a file", "parameters": map[string]any{"type": "object"}}},
	})
	_, call := first.waitMethod(protocol.MethodToolCall)
	first.Reply(call.ID, protocol.ToolCallResult{Content: "package main"})
	_, resp := first.waitResponse(id)
	require.Nil(t, resp.Error)
	var res protocol.QueryResult
	first.call(protocol.MethodSessionQuery, map[string]any{"sessionId": "chat", "prompt": "Thanks"}, &res)
	assert.Equal(t, "You are welcome.", res.Text)
	first.stop()

	second := startRun(t, env, args...)
	second.call(protocol.MethodSessionQuery, map[string]any{"sessionId": "chat", "prompt": "And again?"}, &res)
	assert.Equal(t, "Still package main.", res.Text)
	second.stop()

	reqs := fake.requests()
	require.Len(t, reqs, 4)
	type msg struct{ role, content, toolCallID string }
	messages := func(body map[string]any) []msg {
		var out []msg
		for _, raw := range body["messages"].([]any) {
			m := raw.(map[string]any)
			content, _ := m["content"].(string)
			id, _ := m["tool_call_id"].(string)
			if calls, ok := m["tool_calls"].([]any); ok {
				content += " " + calls[0].(map[string]any)["id"].(string)
			}
			out = append(out, msg{m["role"].(string), content, id})
		}
		return out
	}
	assert.Equal(t, []msg{
		{"system", "Be brief.", ""},
		{"user", "What is in main.go?", ""},
		{"assistant", "Looking. call_1", ""},
		{"tool", "package main", "call_1"},
		{"assistant", " It is package main.", ""},
		{"user", "Thanks", ""},
		{"assistant", "You are welcome.", ""},
		{"user", "And again?", ""},
	}, messages(reqs[3]), "after the restart, the request carries the whole earlier conversation")
	assert.Equal(t, append(messages(reqs[2]), msg{"assistant", "You are welcome.", ""}, msg{"user", "And again?", ""}), messages(reqs[3]),
		"as the Tether that lived it would have sent it")
	require.Len(t, reqs[3]["tools"], 1, "the session's tools came back with it")
	assert.Equal(t, "fake-model", reqs[3]["model"])
}
