package sessions

import (
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/permissions"
)

func TestRememberedRuleAllowsWithoutAskingInTheSameSession(t *testing.T) {
	b := &fakeBackend{askFirst: true, decisions: make(chan backends.Decision, 2)}
	r := newTestRegistry(t, b)
	rec := &recorder{asked: make(chan PermissionRequest, 2)}
	first := ask(r, context.Background(), rec, "s", "one")
	p := wait(t, rec.asked)
	assert.Equal(t, "Bash(ls:*)", p.Rule)
	require.NoError(t, r.Respond(p.ID, backends.Decision{Allow: true, Remember: true}))
	require.NoError(t, wait(t, first).err)
	wait(t, b.decisions)

	second := wait(t, ask(r, context.Background(), rec, "s", "two"))
	require.NoError(t, second.err)
	d := wait(t, b.decisions)
	assert.True(t, d.Allow, "the rule remembered covers the same request")
	assert.Len(t, rec.asked, 0, "and nobody was asked")
}

// An editor that sees a permission request and lists the sessions at once
// finds the session waiting_permission, not busy; the status event still
// follows the request.
func TestASessionIsWaitingAsSoonAsItsRequestIsSeen(t *testing.T) {
	b := &fakeBackend{askFirst: true, decisions: make(chan backends.Decision, 1)}
	r := newTestRegistry(t, b)
	seen := make(chan string, 1)
	rec := &recorder{asked: make(chan PermissionRequest, 1)}
	rec.onRequest = func(PermissionRequest) {
		for _, info := range r.List() {
			seen <- info.Status
		}
	}
	done := ask(r, context.Background(), rec, "s", "one")
	p := wait(t, rec.asked)
	assert.Equal(t, StateWaitingPermission, wait(t, seen))
	require.NoError(t, r.Respond(p.ID, backends.Decision{Allow: true}))
	require.NoError(t, wait(t, done).err)
	lines := rec.lines()
	i := slices.Index(lines, "request "+p.ID)
	require.GreaterOrEqual(t, i, 0)
	assert.Equal(t, "status "+StateWaitingPermission, lines[i+1])
}

// A session closed and made again under the same id, in one go, is a new
// session: what the old one was told to remember does not carry over.
func TestRememberedRulesDoNotOutliveTheirSession(t *testing.T) {
	for _, procs := range []int{1, runtime.GOMAXPROCS(0)} {
		old := runtime.GOMAXPROCS(procs)
		b := &fakeBackend{askFirst: true, decisions: make(chan backends.Decision, 4)}
		r := newTestRegistry(t, b)
		rec := &recorder{asked: make(chan PermissionRequest, 4)}
		first := ask(r, context.Background(), rec, "A", "one")
		p := wait(t, rec.asked)
		require.NoError(t, r.Respond(p.ID, backends.Decision{Allow: true, Remember: true}))
		require.NoError(t, wait(t, first).err)

		// Close and prompt again at once, as a client writing both in
		// one write would.
		closed := make(chan bool, 1)
		r.Close("A", func(ok bool) { closed <- ok })
		again := ask(r, context.Background(), rec, "A", "two")
		p2 := wait(t, rec.asked)
		assert.NotEqual(t, p.ID, p2.ID, "GOMAXPROCS=%d: the new session asks again", procs)
		require.NoError(t, r.Respond(p2.ID, backends.Decision{Reason: "no"}))
		require.NoError(t, wait(t, again).err)
		assert.True(t, wait(t, closed))
		runtime.GOMAXPROCS(old)
	}
}

// The editor must see a withdrawal after the request it withdraws, however
// the withdrawal races the request (here: the client going away while the
// turn asks).
func TestWithdrawalNeverPrecedesItsRequest(t *testing.T) {
	for i := range 2000 {
		b := &fakeBackend{askFirst: true}
		r := NewRegistry(Config{Backends: []backends.Backend{b}, DefaultBackend: "fake"})
		rec := &recorder{}
		answered := ask(r, context.Background(), rec, "s", "x")
		go r.broker.clientGone(ReasonClientGone)
		a := wait(t, answered)
		require.NoError(t, a.err)
		require.NoError(t, r.Shutdown(context.Background()))

		requested, withdrawn := -1, -1
		for n, line := range rec.lines() {
			switch {
			case strings.HasPrefix(line, "request "):
				requested = n
			case strings.HasPrefix(line, "withdrawn "):
				withdrawn = n
				assert.True(t, strings.HasSuffix(line, " "+ReasonClientGone), line)
			}
		}
		if withdrawn >= 0 && withdrawn < requested {
			t.Fatalf("run %d: withdrawal before its request: %v", i, rec.lines())
		}
		if requested >= 0 && withdrawn < 0 {
			t.Fatalf("run %d: a request was never withdrawn nor answered: %v", i, rec.lines())
		}
	}
}

func TestWithdrawReasonsNameWhatHappened(t *testing.T) {
	for _, tc := range []struct {
		name   string
		do     func(r *Registry)
		reason string
	}{
		{"cancel", func(r *Registry) { r.Cancel("s", func(int) {}) }, ReasonCancelled},
		{"close", func(r *Registry) { r.Close("s", func(bool) {}) }, ReasonSessionClosed},
		{"shutdown", func(r *Registry) { go r.Shutdown(context.Background()) }, ReasonSessionClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{askFirst: true}
			r := newTestRegistry(t, b)
			rec := &recorder{asked: make(chan PermissionRequest, 1)}
			answered := ask(r, context.Background(), rec, "s", "x")
			p := wait(t, rec.asked)
			tc.do(r)
			a := wait(t, answered)
			require.NoError(t, a.err)
			assert.Equal(t, backends.StopCancelled, a.res.StopReason)
			assert.Contains(t, rec.lines(), "withdrawn "+p.ID+" "+tc.reason)
		})
	}
}

// askBash makes each prompt a Bash call running the prompt, with no rule
// of the backend's: the session makes the rule.
func askBash(prompt string) backends.PermissionRequest {
	input, _ := json.Marshal(map[string]string{"command": prompt})
	return backends.PermissionRequest{ToolName: "Bash", ToolInput: input}
}

// permissionFlow runs prompts in one session of b and answers each request
// with answer; it returns, per prompt, the request asked (nil when none
// was) and the decision the backend got.
type permissionFlow struct {
	t   *testing.T
	r   *Registry
	b   *fakeBackend
	rec *recorder
}

func newPermissionFlow(t *testing.T, askAs func(string) backends.PermissionRequest) *permissionFlow {
	b := &fakeBackend{askAs: askAs, decisions: make(chan backends.Decision, 1)}
	return &permissionFlow{t: t, r: newTestRegistry(t, b), b: b, rec: &recorder{asked: make(chan PermissionRequest, 1)}}
}

// run sends prompt; when it is asked, answer decides. It returns the
// request (nil when the session answered from memory) and the decision
// the backend got.
func (f *permissionFlow) run(prompt string, answer backends.Decision) (*PermissionRequest, backends.Decision) {
	f.t.Helper()
	answered := ask(f.r, context.Background(), f.rec, "s", prompt)
	var asked *PermissionRequest
	select {
	case p := <-f.rec.asked:
		asked = &p
		require.NoError(f.t, f.r.Respond(p.ID, answer))
	case d := <-f.b.decisions:
		require.NoError(f.t, wait(f.t, answered).err)
		return nil, d
	}
	require.NoError(f.t, wait(f.t, answered).err)
	return asked, wait(f.t, f.b.decisions)
}

var (
	allowAlways = backends.Decision{Allow: true, Remember: true}
	deny        = backends.Decision{Reason: "no"}
)

// Allowing ls always allows ls with any arguments, and nothing else: not
// rm, not ls chained with another command.
func TestAlwaysAllowingACommandCoversThatProgramOnly(t *testing.T) {
	f := newPermissionFlow(t, askBash)
	p, _ := f.run("ls", allowAlways)
	require.NotNil(t, p)
	assert.Equal(t, "Bash(ls:*)", p.Rule, "the request says what always adds")

	p, d := f.run("ls -la src", deny)
	assert.Nil(t, p, "covered: not asked")
	assert.True(t, d.Allow)
	assert.Contains(t, d.Reason, "Bash(ls:*)")

	for _, line := range []string{"rm -rf x", "ls; rm -rf ~", "ls && rm x", "ls $(rm x)", "ls | sh", "ls > important.txt"} {
		p, d := f.run(line, deny)
		require.NotNil(t, p, "%q is asked", line)
		assert.False(t, d.Allow, line)
	}
	p, _ = f.run("rm -rf x", deny)
	require.NotNil(t, p)
	assert.Equal(t, "Bash(rm:*)", p.Rule)
}

// A tool without a command is remembered with its exact input.
func TestAlwaysAllowingAnEditCoversThatExactInput(t *testing.T) {
	f := newPermissionFlow(t, func(prompt string) backends.PermissionRequest {
		return backends.PermissionRequest{ToolName: "Edit", ToolInput: json.RawMessage(prompt)}
	})
	p, _ := f.run(`{"file":"a.go", "text":"x"}`, allowAlways)
	require.NotNil(t, p)
	assert.Equal(t, `Edit({"file":"a.go","text":"x"})`, p.Rule)

	p, d := f.run(`{"text":"x","file":"a.go"}`, deny)
	assert.Nil(t, p, "the same input, keys in another order")
	assert.True(t, d.Allow)
	for _, input := range []string{`{"file":"a.go","text":"y"}`, `{"file":"b.go","text":"x"}`, `{"file":"a.go"}`} {
		p, _ := f.run(input, deny)
		assert.NotNil(t, p, "%s is asked", input)
	}
}

// A backend's own rule is what the session remembers and shows.
func TestTheBackendsRuleIsRemembered(t *testing.T) {
	f := newPermissionFlow(t, func(prompt string) backends.PermissionRequest {
		req := askBash(prompt)
		req.Rule = "Bash(git status:*)"
		if prompt == "bad" {
			req.Rule = "Bash(unclosed"
		}
		return req
	})
	p, _ := f.run("git status", allowAlways)
	assert.Equal(t, "Bash(git status:*)", p.Rule)
	p, _ = f.run("git status --short", deny)
	assert.Nil(t, p)
	p, _ = f.run("git push", deny)
	assert.NotNil(t, p)

	// A rule that does not parse remembers nothing, and is not shown.
	p, _ = f.run("bad", allowAlways)
	require.NotNil(t, p)
	assert.Empty(t, p.Rule)
	p, _ = f.run("bad", deny)
	assert.NotNil(t, p, "asked again")
}

// When the agent remembers (the Claude CLI's session rules), the session
// never answers from its own memory: it passes Remember on and asks again
// whatever the agent asks again.
func TestAnAgentThatRemembersIsAlwaysAsked(t *testing.T) {
	f := newPermissionFlow(t, func(string) backends.PermissionRequest {
		return backends.PermissionRequest{ToolName: "Bash", ToolInput: []byte(`{"command":"ls"}`), Rule: "Bash(ls *)", AgentRemembers: true}
	})
	p, d := f.run("ls", allowAlways)
	require.NotNil(t, p)
	assert.Equal(t, "Bash(ls *)", p.Rule, "the agent's rule, shown as it is")
	assert.True(t, d.Remember, "passed on to the agent")
	p, _ = f.run("ls", deny)
	assert.NotNil(t, p, "asked again: the agent, not the session, decides what its rule covers")
}

// A request nobody answered says so: its deny is marked Withdrawn, which
// an editor's deny never is (ACP agents are told "cancelled" for it).
func TestWithdrawnDenialsAreMarked(t *testing.T) {
	b := NewBroker()
	req := backends.PermissionRequest{ToolName: "Bash", ToolInput: json.RawMessage(`{"command":"ls"}`)}
	p, asked := b.ask("1", 1, req, permissions.Rule{}, nil, nil)
	require.True(t, asked)
	b.withdraw("1", ReasonTurnEnded)
	d := <-p.Decision
	assert.True(t, d.Withdrawn)
	assert.False(t, d.Allow)

	p, _ = b.ask("2", 1, req, permissions.Rule{}, nil, nil)
	require.NoError(t, b.Respond("2", backends.Decision{Reason: "no"}))
	assert.False(t, (<-p.Decision).Withdrawn, "the editor's own deny")

	b.clientGone(ReasonClientGone)
	p, asked = b.ask("3", 1, req, permissions.Rule{}, nil, nil)
	assert.False(t, asked)
	assert.True(t, (<-p.Decision).Withdrawn, "nobody left to ask")
}
