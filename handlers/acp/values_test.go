package acp_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

// offSchema is a backend whose turn reports a tool kind and plan values
// ACP has no name for, as a backend relaying another agent might.
type offSchema struct{}

func (offSchema) Name() string              { return "offschema" }
func (offSchema) Available() (bool, string) { return true, "values ACP lacks" }
func (offSchema) Info() backends.Info       { return backends.Info{} }
func (offSchema) Open(context.Context, backends.Options) (backends.Conn, error) {
	return offSchemaConn{}, nil
}

type offSchemaConn struct{}

func (offSchemaConn) Close(context.Context) error { return nil }

func (offSchemaConn) Query(_ context.Context, _ backends.Turn, sink backends.Sink) (backends.Result, error) {
	sink.Plan([]backends.PlanEntry{{Content: "Deploy", Priority: "urgent", Status: "blocked"}, {Content: "Test", Priority: "low", Status: "in_progress"}})
	sink.ToolUse(backends.ToolUse{ID: "toolu_1", Name: "Deploy", Input: json.RawMessage(`{}`), Kind: "deploy", Title: "Deploy it"})
	sink.ToolResult(backends.ToolResult{ID: "toolu_1", Name: "Deploy", Summary: "deployed"})
	return backends.Result{StopReason: backends.StopEndTurn}, nil
}

// The official TypeScript SDK's client silently drops a tool kind it does
// not know, and a plan entry whose priority or status it does not know:
// Tether sends ACP's values only, "other", "medium" and "pending" for the
// rest.
func TestValuesACPLacksAreMapped(t *testing.T) {
	c := start(t, withBackends("offschema", offSchema{}))
	id := c.newSession(t.TempDir())
	before, resp := c.waitResponse(c.Request("session/prompt", promptText(id, "go")))
	require.Nil(t, resp.Error)
	var plan, call map[string]any
	for _, m := range updatesOf(t, before, id) {
		switch m.kind(t) {
		case "plan":
			plan = m.update(t).Update
		case "tool_call":
			call = m.update(t).Update
		}
	}
	require.NotNil(t, plan)
	assert.Equal(t, []any{
		map[string]any{"content": "Deploy", "priority": "medium", "status": "pending"},
		map[string]any{"content": "Test", "priority": "low", "status": "in_progress"},
	}, plan["entries"])
	require.NotNil(t, call)
	assert.Equal(t, "other", call["kind"])
	assert.Equal(t, "Deploy it", call["title"])
}
