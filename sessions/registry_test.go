package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/protocol"
)

const guard = 20 * time.Second

// recorder is a Client that records notifications in order.
type recorder struct {
	mu    sync.Mutex
	notes []string // method + " " + status, for status notifications
}

func (r *recorder) Notify(_ context.Context, method string, params any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := params.(protocol.StatusParams); ok {
		method += " " + p.Status
	}
	r.notes = append(r.notes, method)
	return nil
}

func (r *recorder) Call(context.Context, string, any, any) error {
	return errors.New("no client tools here")
}

// fakeBackend counts Opens and Closes; its conns answer each query with
// the prompt as one token, and can be told to fail Open or to block a
// query until released.
type fakeBackend struct {
	mu       sync.Mutex
	opens    int
	closes   int
	failOpen error
	opts     []backends.Options
	turns    []backends.Turn
	release  chan struct{} // when set, queries wait for it
	closing  chan struct{} // when set, Close waits for it
	started  chan string   // when set, gets each query's prompt as it reaches the backend
}

func (b *fakeBackend) Name() string              { return "fake" }
func (b *fakeBackend) Available() (bool, string) { return true, "" }
func (b *fakeBackend) Open(_ context.Context, opts backends.Options) (backends.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.opens++
	b.opts = append(b.opts, opts)
	if err := b.failOpen; err != nil {
		b.failOpen = nil
		return nil, err
	}
	return fakeConn{b}, nil
}

type fakeConn struct{ b *fakeBackend }

func (c fakeConn) Query(ctx context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	c.b.mu.Lock()
	c.b.turns = append(c.b.turns, turn)
	release, started := c.b.release, c.b.started
	c.b.mu.Unlock()
	if started != nil {
		started <- turn.Prompt
	}
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return backends.Result{StopReason: protocol.StopCancelled}, nil
		}
	}
	sink.Token(turn.Prompt)
	return backends.Result{StopReason: protocol.StopEndTurn}, nil
}

func (c fakeConn) Close() error {
	if c.b.closing != nil {
		<-c.b.closing
	}
	c.b.mu.Lock()
	c.b.closes++
	c.b.mu.Unlock()
	return nil
}

type answer struct {
	res protocol.QueryResult
	err error
}

// ask sends a query and returns where its answer will arrive.
func ask(r *Registry, ctx context.Context, session, prompt string, extra ...func(*protocol.QueryParams)) <-chan answer {
	ch := make(chan answer, 1)
	p := protocol.QueryParams{SessionID: session, Prompt: prompt}
	for _, f := range extra {
		f(&p)
	}
	r.Query(Query{ID: json.RawMessage(`1`), Ctx: ctx, Params: p, Reply: func(res protocol.QueryResult, err error) {
		ch <- answer{res, err}
	}})
	return ch
}

func wait[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatal("no answer")
		var zero T
		return zero
	}
}

func newTestRegistry(t *testing.T, b *fakeBackend) (*Registry, *recorder) {
	rec := &recorder{}
	r := NewRegistry(Config{Backends: []backends.Backend{b}, DefaultBackend: "fake", Client: rec})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		require.NoError(t, r.Shutdown(ctx))
	})
	return r, rec
}

func TestOneConnectionServesEveryQueryOfASession(t *testing.T) {
	b := &fakeBackend{}
	r, _ := newTestRegistry(t, b)
	for i := range 3 {
		a := wait(t, ask(r, context.Background(), "s", fmt.Sprint("q", i), func(p *protocol.QueryParams) {
			p.Model = fmt.Sprint("model-", i)
			p.PermissionMode = "plan"
		}))
		require.NoError(t, a.err)
		assert.Equal(t, fmt.Sprint("q", i), a.res.Text)
	}
	wait(t, ask(r, context.Background(), "other", "x"))
	assert.Equal(t, 2, b.opens, "one connection per session")
	assert.Equal(t, backends.Turn{Prompt: "q2", Model: "model-2", PermissionMode: "plan"}, b.turns[2], "per-query options reach the backend")
	assert.Equal(t, "model-0", b.opts[0].Model)
	assert.Equal(t, "s", b.opts[0].SessionID)
	assert.Equal(t, "model-2", r.List()[0].Model, "the list shows the model last asked for")
}

func TestAFailedStartIsRetriedByTheNextQuery(t *testing.T) {
	b := &fakeBackend{failOpen: fmt.Errorf("%w: no such binary", backends.ErrFailed)}
	r, rec := newTestRegistry(t, b)
	a := wait(t, ask(r, context.Background(), "s", "first"))
	require.ErrorIs(t, a.err, backends.ErrFailed)
	assert.ErrorContains(t, a.err, "no such binary")
	assert.Equal(t, protocol.StatusFailed, r.List()[0].Status)

	a = wait(t, ask(r, context.Background(), "s", "second"))
	require.NoError(t, a.err)
	assert.Equal(t, "second", a.res.Text)
	assert.Equal(t, 2, b.opens)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, []string{
		"session/status starting", "session/status failed",
		"session/status starting", "session/status busy", "session/token", "session/status idle",
	}, rec.notes)
}

func TestCleanupAnswersAfterTheBackendIsClosed(t *testing.T) {
	b := &fakeBackend{release: make(chan struct{}), closing: make(chan struct{}), started: make(chan string, 1)}
	r, _ := newTestRegistry(t, b)
	running := ask(r, context.Background(), "s", "long")
	queued := ask(r, context.Background(), "s", "queued")
	assert.Equal(t, "long", wait(t, b.started))

	closed := make(chan bool, 1)
	r.Cleanup("s", func(ok bool) { closed <- ok })
	assert.Equal(t, protocol.StopCancelled, wait(t, running).res.StopReason)
	assert.Equal(t, protocol.StopCancelled, wait(t, queued).res.StopReason)
	select {
	case <-closed:
		t.Fatal("cleanup answered before the backend finished closing")
	default:
	}
	close(b.closing)
	assert.True(t, wait(t, closed))
	assert.Equal(t, 1, b.closes)
	assert.Empty(t, r.List())
}

func TestCancelledQueuedQueryLeavesTheQueueInOrder(t *testing.T) {
	b := &fakeBackend{release: make(chan struct{})}
	r, _ := newTestRegistry(t, b)
	first := ask(r, context.Background(), "s", "first")
	ctx, cancel := context.WithCancelCause(context.Background())
	middle := ask(r, ctx, "s", "middle")
	last := ask(r, context.Background(), "s", "last")

	reason := errors.New("the client cancelled it")
	cancel(reason)
	assert.ErrorIs(t, wait(t, middle).err, reason, "a queued query ends with its context's cause, at once")
	close(b.release)
	assert.Equal(t, "first", wait(t, first).res.Text)
	assert.Equal(t, "last", wait(t, last).res.Text)
}

func TestQueryAfterShutdownIsRefused(t *testing.T) {
	b := &fakeBackend{}
	r, _ := newTestRegistry(t, b)
	wait(t, ask(r, context.Background(), "s", "x"))
	require.NoError(t, r.Shutdown(context.Background()))
	assert.ErrorIs(t, wait(t, ask(r, context.Background(), "s", "y")).err, ErrShuttingDown)
	assert.Equal(t, 1, b.closes)
}

func TestUnavailableBackendSaysWhy(t *testing.T) {
	r := NewRegistry(Config{Backends: []backends.Backend{offBackend{}}, DefaultBackend: "off", Client: &recorder{}})
	defer r.Shutdown(context.Background())
	a := wait(t, ask(r, context.Background(), "s", "x"))
	assert.ErrorIs(t, a.err, backends.ErrUnavailable)
	assert.ErrorContains(t, a.err, "install the thing")
	assert.Empty(t, r.List(), "no session is made for a backend that cannot run")
}

type offBackend struct{}

func (offBackend) Name() string              { return "off" }
func (offBackend) Available() (bool, string) { return false, "install the thing" }
func (offBackend) Open(context.Context, backends.Options) (backends.Conn, error) {
	return nil, errors.New("unreachable")
}
