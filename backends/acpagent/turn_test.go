package acpagent

import (
	"encoding/json"
	"testing"

	schema "github.com/coder/acp-go-sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

// TestATurnMapsEveryUpdate runs the basic scenario's turn, which sends
// every kind of update Tether maps, and checks what the sink got of each.
func TestATurnMapsEveryUpdate(t *testing.T) {
	s := newScripted(t, "basic")
	c := s.open(t, backends.Options{})
	sink := newSink()
	res, err := query(t, c, "hello there", sink)
	require.NoError(t, err)

	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, backends.Usage{InputTokens: 12, OutputTokens: 34}, res.Usage, "the prompt answer's usage")
	assert.InDelta(t, 0.0123, res.CostUSD, 1e-9, "the usage_update's cost, for this turn")
	assert.Equal(t, c.sessionID, res.BackendSessionID)
	assert.Equal(t, "Hello, world!", sink.text(), "message chunks")
	assert.Equal(t, "The user greets me. I will greet back.", sink.thinking.String(), "thought chunks")

	require.Len(t, sink.uses, 2, "each tool call shown once: %v", sink.events)
	edit := sink.uses[0]
	assert.Equal(t, "call_edit", edit.ID)
	assert.Equal(t, backends.KindEdit, edit.Kind)
	assert.Equal(t, "edit", edit.Name, "ACP has no tool names: the kind stands in")
	assert.Equal(t, "Write hello.txt", edit.Title)
	assert.JSONEq(t, `{"file_path":"/work/hello.txt","content":"hi\n"}`, string(edit.Input))
	assert.Equal(t, []backends.Location{{Path: "/work/hello.txt", Line: 1}}, edit.Locations)
	require.Len(t, edit.Diffs, 1)
	assert.Equal(t, "/work/hello.txt", edit.Diffs[0].Path)
	assert.Nil(t, edit.Diffs[0].OldText, "a new file")
	assert.Equal(t, "hi\n", edit.Diffs[0].NewText)
	assert.Equal(t, backends.KindSearch, sink.uses[1].Kind)

	require.Len(t, sink.results, 2)
	assert.Equal(t, backends.ToolResult{ID: "call_edit", Name: "edit", Summary: "Write hello.txt (Wrote 1 line to hello.txt)", Output: json.RawMessage(`{"bytes":3}`)}, sink.results[0])
	assert.Equal(t, "grep -n hello: error: grep: no such file", sink.results[1].Summary)
	assert.True(t, sink.results[1].IsError)
	assert.JSONEq(t, `{"error":"no such file"}`, string(sink.results[1].Output))
	assert.Equal(t, []string{"toolUse:call_edit", "toolResult:call_edit", "toolUse:call_grep", "toolResult:call_grep"}, sink.events)

	require.Len(t, sink.plans, 2, "each plan update, whole")
	assert.Equal(t, []backends.PlanEntry{
		{Content: "Write hello.txt", Priority: "high", Status: "completed"},
		{Content: "Greet the user", Priority: "medium", Status: "in_progress"},
	}, sink.plans[1])
	assert.Equal(t, []backends.ContextUsage{{Used: 1234, Size: 200000, CostUSD: 0.0123}}, sink.usage)
	require.Len(t, sink.commands, 1, "the commands sent after session/new, at the first turn")
	assert.Equal(t, []backends.Command{
		{Name: "review", Description: "Review the current changes"},
		{Name: "web", Description: "Search the web", Hint: "query"},
	}, sink.commands[0])

	second := newSink()
	_, err = query(t, c, "hello again", second)
	require.NoError(t, err)
	assert.Empty(t, second.commands, "commands are passed on once per change")
	assert.Equal(t, "Hello, world!", second.text())
}

// TestTheAgentGetsTheSessionAndThePromptAsACPSaysThem checks what the agent
// received: initialize without client fs or terminal, session/new with the
// cwd and MCP servers, and the prompt's content blocks.
func TestTheAgentGetsTheSessionAndThePromptAsACPSaysThem(t *testing.T) {
	s := newScripted(t, "")
	cwd := t.TempDir()
	c := s.open(t, backends.Options{Cwd: cwd, MCPServers: []backends.MCPServer{
		{Name: "files", Command: "mcp-files", Args: []string{"--root", "/"}, Env: []backends.KeyValue{{Name: "A", Value: "b"}}},
	}})
	assert.JSONEq(t, `{"protocolVersion":1,"clientCapabilities":{"fs":{"readTextFile":false,"writeTextFile":false},"terminal":false},"clientInfo":{"name":"tether","title":"Tether","version":"dev"}}`,
		string(s.last(t, "initialize")))
	assert.JSONEq(t, `{"cwd":`+quote(cwd)+`,"mcpServers":[{"name":"files","command":"mcp-files","args":["--root","/"],"env":[{"name":"A","value":"b"}]}]}`,
		string(s.last(t, "session/new")))

	sink := newSink()
	ctx := backgroundGuard(t)
	res, err := c.Query(ctx, backends.Turn{Prompt: []backends.Content{
		{Type: backends.ContentText, Text: "look at "},
		{Type: backends.ContentResourceLink, URI: "file:///p/a.go", Name: "a.go"},
		{Type: backends.ContentResource, URI: "file:///p/b.go", Text: "package b", MimeType: "text/x-go"},
		{Type: backends.ContentImage, Data: "iVBORw0KGgo=", MimeType: "image/png"},
	}}, sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, "echo: look at ", sink.text(), "the agent echoes the text blocks")
	assert.JSONEq(t, `{"sessionId":`+quote(c.sessionID)+`,"prompt":[
		{"type":"text","text":"look at "},
		{"type":"resource_link","uri":"file:///p/a.go","name":"a.go"},
		{"type":"resource","resource":{"uri":"file:///p/b.go","text":"package b","mimeType":"text/x-go"}},
		{"type":"image","data":"iVBORw0KGgo=","mimeType":"image/png"}]}`, string(s.last(t, "session/prompt")))
}

// TestPromptsWithinWhatTheAgentTakes: an agent without image or embedded
// context support gets no image (the turn fails, saying why) and embedded
// resources as text.
func TestPromptsWithinWhatTheAgentTakes(t *testing.T) {
	s := newScripted(t, "nocaps")
	c := s.open(t, backends.Options{})
	ctx := backgroundGuard(t)
	_, err := c.Query(ctx, backends.Turn{Prompt: []backends.Content{{Type: backends.ContentImage, Data: "x", MimeType: "image/png"}}}, newSink())
	require.ErrorIs(t, err, backends.ErrUnsupported)
	assert.Contains(t, err.Error(), "does not take images")
	assert.Equal(t, ptr(false), ptr(s.Info().Images), "Info says so once the agent has")

	_, err = c.Query(ctx, backends.Turn{Prompt: []backends.Content{
		{Type: backends.ContentResource, URI: "file:///p/b.go", Name: "b.go", Text: "package b"},
	}}, newSink())
	require.NoError(t, err)
	assert.JSONEq(t, `{"sessionId":`+quote(c.sessionID)+`,"prompt":[
		{"type":"text","text":"[@b.go](file:///p/b.go)\n\n<context ref=\"file:///p/b.go\">\npackage b\n</context>"}]}`, string(s.last(t, "session/prompt")))
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestSummaries are one line: the call's title and the first line of its
// text, code fences left out.
func TestSummaries(t *testing.T) {
	text := func(s string) []schema.ToolCallContent {
		return []schema.ToolCallContent{schema.ToolContent(schema.TextBlock(s))}
	}
	for _, tc := range []struct {
		title   string
		content []schema.ToolCallContent
		failed  bool
		want    string
	}{
		{"Write a.txt", text("Wrote 1 line\nmore"), false, "Write a.txt (Wrote 1 line)"},
		{"Write a.txt", text("```\nThe user refused.\n```"), true, "Write a.txt: error: The user refused."},
		{"make", nil, true, "make: error: failed"},
		{"", nil, false, "execute"},
		{"Edit a.go", []schema.ToolCallContent{schema.ToolDiffContent("/a.go", "new", "old")}, false, "Edit a.go (1 edit)"},
	} {
		c := &toolCall{use: backends.ToolUse{Kind: "execute"}}
		title := tc.title
		merge(c, &wireToolCall{Title: &title, Content: tc.content})
		assert.Equal(t, tc.want, summary(c, tc.failed))
	}
}
