package claude

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/sessions"
)

// "Always" on a call the CLI suggests rules for sends exactly those allow
// rules, for this session only, and nothing else the CLI suggested (its
// settings-file destinations, a deny rule, addDirectories, setMode). The
// CLI applies them itself: the same command later runs unasked, and rm
// -rf x is asked.
func TestAlwaysGivesTheCLIItsSuggestedRulesForTheSession(t *testing.T) {
	f := newFakeRun(t, "remember-rules", nil)
	c := f.open(backends.Options{SessionID: "s1"})

	sink := &fakeSink{onAsk: func(backends.PermissionRequest) (backends.Decision, bool) {
		return backends.Decision{Allow: true, Remember: true}, true
	}}
	_, err := query(t, c, context.Background(), "list /usr", sink)
	require.NoError(t, err)
	require.Len(t, sink.asks, 1)
	assert.Equal(t, "Bash(ls /usr), Read(//usr/**)", sink.asks[0].Rule, "what always adds, as the user sees it")
	assert.True(t, sink.asks[0].AgentRemembers, "the CLI applies its own rules")

	sink2 := &fakeSink{onAsk: func(backends.PermissionRequest) (backends.Decision, bool) {
		return backends.Decision{Reason: "no"}, true
	}}
	_, err = query(t, c, context.Background(), "list it again, then remove x", sink2)
	require.NoError(t, err)
	require.Len(t, sink2.asks, 1, "only rm is asked: %v", sink2.events)
	assert.Equal(t, "toolu_3", sink2.asks[0].ToolUseID)
	assert.Equal(t, "Bash(rm -rf x)", sink2.asks[0].Rule)
	assert.Equal(t, []toolResultEvent{
		{"toolu_2", "Bash", "ls /usr (7 bytes of output)", false},
		{"toolu_3", "Bash", "rm -rf x: error: no", true},
	}, sink2.results)

	require.NoError(t, c.Close(context.Background()))
	responses := readRecords(t, f.dir, "responses.jsonl")
	require.Len(t, responses, 2)
	assert.Equal(t, map[string]any{
		"behavior":     "allow",
		"updatedInput": map[string]any{"command": "ls /usr", "description": "List /usr"},
		"updatedPermissions": []any{map[string]any{
			"type": "addRules", "behavior": "allow", "destination": "session",
			"rules": []any{
				map[string]any{"toolName": "Bash", "ruleContent": "ls /usr"},
				map[string]any{"toolName": "Read", "ruleContent": "//usr/**"},
			},
		}},
	}, responses[0]["response"].(map[string]any)["response"])
	assert.Equal(t, map[string]any{"behavior": "deny", "message": "no"},
		responses[1]["response"].(map[string]any)["response"])
}

// permissionEvents is a session's events that hand each permission
// request to the test.
type permissionEvents struct {
	sessions.Discard
	asked chan sessions.PermissionRequest
}

func (e permissionEvents) PermissionRequested(p sessions.PermissionRequest) { e.asked <- p }

// Without an allow rule from the CLI, "always" remembers the exact call in
// the session, sends the CLI nothing to remember, and answers the CLI's
// next identical request itself; a different call is asked.
func TestWithoutASuggestedRuleTheSessionRemembersTheExactCall(t *testing.T) {
	f := newFakeRun(t, "remember-exact", nil)
	reg := sessions.NewRegistry(sessions.Config{Backends: []backends.Backend{f.b}, DefaultBackend: Name, Log: testLogger(t)})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		assert.NoError(t, reg.Shutdown(ctx))
	})
	ev := permissionEvents{asked: make(chan sessions.PermissionRequest, 4)}
	prompt := func(text string) <-chan error {
		done := make(chan error, 1)
		reg.Prompt(sessions.Prompt{
			Options: sessions.Options{SessionID: "s1", Options: backends.Options{Cwd: f.cwd}},
			Turn:    backends.Turn{Prompt: backends.TextPrompt(text)},
			Ctx:     context.Background(),
			Events:  ev,
			Reply:   func(_ sessions.TurnResult, err error) { done <- err },
		})
		return done
	}
	next := func() sessions.PermissionRequest {
		t.Helper()
		select {
		case p := <-ev.asked:
			return p
		case <-time.After(time.Minute):
			t.Fatal("no permission request")
			return sessions.PermissionRequest{}
		}
	}

	first := prompt("edit a.go")
	p := next()
	assert.Equal(t, `Edit({"file_path":"/fake/a.go","new_string":"b","old_string":"a","replace_all":false})`, p.Rule)
	assert.False(t, p.AgentRemembers, "the CLI cannot say this rule; the session keeps it")
	require.NoError(t, reg.Respond(p.ID, backends.Decision{Allow: true, Remember: true}))
	require.NoError(t, <-first)

	second := prompt("edit it again, then once more")
	p = next()
	assert.Equal(t, "toolu_3", p.ToolUseID, "the identical edit was not asked; the next one is")
	require.NoError(t, reg.Respond(p.ID, backends.Decision{Reason: "no"}))
	require.NoError(t, <-second)

	require.NoError(t, reg.Shutdown(context.Background()))
	responses := readRecords(t, f.dir, "responses.jsonl")
	require.Len(t, responses, 3)
	for i, behavior := range []string{"allow", "allow", "deny"} {
		answer := responses[i]["response"].(map[string]any)["response"].(map[string]any)
		assert.Equal(t, behavior, answer["behavior"], "answer %d", i)
		assert.NotContains(t, answer, "updatedPermissions", "answer %d: nothing for the CLI to remember", i)
	}
}
