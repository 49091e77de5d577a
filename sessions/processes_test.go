package sessions

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

// procBackend's sessions each hold a "process": started by Open and by a
// Query after Suspend, stopped by Suspend and Close. It records the order
// of starts and stops, and can hold queries until released.
type procBackend struct {
	mu      sync.Mutex
	log     []string
	release map[string]chan struct{} // per prompt text, when set
}

func (b *procBackend) Name() string              { return "proc" }
func (b *procBackend) Available() (bool, string) { return true, "" }
func (b *procBackend) Info() backends.Info       { return backends.Info{Processes: true} }
func (b *procBackend) note(s string) {
	b.mu.Lock()
	b.log = append(b.log, s)
	b.mu.Unlock()
}
func (b *procBackend) events() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.log...)
}
func (b *procBackend) Open(_ context.Context, opts backends.Options) (backends.Conn, error) {
	b.note("start " + opts.SessionID)
	return &procConn{b: b, id: opts.SessionID, running: true}, nil
}

type procConn struct {
	b       *procBackend
	id      string
	running bool
}

func (c *procConn) Query(ctx context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	if !c.running {
		c.b.note("resume " + c.id)
		c.running = true
	}
	prompt := backends.PromptText(turn.Prompt)
	c.b.mu.Lock()
	release := c.b.release[prompt]
	c.b.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
		}
	}
	sink.Token(prompt)
	return backends.Result{StopReason: backends.StopEndTurn}, nil
}

func (c *procConn) Suspend(context.Context) error {
	c.b.note("stop " + c.id)
	c.running = false
	return nil
}

func (c *procConn) Running() bool { return c.running }

func (c *procConn) Close(context.Context) error {
	if c.running {
		c.b.note("stop " + c.id)
	}
	return nil
}

func procRegistry(b *procBackend, cfg Config) *Registry {
	cfg.Backends, cfg.DefaultBackend = []backends.Backend{b}, "proc"
	return NewRegistry(cfg)
}

func TestAnIdleSessionsProcessIsStoppedAndResumed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &procBackend{}
		r := procRegistry(b, Config{IdleStop: 30 * time.Minute})
		require.NoError(t, (<-ask(r, context.Background(), &recorder{}, "s", "one")).err)
		assert.Equal(t, ProcessRunning, r.List()[0].Process)

		time.Sleep(29 * time.Minute)
		synctest.Wait()
		assert.Equal(t, []string{"start s"}, b.events(), "not idle long enough")

		time.Sleep(2 * time.Minute)
		synctest.Wait()
		assert.Equal(t, []string{"start s", "stop s"}, b.events())
		info := r.List()[0]
		assert.Equal(t, ProcessStopped, info.Process, "the session stays, without its process")
		assert.Equal(t, StateIdle, info.Status)

		a := <-ask(r, context.Background(), &recorder{}, "s", "two")
		require.NoError(t, a.err)
		assert.Equal(t, "two", a.res.Text.String())
		assert.Equal(t, []string{"start s", "stop s", "resume s"}, b.events())
		assert.Equal(t, ProcessRunning, r.List()[0].Process)
		require.NoError(t, r.Shutdown(context.Background()))
	})
}

func TestTheProcessLimitStopsTheLeastRecentlyUsedIdleOne(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &procBackend{}
		r := procRegistry(b, Config{MaxProcesses: 2})
		for _, id := range []string{"a", "b"} {
			require.NoError(t, (<-ask(r, context.Background(), &recorder{}, id, "hi")).err)
			time.Sleep(time.Minute)
		}
		// a was used longest ago: c's start stops a's process first.
		require.NoError(t, (<-ask(r, context.Background(), &recorder{}, "c", "hi")).err)
		assert.Equal(t, []string{"start a", "start b", "stop a", "start c"}, b.events())

		// a comes back: b is now the least recently used.
		time.Sleep(time.Minute)
		require.NoError(t, (<-ask(r, context.Background(), &recorder{}, "a", "again")).err)
		assert.Equal(t, []string{"start a", "start b", "stop a", "start c", "stop b", "resume a"}, b.events())
		running := 0
		for _, s := range r.List() {
			if s.Process == ProcessRunning {
				running++
			}
		}
		assert.Equal(t, 2, running)
		require.NoError(t, r.Shutdown(context.Background()))
	})
}

func TestWhenEveryProcessIsBusyAPromptWaitsRatherThanFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &procBackend{release: map[string]chan struct{}{"long": make(chan struct{})}}
		r := procRegistry(b, Config{MaxProcesses: 1})
		long := ask(r, context.Background(), &recorder{}, "a", "long")
		synctest.Wait()
		waiting := ask(r, context.Background(), &recorder{}, "b", "short")
		synctest.Wait()
		select {
		case a := <-waiting:
			t.Fatalf("b ran (or failed: %v) while a's process held the only slot", a.err)
		default:
		}
		assert.Equal(t, []string{"start a"}, b.events())

		close(b.release["long"])
		require.NoError(t, (<-long).err)
		a := <-waiting
		require.NoError(t, a.err, "it waited, and then ran")
		assert.Equal(t, "short", a.res.Text.String())
		assert.Equal(t, []string{"start a", "stop a", "start b"}, b.events())
		require.NoError(t, r.Shutdown(context.Background()))
	})
}

// spareBackend is a procBackend that also keeps processes started ahead.
type spareBackend struct {
	procBackend
	spares int
	closed bool
}

func (b *spareBackend) SpareProcesses() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spares
}

func (b *spareBackend) StopSpare(context.Context) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.spares == 0 {
		return false
	}
	b.spares--
	b.log = append(b.log, "stop spare")
	return true
}

func (b *spareBackend) Close(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func TestSparesCountAgainstTheLimitAndCloseWithTheRegistry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &spareBackend{spares: 1}
		r := NewRegistry(Config{Backends: []backends.Backend{b}, DefaultBackend: "proc", MaxProcesses: 1})
		require.NoError(t, (<-ask(r, context.Background(), &recorder{}, "a", "hi")).err)
		assert.Equal(t, []string{"stop spare", "start a"}, b.events(), "the spare gave its slot to the session")
		require.NoError(t, r.Shutdown(context.Background()))
		assert.True(t, b.closed, "the backend's own processes are stopped at shutdown")
	})
}
