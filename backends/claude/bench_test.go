//go:build unix

package claude

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/rpc"
)

// BenchmarkClaudeStream replays the recorded second turn of the real CLI
// (5,000 text deltas, testdata/claude/stream-5000.jsonl) through the whole
// of Tether: the fake CLI (this test binary, as the other tests run it)
// writes the recorded lines on its stdout for every prompt, and they go
// through the supervisor's pipes, the claude backend's line decoder and
// turn mapping, the session, the presenter, the connection's writer and
// its framing, into a writer that discards the bytes. One op is one turn;
// it reports per streamed chunk (a text delta) the wall time, this
// process's CPU time, bytes and allocations (the fake CLI, another
// process, is not counted), and notifications.
//
// The fake writes the turn's lines as fast as it can, faster than the
// client reads, so the deltas mostly go out merged. The paced variant
// waits 50 µs after each line (spinning, in the fake's process), about
// the real CLI's pace: each delta goes out alone, through every hand-off,
// as when the client keeps up with a model. Its wall time is mostly the
// pace; its CPU time per chunk is what Tether spends on a delta that
// arrives alone.
func BenchmarkClaudeStream(b *testing.B) {
	for _, f := range []struct {
		name    string
		framing rpc.Framing
		pace    time.Duration
	}{{"ndjson", rpc.FramingNDJSON, 0}, {"lsp", rpc.FramingLSP, 0}, {"ndjson-paced", rpc.FramingNDJSON, 50 * time.Microsecond}} {
		b.Run(f.name, func(b *testing.B) { benchmarkClaudeStream(b, f.framing, f.pace) })
	}
}

// writeReplay writes a fake CLI's script into dir: head, then the recorded
// turn at every user message. It returns the script's path and how many
// text deltas the turn has.
func writeReplay(b *testing.B, dir, head string) (path string, chunks int) {
	var script bytes.Buffer
	script.WriteString(head + "[loop]\nawait user\n")
	for _, line := range loadRecording(b) {
		script.Write(line)
		script.WriteByte('\n')
		if bytes.Contains(line, []byte(`"text_delta"`)) {
			chunks++
		}
	}
	path = filepath.Join(dir, "replay.jsonl")
	if err := os.WriteFile(path, script.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	return path, chunks
}

func benchmarkClaudeStream(b *testing.B, framing rpc.Framing, pace time.Duration) {
	head := "await initialize\n"
	if pace > 0 {
		head += "pace " + pace.String() + "\n"
	}
	path, chunks := writeReplay(b, b.TempDir(), head)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	be := New(Config{
		Path: exe, Grace: 5 * time.Second, Watchdog: time.Minute, startTimeout: time.Minute,
		env: []string{fakeScriptEnv + "=" + path, "GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0")},
	}, log)

	out := newReplyWatcher()
	inR, inW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- handlers.Serve(context.Background(), inR, out, handlers.Config{
			Backends: []backends.Backend{be}, DefaultBackend: Name,
			Framing: framing, ShutdownTimeout: time.Minute, Log: log,
		})
	}()
	defer func() {
		inW.Close()
		<-done
	}()
	request := func(id int) {
		body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"session/query","params":{"sessionId":"bench","prompt":"second question"}}`, id)
		if framing == rpc.FramingLSP {
			body = fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
		}
		if _, err := io.WriteString(inW, body+"\n"); err != nil {
			b.Fatal(err)
		}
		out.wait(b, id)
	}
	request(1) // the first query starts the fake CLI

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime(b)
	b.ResetTimer()
	id := 1
	for range b.N {
		id++
		request(id)
	}
	b.StopTimer()
	cpu := cpuTime(b) - cpu0
	runtime.ReadMemStats(&after)
	n := float64(b.N * chunks)
	b.ReportMetric(float64(cpu)/n, "cpu-ns/chunk")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/chunk")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n, "B/chunk")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/chunk")
	out.mu.Lock()
	b.ReportMetric(float64(out.notes)/float64(id*chunks), "notifications/chunk")
	out.mu.Unlock()
}

// cpuTime is the process's user and system CPU time so far, in ns.
func cpuTime(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// replyWatcher is Tether's stdout for the benchmark: it discards what is
// written, counting replies and token notifications into a buffer it
// reuses.
type replyWatcher struct {
	mu      sync.Mutex
	buf     []byte
	keep    int // bytes of the last write kept at buf's start, where a marker may begin
	replies int
	notes   int
	changed chan struct{}
	noted   chan struct{} // a token for every write with token notifications
}

var (
	resultMarker = []byte(`,"result":`)
	tokenMarker  = []byte(`"method":"session/token"`)
)

func newReplyWatcher() *replyWatcher {
	return &replyWatcher{changed: make(chan struct{}, 1), noted: make(chan struct{}, 1)}
}

func (w *replyWatcher) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf[:w.keep], p...)
	replies := countNew(w.buf, resultMarker, w.keep)
	w.replies += replies
	if n := countNew(w.buf, tokenMarker, w.keep); n > 0 {
		w.notes += n
		select {
		case w.noted <- struct{}{}:
		default:
		}
	}
	w.keep = min(len(w.buf), len(tokenMarker)-1)
	copy(w.buf, w.buf[len(w.buf)-w.keep:])
	if replies > 0 {
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// countNew counts the occurrences of m in b that end after b[:kept].
func countNew(b, m []byte, kept int) int {
	n := 0
	for from := max(0, kept-len(m)+1); ; {
		i := bytes.Index(b[from:], m)
		if i < 0 {
			return n
		}
		n++
		from += i + len(m)
	}
}

// wait waits until n replies have been written.
func (w *replyWatcher) wait(b *testing.B, n int) {
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for {
		w.mu.Lock()
		got := w.replies
		w.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-w.changed:
		case <-timeout.C:
			b.Fatalf("no reply to request %d", n)
		}
	}
}
