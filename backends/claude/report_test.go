package claude

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

func TestRetriesAreProgressAndCLIFailuresNameTheFix(t *testing.T) {
	f := newFakeRun(t, "not-logged-in", nil)
	c := f.open(backends.Options{SessionID: "s1"})

	sink := &fakeSink{}
	_, err := query(t, c, context.Background(), "hi", sink)
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.ErrorIs(t, err, backends.ErrAuthRequired)
	assert.ErrorContains(t, err, "run `claude` once to log in, or set ANTHROPIC_API_KEY")
	assert.Empty(t, sink.tokens.String(), "the CLI's own error text is not an answer")
	assert.Equal(t, []string{
		"API unreachable (unknown), retry 1 of 10 in 600ms",
		"API error 529 (overloaded), retry 2 of 10 in 8s",
	}, sink.progress)
	require.Len(t, sink.commands, 1)
	assert.Equal(t, []backends.Command{{Name: "compact"}, {Name: "review"}, {Name: "context"}}, sink.commands[0])

	sink = &fakeSink{}
	_, err = query(t, c, context.Background(), "again", sink)
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.NotErrorIs(t, err, backends.ErrAuthRequired)
	assert.ErrorContains(t, err, "claude cannot reach the API: check the network, or ANTHROPIC_BASE_URL")
	assert.ErrorContains(t, err, "ECONNREFUSED", "what the CLI said is kept")
	assert.Empty(t, sink.tokens.String())
	assert.Empty(t, sink.commands, "the slash commands are told once per process")
}

func TestPlanProgressAndContextUsage(t *testing.T) {
	f := newFakeRun(t, "plan", nil)
	c := f.open(backends.Options{SessionID: "s1"})
	sink := &fakeSink{}
	res, err := query(t, c, context.Background(), "fix it", sink)
	require.NoError(t, err)
	assert.Equal(t, "On it.", sink.tokens.String())
	assert.Equal(t, []string{"compacting the conversation", "conversation compacted"}, sink.progress)
	require.Len(t, sink.plans, 1)
	assert.Equal(t, []backends.PlanEntry{
		{Content: "Read main.go", Priority: "medium", Status: "completed"},
		{Content: "Fix the bug", Priority: "medium", Status: "in_progress"},
	}, sink.plans[0])
	require.Len(t, sink.uses, 1)
	assert.Equal(t, backends.KindThink, sink.uses[0].Kind)
	require.Len(t, sink.usage, 1)
	assert.Equal(t, backends.ContextUsage{Used: 1100 + 20 + 200 + 30, Size: 200000, CostUSD: 0.0125}, sink.usage[0],
		"the last request's tokens, against the model's window")
	assert.InDelta(t, 0.0125, res.CostUSD, 1e-9)
}

func TestToolUseKindsTitlesAndDiffs(t *testing.T) {
	old := "a := 1"
	for _, tc := range []struct {
		name, input string
		want        backends.ToolUse
	}{
		{"Bash", `{"command":"go test ./...","description":"Run tests"}`,
			backends.ToolUse{Kind: backends.KindExecute, Title: "go test ./..."}},
		{"Read", `{"file_path":"/repo/main.go","offset":10}`,
			backends.ToolUse{Kind: backends.KindRead, Title: "Read main.go", Locations: []backends.Location{{Path: "/repo/main.go", Line: 10}}}},
		{"Write", `{"file_path":"/repo/new.go","content":"package x"}`,
			backends.ToolUse{Kind: backends.KindEdit, Title: "Write new.go", Locations: []backends.Location{{Path: "/repo/new.go"}},
				Diffs: []backends.Diff{{Path: "/repo/new.go", NewText: "package x"}}}},
		{"Edit", `{"file_path":"/repo/main.go","old_string":"a := 1","new_string":"a := 2"}`,
			backends.ToolUse{Kind: backends.KindEdit, Title: "Edit main.go", Locations: []backends.Location{{Path: "/repo/main.go"}},
				Diffs: []backends.Diff{{Path: "/repo/main.go", OldText: &old, NewText: "a := 2"}}}},
		{"Grep", `{"pattern":"TODO","path":"/repo/src"}`,
			backends.ToolUse{Kind: backends.KindSearch, Title: "Find `TODO` in src", Locations: []backends.Location{{Path: "/repo/src"}}}},
		{"Glob", `{"pattern":"**/*.go"}`,
			backends.ToolUse{Kind: backends.KindSearch, Title: "Find `**/*.go` in ."}},
		{"WebFetch", `{"url":"https://go.dev","prompt":"x"}`,
			backends.ToolUse{Kind: backends.KindFetch, Title: "Fetch https://go.dev"}},
		{"Task", `{"description":"Look around","prompt":"..."}`,
			backends.ToolUse{Kind: backends.KindThink, Title: "Look around"}},
		{"ExitPlanMode", `{"plan":"1. do it"}`,
			backends.ToolUse{Kind: backends.KindSwitchMode, Title: "Ready to code?"}},
		{"mcp__demo__echo", `{"text":"hi"}`,
			backends.ToolUse{Kind: backends.KindOther, Title: "mcp__demo__echo"}},
		{"Read", `"not an object"`,
			backends.ToolUse{Kind: backends.KindRead, Title: "Read"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := toolUse("id1", tc.name, json.RawMessage(tc.input), "/repo")
			tc.want.ID, tc.want.Name, tc.want.Input = "id1", tc.name, json.RawMessage(tc.input)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestImagesAndMCPServersReachTheCLI(t *testing.T) {
	f := newFakeRun(t, "plan", nil)
	c := f.open(backends.Options{SessionID: "s1", MCPServers: []backends.MCPServer{
		{Name: "files", Command: "mcp-files", Args: []string{"--root", "/"}, Env: []backends.KeyValue{{Name: "A", Value: "1"}}},
		{Name: "web", Type: "http", URL: "http://127.0.0.1:9/mcp", Headers: []backends.KeyValue{{Name: "Authorization", Value: "x"}}},
	}})
	_, err := c.Query(context.Background(), backends.Turn{Prompt: []backends.Content{
		{Type: backends.ContentText, Text: "What is in "},
		{Type: backends.ContentImage, MimeType: "image/png", Data: "iVBORw0KGgo="},
		{Type: backends.ContentResourceLink, URI: "file:///repo/a.go", Name: "a.go"},
	}}, &fakeSink{})
	require.NoError(t, err)

	prompts := readRecords(t, f.dir, "prompts.jsonl")
	require.Len(t, prompts, 1)
	got, err := json.Marshal(prompts[0]["content"])
	require.NoError(t, err)
	assert.JSONEq(t, `[
		{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
		{"type":"text","text":"What is in [@a.go](file:///repo/a.go)"}]`, string(got))

	args := stringsOf(f.starts()[0]["args"])
	var config string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--mcp-config="); ok {
			config = v
		}
	}
	assert.JSONEq(t, `{"mcpServers":{
		"files":{"type":"stdio","command":"mcp-files","args":["--root","/"],"env":{"A":"1"}},
		"web":{"type":"http","url":"http://127.0.0.1:9/mcp","headers":{"Authorization":"x"}}}}`, config)
}
