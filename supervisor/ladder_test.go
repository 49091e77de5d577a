//go:build unix

package supervisor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Each rung is told apart by how the child ended: it exited by itself
// (stdin closed), was terminated (SIGTERM), or was killed (SIGKILL).

func TestStopClosesStdinFirst(t *testing.T) {
	// A grace far above the test's limit: the child must end on the first
	// rung or the test fails.
	p, rec := startFake(t, Config{Grace: time.Hour}, "wait-stdin")
	require.Equal(t, "ready", rec.next(t))
	require.NoError(t, stopWithin(t, t.Context(), p))
	assert.Equal(t, "exit status 0", p.ExitStatus())
}

func TestStopSendsSIGTERMToAChildIgnoringStdin(t *testing.T) {
	p, rec := startFake(t, Config{Grace: 200 * time.Millisecond}, "ignore-stdin")
	require.Equal(t, "ready", rec.next(t))
	require.NoError(t, stopWithin(t, t.Context(), p))
	assert.Equal(t, "signal: terminated", p.ExitStatus())
}

func TestStopSendsSIGKILLToAChildIgnoringSIGTERM(t *testing.T) {
	p, rec := startFake(t, Config{Grace: 200 * time.Millisecond}, "ignore-term")
	require.Equal(t, "ready", rec.next(t))
	require.NoError(t, stopWithin(t, t.Context(), p))
	assert.Equal(t, "signal: killed", p.ExitStatus())
	assert.NoError(t, rec.stdoutEnd(t))
}

func TestStopEscalatesWhenItsContextEnds(t *testing.T) {
	p, rec := startFake(t, Config{Grace: time.Hour}, "ignore-term")
	require.Equal(t, "ready", rec.next(t))
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	require.NoError(t, stopWithin(t, ctx, p))
	assert.Equal(t, "signal: killed", p.ExitStatus())
}

func TestALaterStopWithADeadlineHurriesTheLadder(t *testing.T) {
	p, rec := startFake(t, Config{Grace: time.Hour}, "ignore-term")
	require.Equal(t, "ready", rec.next(t))
	patient := make(chan error, 1)
	go func() { patient <- p.Stop(context.Background()) }()
	<-p.Stopping() // the patient ladder has begun

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	require.NoError(t, stopWithin(t, ctx, p))
	assert.NoError(t, <-patient)
	assert.Equal(t, "signal: killed", p.ExitStatus())
}

func TestKillSkipsTheLadder(t *testing.T) {
	p, rec := startFake(t, Config{Grace: time.Hour}, "ignore-term")
	require.Equal(t, "ready", rec.next(t))
	done := make(chan error, 1)
	go func() { done <- p.Kill() }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(waitLimit):
		t.Fatal("Kill did not return")
	}
	assert.Equal(t, "signal: killed", p.ExitStatus())
}

func TestStopIsIdempotentFromManyGoroutines(t *testing.T) {
	p, rec := startFake(t, Config{Grace: 200 * time.Millisecond}, "ignore-stdin")
	require.Equal(t, "ready", rec.next(t))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { assert.NoError(t, p.Stop(context.Background())) })
	}
	wg.Wait()
	assert.NoError(t, p.Kill())
	assert.NoError(t, p.Stop(context.Background()))
	assert.Equal(t, "signal: terminated", p.ExitStatus())
}

func TestStopAfterTheChildExitedByItself(t *testing.T) {
	p, _ := startFake(t, Config{Grace: time.Hour}, "exit", "3")
	<-p.Exited()
	require.NoError(t, stopWithin(t, t.Context(), p))
	assert.Equal(t, "exit status 3", p.ExitStatus())
	assert.Equal(t, 3, p.State().ExitCode())
}
