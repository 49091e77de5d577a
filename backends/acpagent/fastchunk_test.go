package acpagent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestChunkOfReadsTextChunksAsEncodingJSONDoes: the fast path reads what
// the general decode would, or declines.
func TestChunkOfReadsTextChunksAsEncodingJSONDoes(t *testing.T) {
	for _, params := range []string{
		`{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"Hello"}}}`,
		`{"update":{"content":{"text":"a\nb \"q\" \u00e9 \ud83d\ude00","type":"text"},"sessionUpdate":"agent_thought_chunk"},"sessionId":"s1"}`,
		` { "sessionId" : "s1" , "update" : { "sessionUpdate" : "agent_message_chunk" , "messageId":"m1", "_meta":{"a":[1,2.5e3,{"b":null}],"t":true,"f":false}, "content" : { "type" : "text" , "text" : "" } } } `,
		`{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"日本語"}}}`,
	} {
		c, ok := chunkOf([]byte(params))
		assert.True(t, ok, params)
		var want struct {
			SessionID string `json:"sessionId"`
			Update    struct {
				Kind    string `json:"sessionUpdate"`
				Content struct{ Text string }
			}
		}
		if assert.NoError(t, json.Unmarshal([]byte(params), &want)) {
			assert.Equal(t, want.SessionID, c.sessionID)
			assert.Equal(t, want.Update.Content.Text, c.text, params)
			assert.Equal(t, want.Update.Kind == "agent_thought_chunk", c.thought)
		}
	}
	for _, params := range []string{
		`{"sessionId":"s1","update":{"sessionUpdate":"tool_call","toolCallId":"x","title":"t"}}`,
		`{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"image","data":"x","mimeType":"image/png"}}}`,
		`{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"a"}}`,
		`{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"a"}}} x`,
		`{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"bad \x01"}}}`,
		`{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"\xff"}}}`,
		`{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"\q"}}}`,
		`{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","x":01,"content":{"type":"text","text":"a"}}}`,
		`{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","x":tru,"content":{"type":"text","text":"a"}}}`,
		`{"update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"a"}}}`,
		`[]`, ``, `null`,
	} {
		_, ok := chunkOf([]byte(params))
		assert.False(t, ok, params)
	}
}

// FuzzChunkOf: whatever chunkOf accepts, encoding/json reads the same.
func FuzzChunkOf(f *testing.F) {
	f.Add(`{"sessionId":"s1","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"Hello"}}}`)
	f.Add(`{"update":{"content":{"text":"a\nb","type":"text"},"sessionUpdate":"agent_thought_chunk","x":[1,{"y":null}]},"sessionId":"s"}`)
	f.Fuzz(func(t *testing.T, params string) {
		c, ok := chunkOf([]byte(params))
		if !ok {
			return
		}
		// encoding/json matches keys without regard to case; ACP (and
		// chunkOf) does not.
		lower := strings.ToLower(params)
		for _, key := range []string{`"sessionId"`, `"update"`, `"sessionUpdate"`, `"content"`, `"type"`, `"text"`} {
			if strings.Count(lower, strings.ToLower(key)) != strings.Count(params, key) {
				return
			}
		}
		var want struct {
			SessionID string `json:"sessionId"`
			Update    struct {
				Kind    string `json:"sessionUpdate"`
				Content struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"content"`
			} `json:"update"`
		}
		if err := json.Unmarshal([]byte(params), &want); err != nil {
			t.Fatalf("chunkOf took what encoding/json refuses: %q: %v", params, err)
		}
		if want.SessionID != c.sessionID || want.Update.Content.Text != c.text || want.Update.Content.Type != "text" {
			t.Fatalf("chunkOf read %+v, encoding/json %+v, from %q", c, want, params)
		}
	})
}
