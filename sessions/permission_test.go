package sessions

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
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
