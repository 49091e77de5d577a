package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	oai "github.com/tether-dev/tether/backends/openai"
)

// guard bounds every wait, so a bug fails the test instead of hanging it.
const guard = 20 * time.Second

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	return ctx
}

var readFile = backends.Tool{
	Name:        "read_file",
	Description: "Read a file of the workspace",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}`),
}

func TestStreamsTextWithUsage(t *testing.T) {
	f := newFakeServer(t, textReply("Hel", "lo", ", world"))
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL(), Model: "fake-model"}), backends.Options{SessionID: "s1"})
	sink := &fakeSink{}

	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("say hello")}, sink)
	require.NoError(t, err)
	assert.Equal(t, []string{"Hel", "lo", ", world"}, sink.tokens, "one token per content delta, in order")
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, backends.Usage{InputTokens: 10, OutputTokens: 3}, res.Usage)
	assert.Equal(t, 1, res.NumTurns)

	reqs := f.recordedRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/v1/chat/completions", reqs[0].Path)
	assert.Equal(t, "Bearer sk-test", reqs[0].Auth)
	assert.Equal(t, "fake-model", reqs[0].Body.Model)
	assert.True(t, reqs[0].Body.Stream, "stream:true")
	assert.True(t, reqs[0].Body.StreamOptions.IncludeUsage, "stream_options.include_usage")
	require.Len(t, reqs[0].Body.Messages, 1)
	assert.Equal(t, "user", reqs[0].Body.Messages[0].Role)
	assert.Equal(t, "say hello", reqs[0].Body.Messages[0].text())
	assert.Empty(t, reqs[0].Body.Tools, "no tools declared, none sent")
}

func TestOllamaStyleStream(t *testing.T) {
	t.Setenv(oai.EnvAPIKey, "")
	// Ollama's compatible endpoint: reasoning deltas under "reasoning",
	// and "choices": null in the usage chunk.
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
		s := startSSE(w)
		s.ollama = true
		s.chunk(map[string]any{"role": "assistant", "content": "", "reasoning": "Thinking about it."}, nil)
		s.text("Fine")
		s.text(".")
		s.finish("stop")
		s.usage(7, 2)
		s.done()
	})
	b := oai.New(oai.Config{BaseURL: f.baseURL(), Model: "llama3.2"}, nil)
	ok, detail := b.Available()
	assert.True(t, ok, "a local server needs no key: %s", detail)
	conn := open(t, b, backends.Options{SessionID: "s1"})
	sink := &fakeSink{}

	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("how are you")}, sink)
	require.NoError(t, err)
	assert.Equal(t, "Fine.", sink.text())
	assert.Equal(t, []string{"Thinking about it."}, sink.thinking)
	assert.Equal(t, backends.Usage{InputTokens: 7, OutputTokens: 2}, res.Usage)
	reqs := f.recordedRequests()
	require.Len(t, reqs, 1)
	assert.Empty(t, reqs[0].Auth, "no key, no Authorization header")
	assert.Equal(t, "llama3.2", reqs[0].Body.Model)
}

func TestReasoningContentIsThinking(t *testing.T) {
	f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
		s := startSSE(w)
		s.chunk(map[string]any{"role": "assistant", "reasoning_content": "Step 1."}, nil)
		s.chunk(map[string]any{"reasoning_content": " Step 2."}, nil)
		s.chunk(map[string]any{"content": "42", "reasoning_content": nil}, nil)
		s.finish("stop")
		s.done() // no usage chunk: some servers ignore include_usage
	})
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{})
	sink := &fakeSink{}
	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("answer")}, sink)
	require.NoError(t, err)
	assert.Equal(t, []string{"Step 1.", " Step 2."}, sink.thinking)
	assert.Equal(t, "42", sink.text())
	assert.Equal(t, backends.Usage{}, res.Usage)
}

func TestHistorySentOnSecondQuery(t *testing.T) {
	f := newFakeServer(t, textReply("Hello", "!"), textReply("Again."))
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{SystemPrompt: "Be brief."})

	_, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("hi")}, &fakeSink{})
	require.NoError(t, err)
	_, err = conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("once more"), Model: "other-model"}, &fakeSink{})
	require.NoError(t, err)

	reqs := f.recordedRequests()
	require.Len(t, reqs, 2)
	assert.Equal(t, oai.DefaultModel, reqs[0].Body.Model)
	assert.Equal(t, "other-model", reqs[1].Body.Model, "a query's model wins for that query")
	assert.Equal(t, []string{"system:Be brief.", "user:hi"}, roles(reqs[0].Body.Messages))
	assert.Equal(t, []string{"system:Be brief.", "user:hi", "assistant:Hello!", "user:once more"}, roles(reqs[1].Body.Messages))
}

// roles renders messages as role:text for compact assertions.
func roles(ms []chatMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Role + ":" + m.text()
		if m.ToolCallID != "" {
			out[i] = m.Role + "(" + m.ToolCallID + "):" + m.text()
		}
		for _, c := range m.ToolCalls {
			out[i] += fmt.Sprintf(" [%s %s %s]", c.ID, c.Function.Name, c.Function.Arguments)
		}
	}
	return out
}

func TestToolRoundTrip(t *testing.T) {
	f := newFakeServer(t,
		toolReply("Let me look.", fakeCall{"call_1", "read_file", `{"path":"main.go"}`}),
		textReply("It is a main package."),
		textReply("You are welcome."),
	)
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{Tools: []backends.Tool{readFile}})
	sink := &fakeSink{callTool: func(_ context.Context, call backends.ToolCall) (backends.ToolCallResult, error) {
		return backends.ToolCallResult{Content: "package main\n\nfunc main() {}\n"}, nil
	}}

	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("what is main.go?")}, sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, 2, res.NumTurns)
	assert.Equal(t, backends.Usage{InputTokens: 30, OutputTokens: 6}, res.Usage, "usage of both requests")
	assert.Equal(t, "Let me look.It is a main package.", sink.text())

	require.Len(t, sink.toolUses, 1)
	assert.Equal(t, "call_1", sink.toolUses[0].ID)
	assert.Equal(t, "read_file", sink.toolUses[0].Name)
	assert.JSONEq(t, `{"path":"main.go"}`, string(sink.toolUses[0].Input), "fragments joined")
	require.Len(t, sink.calls, 1)
	assert.Equal(t, "call_1", sink.calls[0].ToolUseID)
	assert.JSONEq(t, `{"path":"main.go"}`, string(sink.calls[0].Arguments))
	assert.Equal(t, []toolResult{{"call_1", "read_file", "read_file: package main", false}}, sink.toolResults)

	reqs := f.recordedRequests()
	require.Len(t, reqs, 2)
	require.Len(t, reqs[0].Body.Tools, 1, "declared tools are sent")
	tool := reqs[0].Body.Tools[0]
	assert.Equal(t, "function", tool.Type)
	assert.Equal(t, "read_file", tool.Function.Name)
	assert.Equal(t, "Read a file of the workspace", tool.Function.Description)
	assert.JSONEq(t, string(readFile.Parameters), string(tool.Function.Parameters))
	assert.Equal(t, []string{
		"user:what is main.go?",
		`assistant:Let me look. [call_1 read_file {"path":"main.go"}]`,
		"tool(call_1):package main\n\nfunc main() {}\n",
	}, roles(reqs[1].Body.Messages))
	assert.Equal(t, "function", reqs[1].Body.Messages[1].ToolCalls[0].Type)

	// The whole round trip stays in the history.
	_, err = conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("thanks")}, &fakeSink{})
	require.NoError(t, err)
	reqs = f.recordedRequests()
	assert.Equal(t, []string{
		"user:what is main.go?",
		`assistant:Let me look. [call_1 read_file {"path":"main.go"}]`,
		"tool(call_1):package main\n\nfunc main() {}\n",
		"assistant:It is a main package.",
		"user:thanks",
	}, roles(reqs[2].Body.Messages))
}

func TestParallelToolCalls(t *testing.T) {
	f := newFakeServer(t,
		toolReply("", fakeCall{"call_a", "read_file", `{"path":"a.go"}`}, fakeCall{"call_b", "read_file", `{"path":"b.go"}`}),
		textReply("Both read."),
	)
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{Tools: []backends.Tool{readFile}})
	sink := &fakeSink{callTool: func(_ context.Context, call backends.ToolCall) (backends.ToolCallResult, error) {
		var args struct{ Path string }
		if err := json.Unmarshal(call.Arguments, &args); err != nil {
			return backends.ToolCallResult{}, err
		}
		return backends.ToolCallResult{Content: "contents of " + args.Path}, nil
	}}

	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("read both")}, sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	require.Len(t, sink.toolUses, 2)
	assert.Equal(t, "call_a", sink.toolUses[0].ID)
	assert.JSONEq(t, `{"path":"a.go"}`, string(sink.toolUses[0].Input), "interleaved fragments kept apart by index")
	assert.Equal(t, "call_b", sink.toolUses[1].ID)
	assert.JSONEq(t, `{"path":"b.go"}`, string(sink.toolUses[1].Input))
	assert.Equal(t, []toolResult{
		{"call_a", "read_file", "read_file: contents of a.go", false},
		{"call_b", "read_file", "read_file: contents of b.go", false},
	}, sink.toolResults)

	reqs := f.recordedRequests()
	require.Len(t, reqs, 2)
	assert.Equal(t, []string{
		"user:read both",
		`assistant: [call_a read_file {"path":"a.go"}] [call_b read_file {"path":"b.go"}]`,
		"tool(call_a):contents of a.go",
		"tool(call_b):contents of b.go",
	}, roles(reqs[1].Body.Messages))
}

func TestBadToolArgumentsGoBackToTheModel(t *testing.T) {
	f := newFakeServer(t,
		toolReply("", fakeCall{"call_1", "read_file", `{"path": "main.go"`}),
		textReply("Sorry."),
	)
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{Tools: []backends.Tool{readFile}})
	sink := &fakeSink{}

	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("read it")}, sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Empty(t, sink.calls, "the editor is not asked to run a call with broken arguments")
	require.Len(t, sink.toolUses, 1)
	assert.JSONEq(t, `"{\"path\": \"main.go\""`, string(sink.toolUses[0].Input), "the editor sees the text as a JSON string")
	assert.Equal(t, []toolResult{{"call_1", "read_file", "read_file: arguments are not valid JSON", true}}, sink.toolResults)

	reqs := f.recordedRequests()
	require.Len(t, reqs, 2)
	msgs := reqs[1].Body.Messages
	require.Len(t, msgs, 3)
	assert.Equal(t, "{}", msgs[1].ToolCalls[0].Function.Arguments, "the history carries arguments a server can parse")
	assert.Equal(t, "call_1", msgs[2].ToolCallID)
	assert.Contains(t, msgs[2].text(), "Error: the arguments of read_file are not a valid JSON object")
	assert.Contains(t, msgs[2].text(), `{"path": "main.go"`, "the model sees what it sent")
}

func TestUndeclaredToolGoesBackToTheModel(t *testing.T) {
	f := newFakeServer(t,
		toolReply("", fakeCall{"call_1", "rm_rf", `{"path":"/"}`}),
		textReply("I cannot."),
	)
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{Tools: []backends.Tool{readFile}})
	sink := &fakeSink{}

	_, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("clean up")}, sink)
	require.NoError(t, err)
	assert.Empty(t, sink.calls, "the editor is never asked to run a tool it did not declare")
	assert.Equal(t, []toolResult{{"call_1", "rm_rf", "rm_rf: not a declared tool", true}}, sink.toolResults)
	msgs := f.recordedRequests()[1].Body.Messages
	assert.Equal(t, `Error: there is no tool named "rm_rf". Available tools: read_file.`, msgs[2].text())
}

func TestToolErrorsEndTheCallNotTheTurn(t *testing.T) {
	f := newFakeServer(t,
		toolReply("", fakeCall{"call_1", "read_file", `{"path":"gone.go"}`}, fakeCall{"call_2", "read_file", `{"path":"x.go"}`}),
		textReply("Neither worked."),
	)
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{Tools: []backends.Tool{readFile}})
	sink := &fakeSink{callTool: func(_ context.Context, call backends.ToolCall) (backends.ToolCallResult, error) {
		if call.ToolUseID == "call_1" {
			// The editor answered tool/call with content flagged as error.
			return backends.ToolCallResult{Content: "no such file", IsError: true}, nil
		}
		// The editor answered with a JSON-RPC error, or went away.
		return backends.ToolCallResult{}, errors.New("tool/call read_file: client disconnected")
	}}

	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("read")}, sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, []toolResult{
		{"call_1", "read_file", "read_file: no such file", true},
		{"call_2", "read_file", "read_file failed: tool/call read_file: client disconnected", true},
	}, sink.toolResults)
	msgs := f.recordedRequests()[1].Body.Messages
	assert.Equal(t, "Error: no such file", msgs[2].text())
	assert.Equal(t, "Error: the tool call failed: tool/call read_file: client disconnected", msgs[3].text())
}

func TestMaxTurnsBoundsTheToolLoop(t *testing.T) {
	f := newFakeServer(t)
	f.fallback = toolReply("", fakeCall{"", "read_file", `{"path":"again.go"}`}) // no ids: Tether names them
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{MaxTurns: 3, Tools: []backends.Tool{readFile}})
	sink := &fakeSink{callTool: func(context.Context, backends.ToolCall) (backends.ToolCallResult, error) {
		return backends.ToolCallResult{Content: "ok"}, nil
	}}

	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("loop")}, sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopMaxTurns, res.StopReason)
	assert.Equal(t, 3, res.NumTurns)
	assert.Len(t, f.recordedRequests(), 3)
	require.Len(t, sink.calls, 3)
	assert.Equal(t, "call_tether_1", sink.calls[0].ToolUseID)
	assert.Equal(t, "call_tether_3", sink.calls[2].ToolUseID, "ids unique within the session")
}

func TestCallsWithTheSameIDAreKeptApart(t *testing.T) {
	// Some local servers number calls per response, or send whole calls
	// that all claim index 0.
	f := newFakeServer(t,
		func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
			s := startSSE(w)
			s.chunk(map[string]any{"role": "assistant", "tool_calls": []any{
				map[string]any{"index": 0, "id": "call_0", "type": "function", "function": map[string]any{"name": "read_file", "arguments": `{"path":"a.go"}`}},
			}}, nil)
			s.chunk(map[string]any{"tool_calls": []any{
				map[string]any{"index": 1, "id": "call_0", "type": "function", "function": map[string]any{"name": "read_file", "arguments": `{"path":"b.go"}`}},
			}}, nil)
			s.chunk(map[string]any{"tool_calls": []any{
				map[string]any{"index": 0, "id": "call_9", "type": "function", "function": map[string]any{"name": "read_file", "arguments": `{"path":"c.go"}`}},
			}}, nil)
			s.finish("tool_calls")
			s.done()
		},
		textReply("Done."),
	)
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{Tools: []backends.Tool{readFile}})
	sink := &fakeSink{callTool: func(_ context.Context, call backends.ToolCall) (backends.ToolCallResult, error) {
		return backends.ToolCallResult{Content: string(call.Arguments)}, nil
	}}
	_, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("read")}, sink)
	require.NoError(t, err)
	require.Len(t, sink.calls, 3)
	assert.Equal(t, "call_0", sink.calls[0].ToolUseID)
	assert.Equal(t, "call_tether_2", sink.calls[1].ToolUseID)
	assert.Equal(t, "call_9", sink.calls[2].ToolUseID)
	assert.Equal(t, []string{
		"user:read",
		`assistant: [call_0 read_file {"path":"a.go"}] [call_tether_2 read_file {"path":"b.go"}] [call_9 read_file {"path":"c.go"}]`,
		`tool(call_0):{"path":"a.go"}`,
		`tool(call_tether_2):{"path":"b.go"}`,
		`tool(call_9):{"path":"c.go"}`,
	}, roles(f.recordedRequests()[1].Body.Messages))
}

func TestStopReasons(t *testing.T) {
	for finish, want := range map[string]string{
		"stop":           backends.StopEndTurn,
		"length":         backends.StopMaxTokens,
		"content_filter": backends.StopRefusal,
	} {
		t.Run(finish, func(t *testing.T) {
			f := newFakeServer(t, func(w http.ResponseWriter, _ *http.Request, _ chatRequest) {
				s := startSSE(w)
				s.text("partial")
				s.finish(finish)
				s.usage(1, 1)
				s.done()
			})
			conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{})
			res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("x")}, &fakeSink{})
			require.NoError(t, err)
			assert.Equal(t, want, res.StopReason)
		})
	}
}

func TestCancelMidStream(t *testing.T) {
	sent := make(chan struct{})
	handlerDone := make(chan struct{})
	f := newFakeServer(t,
		func(w http.ResponseWriter, r *http.Request, _ chatRequest) {
			defer close(handlerDone)
			s := startSSE(w)
			s.role()
			s.text("The answer")
			close(sent)
			// Never finishes on its own: only the client going away
			// ends this response.
			<-r.Context().Done()
		},
		textReply("Sure."),
	)
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{})
	sink := &fakeSink{onToken: make(chan string, 8)}
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()

	type outcome struct {
		res backends.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := conn.Query(ctx, backends.Turn{Prompt: backends.TextPrompt("long question")}, sink)
		done <- outcome{res, err}
	}()
	<-sent
	assert.Equal(t, "The answer", <-sink.onToken)
	cancel()
	var out outcome
	select {
	case out = <-done:
	case <-time.After(guard):
		t.Fatal("Query did not return after cancel")
	}
	require.NoError(t, out.err, "a cancelled turn is not a failure")
	assert.Equal(t, backends.StopCancelled, out.res.StopReason)
	select {
	case <-handlerDone:
	case <-time.After(guard):
		t.Fatal("the HTTP stream was not aborted")
	}

	// The conn is still usable, and the partial reply is in the history,
	// marked as interrupted.
	_, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("go on")}, &fakeSink{})
	require.NoError(t, err)
	reqs := f.recordedRequests()
	require.Len(t, reqs, 2)
	assert.Equal(t, []string{
		"user:long question",
		"assistant:The answer\n\n[interrupted by the user]",
		"user:go on",
	}, roles(reqs[1].Body.Messages))
}

func TestCancelWhileTheEditorRunsATool(t *testing.T) {
	f := newFakeServer(t,
		toolReply("", fakeCall{"call_1", "read_file", `{"path":"slow.go"}`}, fakeCall{"call_2", "read_file", `{"path":"never.go"}`}),
		textReply("OK."),
	)
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{Tools: []backends.Tool{readFile}})
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	sink := &fakeSink{callTool: func(ctx context.Context, _ backends.ToolCall) (backends.ToolCallResult, error) {
		cancel() // the user cancels while the editor runs the tool
		<-ctx.Done()
		return backends.ToolCallResult{}, ctx.Err()
	}}

	res, err := conn.Query(ctx, backends.Turn{Prompt: backends.TextPrompt("read")}, sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopCancelled, res.StopReason)
	assert.Len(t, sink.calls, 1, "no tool runs after the cancel")
	assert.Empty(t, sink.toolResults)

	_, err = conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("never mind")}, &fakeSink{})
	require.NoError(t, err)
	reqs := f.recordedRequests()
	require.Len(t, reqs, 2)
	assert.Equal(t, []string{
		"user:read",
		`assistant: [call_1 read_file {"path":"slow.go"}] [call_2 read_file {"path":"never.go"}]`,
		"tool(call_1):Interrupted: the user cancelled the turn while the tool ran.",
		"tool(call_2):Not run: the user interrupted the turn.",
		"user:never mind",
	}, roles(reqs[1].Body.Messages), "every tool call is answered, so the history stays valid")
}
