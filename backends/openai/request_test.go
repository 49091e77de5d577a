package openai_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	oai "github.com/tether-dev/tether/backends/openai"
)

var update = flag.Bool("update", false, "rewrite testdata/request-v1.json from what the backend sends")

// The request bodies of a tool round trip are pinned as JSON (field order
// aside): model, messages of every kind, tools with and without
// parameters, stream and stream_options. testdata/request-v1.json was
// written by the backend when the openai-go SDK built its requests, so
// this test shows the wire format did not change when our own client
// replaced it.
func TestRequestBodyIsPinned(t *testing.T) {
	f := newFakeServer(t,
		toolReply("Let me look.", fakeCall{"call_1", "read_file", `{"path":"main.go"}`}),
		textReply("It is a main package."),
	)
	b := newBackend(t, oai.Config{BaseURL: f.baseURL(), Model: "fake-model"})
	conn := open(t, b, backends.Options{SystemPrompt: "Be brief.", Tools: []backends.Tool{readFile, {Name: "now"}}})
	sink := &fakeSink{callTool: func(context.Context, backends.ToolCall) (backends.ToolCallResult, error) {
		return backends.ToolCallResult{Content: "package main"}, nil
	}}
	prompt := []backends.Content{
		{Type: backends.ContentText, Text: "What is main.go, and this?"},
		{Type: backends.ContentImage, MimeType: "image/png", Data: "iVBORw0KGgo="},
	}
	_, err := conn.Query(testCtx(t), backends.Turn{Prompt: prompt}, sink)
	require.NoError(t, err)

	reqs := f.recordedRequests()
	require.Len(t, reqs, 2)
	got := make([]json.RawMessage, len(reqs))
	for i, r := range reqs {
		got[i] = r.Body.Raw
	}
	const golden = "testdata/request-v1.json"
	if *update {
		out, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(golden, append(out, '\n'), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	gotJSON, err := json.Marshal(got)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(gotJSON))
}
