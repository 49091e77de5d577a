package sessions

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

func TestOneConnectionServesEveryPromptOfASession(t *testing.T) {
	b := &fakeBackend{}
	r := newTestRegistry(t, b)
	for i := range 3 {
		a := wait(t, ask(r, context.Background(), &recorder{}, "s", fmt.Sprint("q", i), func(p *Prompt) {
			p.Turn.Model = fmt.Sprint("model-", i)
			p.Turn.PermissionMode = "plan"
		}))
		require.NoError(t, a.err)
		assert.Equal(t, fmt.Sprint("q", i), a.res.Text.String())
	}
	wait(t, ask(r, context.Background(), &recorder{}, "other", "x"))
	assert.Equal(t, 2, b.opens, "one connection per session")
	assert.Equal(t, backends.Turn{Prompt: backends.TextPrompt("q2"), Model: "model-2", PermissionMode: "plan"}, b.turns[2], "per-prompt options reach the backend")
	assert.Equal(t, "s", b.opts[0].SessionID)
	assert.Equal(t, "model-2", r.List()[0].Model, "the list shows the model last asked for")
}

func TestAFailedStartIsRetriedByTheNextPrompt(t *testing.T) {
	b := &fakeBackend{failOpen: fmt.Errorf("%w: no such binary", backends.ErrFailed)}
	r := newTestRegistry(t, b)
	rec := &recorder{}
	a := wait(t, ask(r, context.Background(), rec, "s", "first"))
	require.ErrorIs(t, a.err, backends.ErrFailed)
	assert.ErrorContains(t, a.err, "no such binary")
	assert.Equal(t, StateFailed, r.List()[0].Status)

	a = wait(t, ask(r, context.Background(), rec, "s", "second"))
	require.NoError(t, a.err)
	assert.Equal(t, "second", a.res.Text.String())
	assert.Equal(t, 2, b.opens)
	assert.Equal(t, []string{
		"status starting", "status failed",
		"status starting", "status busy", "token second", "status idle",
	}, rec.lines())
}

func TestCancelWhileTheBackendStartsAnswersCancelledAndKeepsTheSession(t *testing.T) {
	b := &fakeBackend{openGate: make(chan struct{}), opening: make(chan struct{}, 2)}
	r := newTestRegistry(t, b)
	rec := &recorder{}
	first := ask(r, context.Background(), rec, "s", "first")
	cancelled := make(chan int, 1)
	wait(t, b.opening)
	r.Cancel("s", func(n int) { cancelled <- n })
	assert.Equal(t, 1, wait(t, cancelled))
	a := wait(t, first)
	require.NoError(t, a.err)
	assert.Equal(t, TurnResult{SessionID: "s", StopReason: backends.StopCancelled}, a.res)
	assert.NotEqual(t, StateFailed, r.List()[0].Status, "a cancelled start is no failure")

	close(b.openGate)
	a = wait(t, ask(r, context.Background(), rec, "s", "second"))
	require.NoError(t, a.err)
	assert.Equal(t, "second", a.res.Text.String(), "the session is still usable")
}

func TestTheQueueHoldsSixteenBehindTheRunningPrompt(t *testing.T) {
	b := &fakeBackend{release: make(chan struct{})}
	r := newTestRegistry(t, b)
	var answers []<-chan answer
	// 18 at once to an idle session: one runs, sixteen wait, one is refused.
	for i := range DefaultQueueLimit + 2 {
		answers = append(answers, ask(r, context.Background(), &recorder{}, "s", fmt.Sprint(i)))
	}
	last := wait(t, answers[DefaultQueueLimit+1])
	assert.ErrorIs(t, last.err, ErrBusy)
	close(b.release)
	for i, a := range answers[:DefaultQueueLimit+1] {
		got := wait(t, a)
		require.NoError(t, got.err, "prompt %d", i)
		assert.Equal(t, fmt.Sprint(i), got.res.Text.String(), "in order")
	}
}

func TestCloseAnswersAfterTheBackendIsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &fakeBackend{release: make(chan struct{}), closing: make(chan struct{}), started: make(chan string, 1)}
		r := NewRegistry(Config{Backends: []backends.Backend{b}, DefaultBackend: "fake"})
		running := ask(r, context.Background(), &recorder{}, "s", "long")
		queued := ask(r, context.Background(), &recorder{}, "s", "queued")
		assert.Equal(t, "long", <-b.started)
		closed := make(chan bool, 1)
		r.Close("s", func(ok bool) { closed <- ok })
		assert.Equal(t, backends.StopCancelled, (<-running).res.StopReason)
		assert.Equal(t, backends.StopCancelled, (<-queued).res.StopReason)
		synctest.Wait()
		select {
		case <-closed:
			t.Fatal("close answered before the backend finished closing")
		default:
		}
		close(b.closing)
		assert.True(t, <-closed)
		assert.Equal(t, 1, b.closes)
		assert.Empty(t, r.List())
		require.NoError(t, r.Shutdown(context.Background()))
	})
}

func TestCancelledQueuedPromptLeavesTheQueueInOrder(t *testing.T) {
	b := &fakeBackend{release: make(chan struct{})}
	r := newTestRegistry(t, b)
	first := ask(r, context.Background(), &recorder{}, "s", "first")
	ctx, cancel := context.WithCancelCause(context.Background())
	middle := ask(r, ctx, &recorder{}, "s", "middle")
	last := ask(r, context.Background(), &recorder{}, "s", "last")
	reason := errors.New("the client cancelled it")
	cancel(reason)
	assert.ErrorIs(t, wait(t, middle).err, reason, "a queued prompt ends with its context's cause, at once")
	close(b.release)
	assert.Equal(t, "first", wait(t, first).res.Text.String())
	assert.Equal(t, "last", wait(t, last).res.Text.String())
}

func TestPromptAfterShutdownIsRefused(t *testing.T) {
	b := &fakeBackend{}
	r := newTestRegistry(t, b)
	wait(t, ask(r, context.Background(), &recorder{}, "s", "x"))
	require.NoError(t, r.Shutdown(context.Background()))
	assert.ErrorIs(t, wait(t, ask(r, context.Background(), &recorder{}, "s", "y")).err, ErrShuttingDown)
	assert.Equal(t, 1, b.closes)
}

func TestUnknownSessionWhenItMustExist(t *testing.T) {
	r := newTestRegistry(t, &fakeBackend{})
	a := wait(t, ask(r, context.Background(), &recorder{}, "nobody", "x", func(p *Prompt) { p.MustExist = true }))
	assert.ErrorIs(t, a.err, ErrNotFound)
	assert.Empty(t, r.List())
}

func TestOpenStartsTheBackendBeforeTheFirstPrompt(t *testing.T) {
	b := &fakeBackend{}
	r := newTestRegistry(t, b)
	ready := make(chan error, 1)
	rec := &recorder{}
	require.NoError(t, r.Open(Options{SessionID: "s", Events: rec}, func(err error) { ready <- err }))
	require.NoError(t, wait(t, ready))
	assert.Equal(t, 1, b.opens)
	assert.Equal(t, StateIdle, r.List()[0].Status)
	a := wait(t, ask(r, context.Background(), &recorder{}, "s", "hi"))
	require.NoError(t, a.err)
	assert.Equal(t, 1, b.opens, "the prompt used the connection opened ahead")
}

func TestShutdownPastItsDeadlineKillsAndSaysSo(t *testing.T) {
	b := &fakeBackend{closing: make(chan struct{}), closeCtx: make(chan error, 1)}
	r := NewRegistry(Config{Backends: []backends.Backend{b}, DefaultBackend: "fake"})
	wait(t, ask(r, context.Background(), &recorder{}, "s", "x"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := r.Shutdown(ctx)
	assert.ErrorIs(t, err, ErrShutdownTimeout)
	assert.ErrorIs(t, wait(t, b.closeCtx), context.Canceled, "the backend was told to stop at once")
	assert.Equal(t, 1, b.closes, "and Shutdown waited for it")
}

func TestUnavailableBackendSaysWhy(t *testing.T) {
	r := NewRegistry(Config{Backends: []backends.Backend{offBackend{}}, DefaultBackend: "off"})
	defer r.Shutdown(context.Background())
	a := wait(t, ask(r, context.Background(), &recorder{}, "s", "x"))
	assert.ErrorIs(t, a.err, backends.ErrUnavailable)
	assert.ErrorContains(t, a.err, "install the thing")
	assert.Empty(t, r.List(), "no session is made for a backend that cannot run")
}

type offBackend struct{}

func (offBackend) Name() string              { return "off" }
func (offBackend) Available() (bool, string) { return false, "install the thing" }
func (offBackend) Info() backends.Info       { return backends.Info{} }
func (offBackend) Open(context.Context, backends.Options) (backends.Conn, error) {
	return nil, errors.New("unreachable")
}
