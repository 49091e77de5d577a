//go:build unix

package supervisor

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// waitLimit bounds every wait in these tests for something that must
// happen; reaching it fails the test.
const waitLimit = 30 * time.Second

// recorder collects what a child writes on stdout.
type recorder struct {
	lines chan string // every line, in order
	end   chan error  // OnStdoutEnd's error
	mu    sync.Mutex
	long  []int64 // OnLongLine's sizes
}

func newRecorder() *recorder {
	return &recorder{lines: make(chan string, 1<<16), end: make(chan error, 1)}
}

func (r *recorder) wire(cfg *Config) {
	cfg.OnLine = func(line []byte) { r.lines <- string(line) }
	cfg.OnStdoutEnd = func(err error) { r.end <- err }
	cfg.OnLongLine = func(size int64) {
		r.mu.Lock()
		r.long = append(r.long, size)
		r.mu.Unlock()
	}
}

// next is the next line, failing the test if none comes.
func (r *recorder) next(t *testing.T) string {
	t.Helper()
	select {
	case line := <-r.lines:
		return line
	case <-time.After(waitLimit):
		t.Fatal("no line from the child")
		return ""
	}
}

// until reads lines up to and including "ready" and returns the pids of
// the "WHAT PID" lines before it, by WHAT.
func (r *recorder) until(t *testing.T, last string) map[string][]int {
	t.Helper()
	pids := make(map[string][]int)
	for {
		line := r.next(t)
		if line == last {
			return pids
		}
		what, pid, ok := strings.Cut(line, " ")
		n, err := strconv.Atoi(pid)
		require.True(t, ok && err == nil, "unexpected line %q", line)
		pids[what] = append(pids[what], n)
	}
}

// stdoutEnd waits for OnStdoutEnd and returns its error.
func (r *recorder) stdoutEnd(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.end:
		return err
	case <-time.After(waitLimit):
		t.Fatal("stdout never ended")
		return nil
	}
}

// startFake starts the fake scenario with cfg's settings and a recorder.
// When the test ends it kills the child if the test has not stopped it, and
// checks that no process and no goroutine of it is left.
func startFake(t *testing.T, cfg Config, scenario string, args ...string) (*Process, *recorder) {
	t.Helper()
	leaks := goleak.IgnoreCurrent()
	fake := fakeConfig(scenario, args...)
	cfg.Name, cfg.Path, cfg.Args, cfg.Env = fake.Name, fake.Path, fake.Args, fake.Env
	rec := newRecorder()
	rec.wire(&cfg)
	p, err := Start(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		require.NoError(t, p.Kill())
		assertNoneLeft(t)
		goleak.VerifyNone(t, leaks)
	})
	return p, rec
}

// stopWithin runs Stop(ctx) and fails the test if it does not return
// within waitLimit.
func stopWithin(t *testing.T, ctx context.Context, p *Process) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.Stop(ctx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLimit):
		t.Fatal("Stop did not return")
		return nil
	}
}

// eventually polls cond until it holds, failing the test after waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not so after %v", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
