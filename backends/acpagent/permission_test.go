package acpagent

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	schema "github.com/coder/acp-go-sdk"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

// TestPermissionDecisionsReachTheAgentAsItsOptions runs the permission
// scenario (the agent asks to write allowed.txt, with the four option
// kinds, and writes it only on an allow) with each decision of the
// editor's, and checks the option the agent got and the file.
func TestPermissionDecisionsReachTheAgentAsItsOptions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		decision backends.Decision
		option   string
		written  bool
	}{
		{"allow once", backends.Decision{Allow: true}, "allow_once", true},
		{"allow always", backends.Decision{Allow: true, Remember: true}, "allow_always", true},
		{"deny", backends.Decision{Reason: "not now"}, "reject_once", false},
		{"withdrawn", backends.Decision{Reason: "client gone", Withdrawn: true}, "cancelled", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScripted(t, "permission")
			cwd := t.TempDir()
			c := s.open(t, backends.Options{Cwd: cwd})
			sink := newSink()
			sink.decide = func(req backends.PermissionRequest) (backends.Decision, bool) {
				_, err := os.Stat(filepath.Join(cwd, "allowed.txt"))
				assert.True(t, os.IsNotExist(err), "nothing is written before the editor decides")
				return tc.decision, true
			}
			res, err := query(t, c, "write it", sink)
			require.NoError(t, err)
			assert.Equal(t, backends.StopEndTurn, res.StopReason)
			assert.Equal(t, "permission: "+tc.option+"; done", sink.text())

			require.Len(t, sink.asks, 1)
			ask := sink.asks[0]
			assert.Equal(t, "call_write", ask.ToolUseID)
			assert.Equal(t, "edit", ask.ToolName)
			assert.JSONEq(t, `{"file_path":"allowed.txt","content":"allowed\n"}`, string(ask.ToolInput))
			assert.True(t, ask.AgentRemembers, "the agent offers allow_always: it remembers")
			assert.Equal(t, "Write allowed.txt", ask.Rule, "its option says no more than 'Always Allow': the call's title")
			want := `{"outcome":{"optionId":"` + tc.option + `","outcome":"selected"}}`
			if tc.option == "cancelled" {
				want = `{"outcome":{"outcome":"cancelled"}}`
			}
			assert.Equal(t, []string{want}, s.answers(t))

			_, err = os.Stat(filepath.Join(cwd, "allowed.txt"))
			assert.Equal(t, tc.written, err == nil, "allowed.txt written: %v", err)
			require.Len(t, sink.results, 1)
			assert.Equal(t, !tc.written, sink.results[0].IsError)
		})
	}
}

// TestChooseOption maps decisions onto the options agents offer, and never
// widens an allow the editor gave once into "always".
func TestChooseOption(t *testing.T) {
	all := []schema.PermissionOption{
		{OptionId: "a1", Kind: schema.PermissionOptionKindAllowOnce},
		{OptionId: "a*", Kind: schema.PermissionOptionKindAllowAlways},
		{OptionId: "r1", Kind: schema.PermissionOptionKindRejectOnce},
		{OptionId: "r*", Kind: schema.PermissionOptionKindRejectAlways},
	}
	onlyAlways := []schema.PermissionOption{all[1], all[3]}
	claudeLike := []schema.PermissionOption{all[0], all[1], all[2]}
	for _, tc := range []struct {
		options []schema.PermissionOption
		d       backends.Decision
		want    string // "" for none
	}{
		{all, backends.Decision{Allow: true}, "a1"},
		{all, backends.Decision{Allow: true, Remember: true}, "a*"},
		{all, backends.Decision{}, "r1"},
		{onlyAlways, backends.Decision{}, "r*"},
		{onlyAlways, backends.Decision{Allow: true}, ""},
		{claudeLike, backends.Decision{Allow: true, Remember: true}, "a*"},
		{[]schema.PermissionOption{all[0], all[2]}, backends.Decision{Allow: true, Remember: true}, "a1"},
		{[]schema.PermissionOption{all[0]}, backends.Decision{}, ""},
	} {
		got := chooseOption(tc.options, tc.d)
		if tc.want == "" {
			assert.Nil(t, got, "%v for %v", tc.d, optionKinds(tc.options))
			continue
		}
		require.NotNil(t, got, "%v for %v", tc.d, optionKinds(tc.options))
		assert.Equal(t, tc.want, string(got.OptionId), "%v for %v", tc.d, optionKinds(tc.options))
	}
}

// TestAlwaysRuleSaysWhatTheAgentRemembers: an option named after its rule
// (as claude-agent-acp names them) is shown as it is; a generic one is
// replaced by the call's title.
func TestAlwaysRuleSaysWhatTheAgentRemembers(t *testing.T) {
	tc := &toolCall{use: backends.ToolUse{Kind: "execute", Title: "touch marker.txt"}}
	for name, want := range map[string]string{
		"Always Allow": "touch marker.txt",
		"Allow always": "touch marker.txt",
		"":             "touch marker.txt",
		"Yes, and don't ask again for `touch` commands in this project": "Yes, and don't ask again for `touch` commands in this project",
	} {
		assert.Equal(t, want, alwaysRule(schema.PermissionOption{Name: name}, tc), "option %q", name)
	}
}

// TestAPermissionRequestWithdrawnByTheAgent: on session/cancel the agent
// withdraws its pending request ($/cancel_request); Tether answers it
// "cancelled" and withdraws it from the editor, and the turn ends
// cancelled.
func TestCancelAnswersPendingPermissionsCancelled(t *testing.T) {
	s := newScripted(t, "cancel")
	c := s.open(t, backends.Options{})
	sink := newSink()
	ctx, cancel := context.WithCancel(backgroundGuard(t))
	done := make(chan struct{})
	var res backends.Result
	var err error
	go func() {
		defer close(done)
		res, err = c.Query(ctx, backends.Turn{Prompt: backends.TextPrompt("ask first")}, sink)
	}()
	id := <-sink.asked
	cancel()
	<-done
	require.NoError(t, err)
	assert.Equal(t, backends.StopCancelled, res.StopReason)
	assert.Contains(t, sink.events, "withdraw:"+id+":cancelled")
	assert.Equal(t, []string{`{"outcome":{"outcome":"cancelled"}}`}, s.answers(t), "ACP: the client answers pending requests cancelled")
	assert.Contains(t, s.methods(t), "session/cancel")
	assert.NotContains(t, sink.text(), "never sent either")
	require.Len(t, sink.results, 1, "the call the agent never ended is reported failed")
	assert.Equal(t, "rm -rf build: not finished: the turn was cancelled", sink.results[0].Summary)

	// The session goes on.
	next := newSink()
	res, err = query(t, c, "and now?", next)
	require.NoError(t, err)
	assert.Equal(t, "echo: and now?", next.text())
}

// TestAPermissionRequestWithdrawnByTheAgent: the agent withdraws its
// request ($/cancel_request) before the editor answers; Tether withdraws
// it from the editor and answers the agent "cancelled".
func TestAPermissionRequestWithdrawnByTheAgent(t *testing.T) {
	s := newScripted(t, "withdraw")
	c := s.open(t, backends.Options{})
	sink := newSink()
	res, err := query(t, c, "clean up", sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	require.Len(t, sink.asks, 1)
	assert.Contains(t, sink.events, "withdraw:perm-1:withdrawn by the agent")
	assert.Equal(t, "permission: cancelled", sink.text())
	assert.Equal(t, []string{`{"outcome":{"outcome":"cancelled"}}`}, s.answers(t))
}
