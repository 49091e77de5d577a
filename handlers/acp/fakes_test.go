package acp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
)

// variant is the mock under another name and other Info: a backend
// without images (textonly), or one with models and modes to choose
// (choosy). It records the model and mode every turn ran with.
type variant struct {
	name string
	info backends.Info

	mu    sync.Mutex
	turns []backends.Turn
}

var _ backends.Backend = (*variant)(nil)

func textOnly() *variant {
	info := mock.Backend{}.Info()
	info.Images = false
	return &variant{name: "textonly", info: info}
}

func choosy() *variant {
	return &variant{name: "choosy", info: backends.Info{
		Models: []backends.Choice{{ID: "small", Name: "Small"}, {ID: "large", Name: "Large", Description: "slower"}},
		Modes:  []backends.Choice{{ID: "default", Name: "Default"}, {ID: "plan", Name: "Plan"}},
		Images: true,
	}}
}

func (v *variant) Name() string              { return v.name }
func (v *variant) Available() (bool, string) { return true, "a test variant of the mock" }
func (v *variant) Info() backends.Info       { return v.info }

func (v *variant) Open(ctx context.Context, opts backends.Options) (backends.Conn, error) {
	conn, err := mock.Backend{}.Open(ctx, opts)
	return &variantConn{Conn: conn, v: v}, err
}

// lastTurn is the last turn the backend ran.
func (v *variant) lastTurn() backends.Turn {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.turns) == 0 {
		return backends.Turn{}
	}
	return v.turns[len(v.turns)-1]
}

type variantConn struct {
	backends.Conn
	v *variant
}

func (c *variantConn) Query(ctx context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	c.v.mu.Lock()
	c.v.turns = append(c.v.turns, turn)
	c.v.mu.Unlock()
	return c.Conn.Query(ctx, turn, sink)
}

// showcase is a backend whose one turn emits every kind of event a rich
// backend (claude) has: a plan, context usage, slash commands, an edit
// with its diff and location, its result with raw output, and thinking. A
// prompt "auth" fails the turn as a CLI that is not logged in does.
type showcase struct{}

func (showcase) Name() string              { return "showcase" }
func (showcase) Available() (bool, string) { return true, "every event" }
func (showcase) Info() backends.Info       { return backends.Info{MCPServers: true} }
func (showcase) Open(context.Context, backends.Options) (backends.Conn, error) {
	return showcaseConn{}, nil
}

type showcaseConn struct{}

func (showcaseConn) Close(context.Context) error { return nil }

func (showcaseConn) Query(_ context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	if backends.PromptText(turn.Prompt) == "auth" {
		return backends.Result{}, fmt.Errorf("%w: %w: Invalid API key · Please run /login", backends.ErrFailed, backends.ErrAuthRequired)
	}
	sink.Commands([]backends.Command{{Name: "review", Description: "Review the diff"}, {Name: "init", Description: "Write CLAUDE.md", Hint: "what to focus on"}})
	sink.Thinking("Let me plan.")
	sink.Plan([]backends.PlanEntry{{Content: "Read main.go", Priority: "high", Status: "completed"}, {Content: "Fix the bug"}})
	old := "a := 1"
	sink.ToolUse(backends.ToolUse{
		ID: "toolu_1", Name: "Edit", Input: json.RawMessage(`{"file_path":"/w/main.go","old_string":"a := 1","new_string":"a := 2","n":12345678901234567890}`),
		Kind: backends.KindEdit, Title: "Edit main.go",
		Locations: []backends.Location{{Path: "/w/main.go", Line: 7}},
		Diffs:     []backends.Diff{{Path: "/w/main.go", OldText: &old, NewText: "a := 2"}},
	})
	sink.ToolResult(backends.ToolResult{ID: "toolu_1", Name: "Edit", Summary: "main.go", Output: json.RawMessage(`{"ok":true}`)})
	sink.ToolUse(backends.ToolUse{ID: "toolu_2", Name: "mcp__x__y", Input: json.RawMessage(`not json`)})
	sink.ToolResult(backends.ToolResult{ID: "toolu_2", Name: "mcp__x__y", Summary: "mcp__x__y: error: boom", IsError: true})
	sink.Usage(backends.ContextUsage{Used: 1200, Size: 200000, CostUSD: 0.25})
	sink.Token("Done.")
	return backends.Result{
		StopReason: backends.StopMaxTurns,
		Usage:      backends.Usage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 100},
	}, nil
}

// named is a backend that only has a name and an availability.
type named struct {
	name string
	ok   bool
}

func (b named) Name() string              { return b.name }
func (b named) Available() (bool, string) { return b.ok, "named " + b.name }
func (b named) Info() backends.Info       { return backends.Info{} }
func (b named) Open(context.Context, backends.Options) (backends.Conn, error) {
	return nil, backends.ErrUnavailable
}
