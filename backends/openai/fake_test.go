package openai_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	oai "github.com/tether-dev/tether/backends/openai"
)

// fakeServer is an OpenAI-compatible server on 127.0.0.1. Each request is
// recorded and answered by the next scripted reply, or by fallback when the
// script has run out.
type fakeServer struct {
	t        testing.TB
	srv      *httptest.Server
	mu       sync.Mutex
	requests []recorded
	script   []replyFunc
	fallback replyFunc
	// otherPaths404: a request for another path than /v1/chat/completions
	// gets 404, as from Ollama, instead of failing the test.
	otherPaths404 bool
}

// replyFunc answers one request; n counts requests from 1.
type replyFunc func(w http.ResponseWriter, r *http.Request, req chatRequest)

// recorded is one request as the server received it.
type recorded struct {
	Path string
	Auth string
	Body chatRequest
}

// chatRequest is the part of a Chat Completions request the tests check.
type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []chatMessage   `json:"messages"`
	Tools    []chatTool      `json:"tools"`
	Raw      json.RawMessage `json:"-"`
}

type chatMessage struct {
	Role       string         `json:"role"`
	Content    any            `json:"content"`
	ToolCallID string         `json:"tool_call_id"`
	ToolCalls  []chatToolCall `json:"tool_calls"`
}

type chatToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

// text is the message's content when it is a plain string.
func (m chatMessage) text() string {
	s, _ := m.Content.(string)
	return s
}

func newFakeServer(t testing.TB, script ...replyFunc) *fakeServer {
	f := &fakeServer{t: t, script: script}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// baseURL is the API root as a user would configure it.
func (f *fakeServer) baseURL() string { return f.srv.URL + "/v1" }

func (f *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		f.t.Errorf("fake server: request body is not JSON: %v: %s", err, body)
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	req.Raw = body
	f.mu.Lock()
	f.requests = append(f.requests, recorded{Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Body: req})
	var reply replyFunc
	if len(f.script) > 0 {
		reply, f.script = f.script[0], f.script[1:]
	} else {
		reply = f.fallback
	}
	f.mu.Unlock()
	if r.URL.Path != "/v1/chat/completions" && f.otherPaths404 {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		f.t.Errorf("fake server: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if reply == nil {
		f.t.Errorf("fake server: request %d was not scripted", len(f.requests))
		http.Error(w, `{"error":{"message":"not scripted"}}`, http.StatusInternalServerError)
		return
	}
	reply(w, r, req)
}

// recordedRequests returns a copy of what the server received so far.
func (f *fakeServer) recordedRequests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recorded(nil), f.requests...)
}

// sse writes one response stream the way the OpenAI API does: data-only
// events, each ending with a blank line, flushed one by one.
type sse struct {
	w      http.ResponseWriter
	ollama bool // the usage chunk carries "choices": null, as Ollama's does
}

func startSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &sse{w: w}
}

func (s *sse) raw(line string) {
	_, _ = io.WriteString(s.w, line)
	s.w.(http.Flusher).Flush()
}

// drop ends the connection without ending the chunked body, as a server
// that dies mid-response does.
func (s *sse) drop(t *testing.T) {
	conn, _, err := http.NewResponseController(s.w).Hijack()
	if err != nil {
		t.Errorf("hijack: %v", err)
		return
	}
	conn.Close()
}

func (s *sse) event(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the test's own literal
	}
	s.raw("data: " + string(b) + "\n\n")
}

// chunk sends a chat.completion.chunk with one choice.
func (s *sse) chunk(delta map[string]any, finish any) {
	s.event(map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1764000000, "model": "fake-model",
		"system_fingerprint": "fp_fake",
		"choices":            []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}},
		"usage":              nil,
	})
}

func (s *sse) role()                { s.chunk(map[string]any{"role": "assistant", "content": ""}, nil) }
func (s *sse) text(t string)        { s.chunk(map[string]any{"content": t}, nil) }
func (s *sse) finish(reason string) { s.chunk(map[string]any{}, reason) }

// toolStart opens tool call index with its id and name, as OpenAI does.
func (s *sse) toolStart(index int, id, name string) {
	s.chunk(map[string]any{"tool_calls": []any{map[string]any{
		"index": index, "id": id, "type": "function", "function": map[string]any{"name": name, "arguments": ""},
	}}}, nil)
}

// toolArgs sends a fragment of tool call index's arguments.
func (s *sse) toolArgs(index int, frag string) {
	s.chunk(map[string]any{"tool_calls": []any{map[string]any{
		"index": index, "function": map[string]any{"arguments": frag},
	}}}, nil)
}

// usage sends the usage chunk: choices [] (OpenAI) or null (Ollama).
func (s *sse) usage(prompt, completion int) {
	var choices any = []any{}
	if s.ollama {
		choices = nil
	}
	s.event(map[string]any{
		"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1764000000, "model": "fake-model",
		"choices": choices,
		"usage":   map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
	})
}

func (s *sse) done() { s.raw("data: [DONE]\n\n") }

// textReply streams parts as content, then stop, usage and [DONE].
func textReply(parts ...string) replyFunc {
	return func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
		s := startSSE(w)
		s.role()
		for _, p := range parts {
			s.text(p)
		}
		s.finish("stop")
		s.usage(10, len(parts))
		s.done()
	}
}

// toolReply streams one response that calls tools: each call's arguments
// are split in two fragments, and the fragments of parallel calls are
// interleaved.
func toolReply(text string, calls ...fakeCall) replyFunc {
	return func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
		s := startSSE(w)
		s.role()
		if text != "" {
			s.text(text)
		}
		for i, c := range calls {
			s.toolStart(i, c.id, c.name)
		}
		for i, c := range calls {
			s.toolArgs(i, c.args[:len(c.args)/2])
		}
		for i, c := range calls {
			s.toolArgs(i, c.args[len(c.args)/2:])
		}
		s.finish("tool_calls")
		s.usage(20, 5)
		s.done()
	}
}

type fakeCall struct{ id, name, args string }

// errorReply answers with an error status and OpenAI's error body.
func errorReply(status int, header map[string]string, message, code string) replyFunc {
	return func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
			"message": message, "type": "invalid_request_error", "param": nil, "code": code,
		}})
	}
}

// fakeSink records a turn's events. Its CallTool is scripted by the test.
type fakeSink struct {
	mu          sync.Mutex
	tokens      []string
	thinking    []string
	toolUses    []toolUse
	toolResults []toolResult
	calls       []backends.ToolCall
	callTool    func(ctx context.Context, call backends.ToolCall) (backends.ToolCallResult, error)
	onToken     chan string // if set, every token is also sent here
}

type toolUse struct {
	ID, Name string
	Input    json.RawMessage
}

type toolResult struct {
	ID, Name, Summary string
	IsError           bool
}

var _ backends.Sink = (*fakeSink)(nil)

func (s *fakeSink) Token(text string) {
	s.mu.Lock()
	s.tokens = append(s.tokens, text)
	s.mu.Unlock()
	if s.onToken != nil {
		s.onToken <- text
	}
}

func (s *fakeSink) Thinking(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.thinking = append(s.thinking, text)
}

func (s *fakeSink) ToolUse(u backends.ToolUse) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.toolUses = append(s.toolUses, toolUse{u.ID, u.Name, u.Input})
}

func (s *fakeSink) ToolResult(r backends.ToolResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.toolResults = append(s.toolResults, toolResult{r.ID, r.Name, r.Summary, r.IsError})
}

func (s *fakeSink) Plan([]backends.PlanEntry)   {}
func (s *fakeSink) Usage(backends.ContextUsage) {}
func (s *fakeSink) Commands([]backends.Command) {}
func (s *fakeSink) Progress(string)             {}

func (s *fakeSink) AskPermission(backends.PermissionRequest) backends.Permission {
	panic("the openai backend never asks for permission: the editor runs its own tools")
}

func (s *fakeSink) WithdrawPermission(string, string) {
	panic("the openai backend never asks for permission")
}

func (s *fakeSink) CallTool(ctx context.Context, call backends.ToolCall) (backends.ToolCallResult, error) {
	s.mu.Lock()
	s.calls = append(s.calls, call)
	f := s.callTool
	s.mu.Unlock()
	if f == nil {
		return backends.ToolCallResult{}, fmt.Errorf("test sink: no tool scripted")
	}
	return f(ctx, call)
}

func (s *fakeSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.tokens, "")
}

// newBackend returns a backend for the fake, with a key unless cfg says.
func newBackend(t testing.TB, cfg oai.Config) *oai.Backend {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey = "sk-test"
	}
	return oai.New(cfg, slog.New(slog.DiscardHandler))
}

// open opens a session's conn and closes it at the end of the test.
func open(t testing.TB, b *oai.Backend, opts backends.Options) backends.Conn {
	t.Helper()
	c, err := b.Open(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close(context.Background())) })
	return c
}
