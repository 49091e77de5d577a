package openai

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

// testdata/history-v1.json is what sessions stored while the openai-go
// SDK's types encoded the history. Our messages must read every kind it
// holds, and write each back as the same JSON.
func TestStoredHistoryV1(t *testing.T) {
	raw, err := os.ReadFile("testdata/history-v1.json")
	require.NoError(t, err)
	var stored []json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &stored))

	two := []*toolCall{{id: "call_1", name: "read_file"}, {id: "call_2", name: "grep"}}
	two[0].args.WriteString(`{"path":"main.go"}`)
	two[1].args.WriteString(`{"pattern":"func main","path":"."}`)
	want := []message{
		systemMessage("Be brief."),
		userMessage(backends.TextPrompt("what is main.go?")),
		userMessage([]backends.Content{
			{Type: backends.ContentText, Text: "What is in this picture?"},
			{Type: backends.ContentImage, MimeType: "image/png", Data: "iVBORw0KGgo="},
			{Type: backends.ContentImage, URI: "https://example.com/cat.jpg"},
		}),
		assistantMessage("Let me look.", two),
		assistantMessage("", []*toolCall{{id: "call_3", name: "now"}}),
		toolMessage("package main\n\nfunc main() {}\n", "call_1"),
		assistantMessage("It is a main package.", nil),
	}
	require.Len(t, stored, len(want))
	for i, s := range stored {
		var m message
		require.NoError(t, json.Unmarshal(s, &m), "message %d", i)
		assert.Equal(t, want[i], m, "message %d decodes to what the backend builds", i)

		again, err := json.Marshal(m)
		require.NoError(t, err)
		var before, after any
		require.NoError(t, json.Unmarshal(s, &before))
		require.NoError(t, json.Unmarshal(again, &after))
		assert.Equal(t, before, after, "message %d encodes as it was stored", i)
	}
}

func TestMessageContentShapes(t *testing.T) {
	for _, tc := range []struct {
		json string
		want message
	}{
		{`{"role":"assistant","content":null,"tool_calls":[]}`, message{Role: roleAssistant, ToolCalls: []toolCallParam{}}},
		{`{"role":"assistant","content":""}`, assistantMessage("", nil)},
		{`{"role":"user","content":[]}`, message{Role: roleUser, Content: partsContent(nil)}},
		{`{"role":"developer","content":"x"}`, message{Role: roleDeveloper, Content: textContent("x")}},
	} {
		var m message
		require.NoError(t, json.Unmarshal([]byte(tc.json), &m), tc.json)
		assert.Equal(t, tc.want, m, tc.json)
	}
	// An empty text part keeps its text field, as the API requires.
	b, err := json.Marshal(contentPart{Type: "text"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"text","text":""}`, string(b))

	for _, bad := range []string{`[1]`, `{}`, `{"role":"robot","content":"x"}`, `{"role":"user","content":7}`} {
		var m message
		assert.Error(t, json.Unmarshal([]byte(bad), &m), bad)
	}
}

// A chunk decoded into the one before keeps nothing of it.
func TestChunkDecodeForgetsThePreviousChunk(t *testing.T) {
	d := newChunkDecoder()
	c, err := d.decode([]byte(`{"choices":[{"index":0,"delta":{"content":"a","reasoning":"r",
		"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{"}}]},"finish_reason":"tool_calls"},
		{"index":1,"delta":{"content":"other choice"}}],"usage":{"prompt_tokens":3}}`))
	require.NoError(t, err)
	require.Len(t, c.Choices, 2)
	assert.Equal(t, "tool_calls", c.Choices[0].FinishReason)
	require.NotNil(t, c.Usage)

	c, err = d.decode([]byte(`{"choices":[{"delta":{"content":"b"}},{"index":1,"delta":{}}]}`))
	require.NoError(t, err)
	require.Len(t, c.Choices, 2)
	assert.Equal(t, choice{Delta: delta{Content: "b"}}, c.Choices[0])
	assert.Equal(t, choice{Index: 1}, c.Choices[1])
	assert.Nil(t, c.Usage)

	c, err = d.decode([]byte(`{"choices":null,"usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}`))
	require.NoError(t, err)
	assert.Empty(t, c.Choices)
	assert.Equal(t, &usage{PromptTokens: 1, CompletionTokens: 2, PromptTokensDetails: struct {
		CachedTokens int64 `json:"cached_tokens"`
	}{1}}, c.Usage)

	// Reasoning that is not a string is ignored, not an error.
	c, err = d.decode([]byte(`{"choices":[{"index":0,"delta":{"reasoning":{"summary":"x"},"reasoning_content":7}}]}`))
	require.NoError(t, err)
	assert.Equal(t, delta{}, c.Choices[0].Delta)

	// An event that is not one whole JSON object is an error.
	for _, bad := range []string{`{"choices":[`, ``, `not json`} {
		_, err := newChunkDecoder().decode([]byte(bad))
		assert.Error(t, err, bad)
	}
}

// A content token costs one allocation in decoding: its text.
func TestChunkDecodeAllocatesOnlyTheText(t *testing.T) {
	data := []byte(`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764000000,"model":"m","system_fingerprint":"fp",` +
		`"choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null}`)
	d := newChunkDecoder()
	_, err := d.decode(data) // the first event sizes the buffers
	require.NoError(t, err)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := d.decode(data); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 1.0)
}
