package claude

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

// A session opened ahead (session/open) has its CLI started by Open: the
// first query starts nothing more, and its text comes from that process.
func TestAnOpenedSessionsFirstQueryStartsNoCLI(t *testing.T) {
	f := newFakeRun(t, "stream", nil)
	t.Cleanup(func() { assert.NoError(t, f.b.Close(context.Background())) })

	a := f.open(backends.Options{SessionID: "a", Model: "claude-fake"})
	require.NotNil(t, a.proc)
	require.Len(t, f.starts(), 1, "Open started the CLI")
	sink := &fakeSink{}
	_, err := query(t, a, context.Background(), "Say hello", sink)
	require.NoError(t, err)
	assert.NotEmpty(t, sink.tokens.String())
	starts := f.starts()
	require.Len(t, starts, 1, "the query started no CLI")
	assert.Equal(t, a.proc.pid, int(starts[0]["pid"].(float64)), "the opened process answered")
}

// With --claude-spare 1, a second session with the options of the first
// takes a CLI that was started ahead: its Open starts nothing, and its
// first query is answered by that process. A spare nobody takes stops
// after SpareIdle, and the backend's Close leaves nothing running.
func TestASpareCLIServesTheNextSession(t *testing.T) {
	f := newFakeRun(t, "stream", func(cfg *Config) {
		cfg.Spare = 1
		cfg.SpareIdle = time.Hour
	})
	t.Cleanup(func() { assert.NoError(t, f.b.Close(context.Background())) })

	a := f.open(backends.Options{SessionID: "a", Model: "claude-fake"})
	_, err := query(t, a, context.Background(), "Say hello", &fakeSink{})
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "a spare started for the next session", func() bool { return f.b.SpareProcesses() == 1 })
	started := len(f.starts())
	assert.Equal(t, 2, started, "the session's CLI and one spare")

	b := f.open(backends.Options{SessionID: "b", Model: "claude-fake"})
	assert.Equal(t, started, len(f.starts()), "opening the second session started no CLI")
	sink := &fakeSink{}
	_, err = query(t, b, context.Background(), "Say hello", sink)
	require.NoError(t, err)
	assert.NotEmpty(t, sink.tokens.String(), "the spare answers the session's first query")

	waitFor(t, 10*time.Second, "the pool is refilled", func() bool { return f.b.SpareProcesses() == 1 })

	// A session with other options gets no spare, and the spares are
	// made again for its options.
	c := f.open(backends.Options{SessionID: "c", Model: "another-model"})
	require.NotNil(t, c.proc)
	waitFor(t, 10*time.Second, "spares for the new options", func() bool { return f.b.SpareProcesses() == 1 })
}

func TestAnUnusedSpareStopsAndAStoppedOneFreesASlot(t *testing.T) {
	f := newFakeRun(t, "stream", func(cfg *Config) {
		cfg.Spare = 1
		cfg.SpareIdle = 300 * time.Millisecond
	})
	t.Cleanup(func() { assert.NoError(t, f.b.Close(context.Background())) })
	a := f.open(backends.Options{SessionID: "a"})
	waitFor(t, 10*time.Second, "a spare started", func() bool { return f.b.SpareProcesses() == 1 })
	waitFor(t, 10*time.Second, "the unused spare stopped", func() bool { return f.b.SpareProcesses() == 0 })
	starts := f.starts()
	require.Len(t, starts, 2)
	// The session's CLI and the spare start at the same time, in either
	// order.
	spare := int(starts[1]["pid"].(float64))
	if spare == a.proc.pid {
		spare = int(starts[0]["pid"].(float64))
	}
	waitFor(t, 10*time.Second, "its process is gone", func() bool { return !groupAlive(spare) })
}
