package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	oai "github.com/tether-dev/tether/backends/openai"
)

// memoryHistory is a backends.History in memory, as the store keeps one.
type memoryHistory struct {
	mu      sync.Mutex
	msgs    []json.RawMessage
	appends int
	failAt  int   // when > 0, the failAt-th Append fails
	loadErr error // when set, Load fails with it
}

func (h *memoryHistory) Load() ([]json.RawMessage, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.loadErr != nil {
		return nil, h.loadErr
	}
	return append([]json.RawMessage(nil), h.msgs...), nil
}

func (h *memoryHistory) Append(msgs ...json.RawMessage) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.appends++
	if h.appends == h.failAt {
		return errors.New("disk full")
	}
	for _, m := range msgs {
		h.msgs = append(h.msgs, append(json.RawMessage(nil), m...))
	}
	return nil
}

func (h *memoryHistory) len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.msgs)
}

// A conn opened on a stored history sends the whole earlier conversation,
// tool calls and results included, exactly as the conn that lived it
// would have; the system prompt leads it without being stored.
func TestAStoredHistoryContinuesTheConversation(t *testing.T) {
	f := newFakeServer(t,
		toolReply("Let me look.", fakeCall{"call_1", "read_file", `{"path":"main.go"}`}),
		textReply("It is a main package."),
		textReply("You are welcome."),
		textReply("You are welcome."),
	)
	b := newBackend(t, oai.Config{BaseURL: f.baseURL()})
	history := &memoryHistory{}
	opts := backends.Options{SystemPrompt: "Be brief.", Tools: []backends.Tool{readFile}, History: history}
	first := open(t, b, opts)
	sink := &fakeSink{callTool: func(_ context.Context, call backends.ToolCall) (backends.ToolCallResult, error) {
		return backends.ToolCallResult{Content: "package main"}, nil
	}}
	_, err := first.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("what is main.go?")}, sink)
	require.NoError(t, err)
	assert.Equal(t, 4, history.len(), "user, assistant with the call, tool result, assistant")
	assert.Equal(t, 1, history.appends, "one append per turn")

	// The same session after a restart: a new conn on the same history.
	second := open(t, b, opts)
	_, err = second.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("thanks")}, &fakeSink{})
	require.NoError(t, err)
	// And, for comparison, the conn that lived the first turn.
	_, err = first.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("thanks")}, &fakeSink{})
	require.NoError(t, err)

	reqs := f.recordedRequests()
	require.Len(t, reqs, 4)
	want := []string{
		"system:Be brief.",
		"user:what is main.go?",
		`assistant:Let me look. [call_1 read_file {"path":"main.go"}]`,
		"tool(call_1):package main",
		"assistant:It is a main package.",
		"user:thanks",
	}
	assert.Equal(t, want, roles(reqs[2].Body.Messages), "the restarted session's request carries the whole conversation")
	assert.JSONEq(t, string(field(t, reqs[3].Body.Raw, "messages")), string(field(t, reqs[2].Body.Raw, "messages")),
		"byte for byte what the live conn sends")
}

func field(t *testing.T, raw json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	return m[name]
}

// A turn the server refused before anything reached the user leaves no
// trace in the store, as in memory; a failed append is logged, not a
// failed turn.
func TestHistoryKeepsWhatMemoryKeeps(t *testing.T) {
	f := newFakeServer(t, errorReply(400, nil, "bad request", "bad"), textReply("ok"), textReply("ok"))
	history := &memoryHistory{failAt: 1}
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL(), MaxRetries: -1}), backends.Options{History: history})
	_, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("refused")}, &fakeSink{})
	require.Error(t, err)
	assert.Equal(t, 0, history.appends, "nothing of a refused turn is stored")

	res, err := conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("lost")}, &fakeSink{})
	require.NoError(t, err, "a store that fails does not fail the turn")
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, 0, history.len())
	_, err = conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("kept")}, &fakeSink{})
	require.NoError(t, err)
	assert.Equal(t, 2, history.len(), "later turns are stored again")
	assert.Equal(t, []string{"user:lost", "assistant:ok", "user:kept"}, roles(f.recordedRequests()[2].Body.Messages), "memory still has the turn")
}

func TestAnUnreadableHistoryFailsTheStart(t *testing.T) {
	b := newBackend(t, oai.Config{BaseURL: "http://127.0.0.1:1/v1"})
	_, err := b.Open(testCtx(t), backends.Options{History: &memoryHistory{loadErr: errors.New("I/O error")}})
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.ErrorContains(t, err, "I/O error")
	_, err = b.Open(testCtx(t), backends.Options{History: &memoryHistory{msgs: []json.RawMessage{json.RawMessage(`[1]`)}}})
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.ErrorContains(t, err, "message 1")
}

// A session stored while the openai-go SDK encoded the history
// (testdata/history-v1.json) continues: its messages go on the wire as
// they were stored.
func TestAStoredV1HistoryIsSentAsStored(t *testing.T) {
	raw, err := os.ReadFile("testdata/history-v1.json")
	require.NoError(t, err)
	var stored []json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &stored))
	f := newFakeServer(t, textReply("Go on."))
	conn := open(t, newBackend(t, oai.Config{BaseURL: f.baseURL()}), backends.Options{History: &memoryHistory{msgs: stored}})
	_, err = conn.Query(testCtx(t), backends.Turn{Prompt: backends.TextPrompt("next")}, &fakeSink{})
	require.NoError(t, err)

	want, err := json.Marshal(append(stored, json.RawMessage(`{"role":"user","content":"next"}`)))
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(field(t, f.recordedRequests()[0].Body.Raw, "messages")))
}
