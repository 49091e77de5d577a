package main

import (
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/backends/openai"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
)

// openaiFake is a minimal OpenAI-compatible server on 127.0.0.1 for the
// end-to-end test: it records request bodies and answers the n-th request
// with the n-th reply. The backend's own tests have the thorough fake.
type openaiFake struct {
	mu      sync.Mutex
	bodies  []map[string]any
	replies []func(w http.ResponseWriter, r *http.Request)
}

func (f *openaiFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	n := len(f.bodies)
	f.mu.Unlock()
	if n > len(f.replies) {
		http.Error(w, `{"error":{"message":"not scripted"}}`, http.StatusInternalServerError)
		return
	}
	f.replies[n-1](w, r)
}

func (f *openaiFake) requests() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.bodies...)
}

// sseEvents writes data-only SSE events, each ending with a blank line.
func sseEvents(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, e := range events {
		_, _ = io.WriteString(w, "data: "+e+"\n\n")
		w.(http.Flusher).Flush()
	}
}

const chunkHead = `{"id":"c1","object":"chat.completion.chunk","created":1,"model":"fake","choices":[{"index":0,"delta":`

// TestOpenAIBackendEndToEnd runs session/query with backend "openai"
// through the real JSON-RPC stack against a fake server: the model calls
// a tool the client declared, Tether asks the client with tool/call, the
// answer goes back to the model; then a second query is cancelled with
// session/cancel mid-stream.
func TestOpenAIBackendEndToEnd(t *testing.T) {
	streaming := make(chan struct{})
	fake := &openaiFake{replies: []func(http.ResponseWriter, *http.Request){
		func(w http.ResponseWriter, _ *http.Request) {
			sseEvents(w,
				chunkHead+`{"role":"assistant","content":"Looking."},"finish_reason":null}]}`,
				chunkHead+`{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"read_file","arguments":""}}]},"finish_reason":null}]}`,
				chunkHead+`{"tool_calls":[{"index":0,"function":{"arguments":"{\"path\":"}}]},"finish_reason":null}]}`,
				chunkHead+`{"tool_calls":[{"index":0,"function":{"arguments":"\"main.go\"}"}}]},"finish_reason":null}]}`,
				chunkHead+`{},"finish_reason":"tool_calls"}]}`,
				`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"fake","choices":[],"usage":{"prompt_tokens":11,"completion_tokens":4,"total_tokens":15}}`,
				`[DONE]`)
		},
		func(w http.ResponseWriter, _ *http.Request) {
			sseEvents(w,
				chunkHead+`{"content":" It is package main."},"finish_reason":"stop"}]}`,
				`{"id":"c1","object":"chat.completion.chunk","created":1,"model":"fake","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":6,"total_tokens":36}}`,
				`[DONE]`)
		},
		func(w http.ResponseWriter, r *http.Request) {
			sseEvents(w, chunkHead+`{"content":"Once upon"},"finish_reason":null}]}`)
			close(streaming)
			<-r.Context().Done() // only the cancel ends this stream
		},
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()

	// Configure the backend as main does: flags, and the key from the
	// environment.
	t.Setenv(openai.EnvAPIKey, "sk-e2e")
	fs := flag.NewFlagSet("tether", flag.ContinueOnError)
	cfg := openai.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"--openai-base-url", srv.URL + "/v1", "--openai-model", "fake-model"}))
	backend := openai.New(*cfg, slog.New(slog.DiscardHandler))
	c := startTether(t, rpc.FramingLSP, withBackends(openai.Name, backend, mock.Backend{}))
	c.call(protocol.MethodInitialize, map[string]any{}, nil)

	id := c.Request(protocol.MethodSessionQuery, map[string]any{
		"sessionId": "e2e", "prompt": "What is in main.go?", "backend": "openai",
		"tools": []map[string]any{{
			"name": "read_file", "description": "Read a file",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"path": map[string]any{"type": "string"}}},
		}},
	})
	before, call := c.waitMethod(protocol.MethodToolCall)
	require.NotNil(t, call.ID, "tool/call is a request")
	var params protocol.ToolCallParams
	require.NoError(t, json.Unmarshal(call.Params, &params))
	assert.Equal(t, "e2e", params.SessionID)
	assert.Equal(t, strconv.Itoa(id), string(params.QueryID))
	assert.Equal(t, "call_1", params.ToolUseID)
	assert.Equal(t, "read_file", params.Name)
	assert.JSONEq(t, `{"path":"main.go"}`, string(params.Arguments))
	assert.Contains(t, methods(before), protocol.MethodToolUse, "session/toolUse comes before tool/call")
	c.Reply(call.ID, protocol.ToolCallResult{Content: "package main"})

	after, resp := c.waitResponse(id)
	require.Nil(t, resp.Error)
	var res protocol.QueryResult
	require.NoError(t, json.Unmarshal(resp.Result, &res))
	assert.Equal(t, protocol.StopEndTurn, res.StopReason)
	assert.Equal(t, "Looking. It is package main.", res.Text)
	assert.Equal(t, protocol.Usage{InputTokens: 41, OutputTokens: 10}, res.Usage)
	assert.Equal(t, "Looking. It is package main.", tokens(t, after), "the query's tokens make its text")
	var summary string
	for _, m := range after {
		if m.Method == protocol.MethodToolResult {
			summary = m.param(t, "summary")
		}
	}
	assert.Equal(t, "read_file: package main", summary)

	reqs := fake.requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "fake-model", reqs[0]["model"])
	msgs := reqs[1]["messages"].([]any)
	require.Len(t, msgs, 3)
	toolMsg := msgs[2].(map[string]any)
	assert.Equal(t, "tool", toolMsg["role"])
	assert.Equal(t, "call_1", toolMsg["tool_call_id"])
	assert.Equal(t, "package main", toolMsg["content"])

	// A second query of the same session, cancelled mid-stream.
	id = c.Request(protocol.MethodSessionQuery, map[string]any{"sessionId": "e2e", "prompt": "Tell me a story"})
	select {
	case <-streaming:
	case <-time.After(guard):
		t.Fatal("the second query never reached the server")
	}
	c.waitQueryNote(protocol.MethodToken, id)
	cid := c.Request(protocol.MethodSessionCancel, map[string]any{"sessionId": "e2e"})
	// The two answers may come in either order; the harness finds each.
	_, cancelResp := c.waitResponse(cid)
	_, resp = c.waitResponse(id)
	require.Nil(t, cancelResp.Error)
	var cancelled protocol.CancelResult
	require.NoError(t, json.Unmarshal(cancelResp.Result, &cancelled))
	assert.Equal(t, 1, cancelled.Cancelled)
	require.Nil(t, resp.Error)
	require.NoError(t, json.Unmarshal(resp.Result, &res))
	assert.Equal(t, protocol.StopCancelled, res.StopReason)
	assert.Equal(t, "Once upon", res.Text)
	msgs = fake.requests()[2]["messages"].([]any)
	assert.Len(t, msgs, 5, "the third request carries the whole first exchange and the new prompt")
}
