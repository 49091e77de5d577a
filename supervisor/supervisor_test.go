//go:build unix

package supervisor

import (
	"bytes"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStderrTailAndDebugLog(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p, rec := startFake(t, Config{Log: log}, "stderr", fmt.Sprint(200<<10))
	require.Equal(t, "done", rec.next(t))
	p.CloseStdin()
	require.NoError(t, stopWithin(t, t.Context(), p)) // stderr read to EOF

	tail := p.StderrTail()
	assert.LessOrEqual(t, len(tail), stderrTailSize)
	assert.Greater(t, len(tail), stderrTailSize-64)
	assert.True(t, strings.HasSuffix(tail, "0\nthe last stderr line\n"), "tail ends %q", tail[max(0, len(tail)-100):])
	assert.Contains(t, logs.String(), `line="the last stderr line"`)
}

func TestSendFromManyGoroutinesNeverInterleaves(t *testing.T) {
	p, rec := startFake(t, Config{}, "echo")
	const senders, each = 8, 100
	var wg sync.WaitGroup
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				// Lines of up to 20 KiB: larger than one atomic pipe write.
				line := fmt.Sprintf("%d-%d-%s\n", g, i, strings.Repeat("p", (g*i*97)%(20<<10)))
				assert.NoError(t, p.Send([]byte(line)))
			}
		})
	}
	wg.Wait()
	p.CloseStdin()
	got := make(map[string]bool)
	for range senders * each {
		line := rec.next(t)
		id, pad, _ := strings.Cut(line[strings.IndexByte(line, '-')+1:], "-")
		var g, i int
		fmt.Sscanf(line, "%d-%d-", &g, &i)
		require.Equal(t, (g*i*97)%(20<<10), len(pad), "line %s-%s mangled", line[:strings.IndexByte(line, '-')], id)
		got[fmt.Sprintf("%d-%d", g, i)] = true
	}
	assert.Len(t, got, senders*each)
	require.NoError(t, rec.stdoutEnd(t))
	require.NoError(t, stopWithin(t, t.Context(), p))
}

func TestSendBlockedOnAFullPipeEndsWithStop(t *testing.T) {
	p, rec := startFake(t, Config{Grace: 100 * time.Millisecond}, "ignore-stdin")
	require.Equal(t, "ready", rec.next(t))
	sent := make(chan error, 1)
	go func() { sent <- p.Send(bytes.Repeat([]byte("x"), 4<<20)) }() // far above the pipe's buffer
	require.NoError(t, stopWithin(t, t.Context(), p))
	select {
	case err := <-sent:
		assert.ErrorIs(t, err, ErrStopped)
	case <-time.After(waitLimit):
		t.Fatal("Send still blocked after Stop")
	}
	assert.ErrorIs(t, p.Send([]byte("more")), ErrStopped)
}

func TestStartFailsCleanly(t *testing.T) {
	before := Live()
	_, err := Start(Config{Path: filepath.Join(t.TempDir(), "missing"), OnLine: func([]byte) {}})
	assert.Error(t, err)
	assert.Equal(t, before, Live())
	_, err = Start(Config{Path: "true"})
	assert.ErrorContains(t, err, "OnLine")
}

func TestLiveCountsUntilStopAndOnExitFires(t *testing.T) {
	before := Live()
	exits := make(chan string, 2)
	p, rec := startFake(t, Config{OnExit: func(p *Process) { exits <- p.ExitStatus() }}, "wait-stdin")
	require.Equal(t, "ready", rec.next(t))
	assert.Equal(t, before+1, Live())
	p.CloseStdin()
	<-p.Exited()
	assert.Equal(t, "exit status 0", <-exits)
	assert.Equal(t, before+1, Live(), "exited but not stopped still counts: its tree may live")
	require.NoError(t, stopWithin(t, t.Context(), p))
	assert.Equal(t, before, Live())
	assert.Empty(t, exits, "OnExit fired twice")
}

func TestOutputHeldByADescendantEndsTheReader(t *testing.T) {
	p, rec := startFake(t, Config{WaitDelay: 200 * time.Millisecond, Grace: 100 * time.Millisecond}, "spawn", "hold-stdout", "exit")
	pids := rec.until(t, "ready")
	require.Len(t, pids["grandchild"], 1)
	<-p.Exited()
	// The grandchild still holds stdout and writes nothing.
	assert.ErrorIs(t, rec.stdoutEnd(t), ErrOutputHeld)
	require.NoError(t, stopWithin(t, t.Context(), p))
}

// syncBuffer is a bytes.Buffer for a logger written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestNewLetsOnLineUseTheProcess(t *testing.T) {
	// OnLine answers each line through the Process it belongs to, which
	// exists before the first line can arrive.
	var p *Process
	answered := make(chan string, 1)
	cfg := fakeConfig("echo")
	cfg.OnLine = func(line []byte) {
		if string(line) == "ping" {
			assert.NoError(t, p.Send([]byte("pong")))
			return
		}
		answered <- string(line)
	}
	p = New(cfg)
	assert.NoError(t, p.Stop(t.Context()), "Stop before Start")
	assert.ErrorIs(t, p.Send([]byte("early")), ErrStopped)
	require.NoError(t, p.Start())
	t.Cleanup(func() {
		require.NoError(t, p.Kill())
		assertNoneLeft(t)
	})
	assert.Error(t, p.Start(), "a second Start")
	require.NoError(t, p.Send([]byte("ping")))
	select {
	case line := <-answered:
		assert.Equal(t, "pong", line)
	case <-time.After(waitLimit):
		t.Fatal("no answer")
	}
}
