//go:build unix

package claude

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"runtime"
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
// of Tether but the process: the claude backend's stdout reader and line
// decoder, the turn's mapping, the session, the presenter, the
// connection's writer and its framing, into a writer that discards the
// bytes. One op is one turn; it reports the cost per streamed chunk (a
// text delta): ns, bytes and allocations, counting everything the process
// did meanwhile, the replaying fake CLI included.
//
// The fake CLI writes the whole turn at once, faster than any client
// reads, so the deltas mostly go out merged (notifications/chunk). The
// paced variant writes one delta and waits until its notification has
// been written before the next: one notification per chunk, each through
// every goroutine hand-off, as when the client keeps up with a real
// model.
func BenchmarkClaudeStream(b *testing.B) {
	for _, f := range []struct {
		name    string
		framing rpc.Framing
		paced   bool
	}{{"ndjson", rpc.FramingNDJSON, false}, {"lsp", rpc.FramingLSP, false}, {"ndjson-paced", rpc.FramingNDJSON, true}} {
		b.Run(f.name, func(b *testing.B) { benchmarkClaudeStream(b, f.framing, f.paced) })
	}
}

func benchmarkClaudeStream(b *testing.B, framing rpc.Framing, paced bool) {
	var turn []byte
	chunks := 0
	for _, line := range loadRecording(b) {
		turn = append(append(turn, line...), '\n')
		if bytes.Contains(line, []byte(`"text_delta"`)) {
			chunks++
		}
	}
	out := newReplyWatcher()
	inR, inW := io.Pipe()
	log := slog.New(slog.DiscardHandler)
	be := &replayBackend{turn: turn, log: log}
	if paced {
		be.pace = out.noted
	}
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
	request(1) // the first query starts the (fake) process

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

// replayBackend is the claude backend with a fake CLI process that answers
// every prompt with the recorded turn.
type replayBackend struct {
	turn []byte
	log  *slog.Logger
	// pace, when set, has the fake CLI write one line at a time and wait
	// for a token after each text delta.
	pace chan struct{}
}

func (*replayBackend) Name() string              { return Name }
func (*replayBackend) Available() (bool, string) { return true, "replays a recording" }
func (*replayBackend) Info() backends.Info       { return backends.Info{} }

func (r *replayBackend) Open(_ context.Context, opts backends.Options) (backends.Conn, error) {
	c := newConn(Config{Grace: time.Second, Watchdog: time.Minute, startTimeout: time.Minute}, "replay", opts, r.log)
	c.proc = startReplay(r.turn, r.pace, r.log)
	return c, nil
}

// startReplay makes a process whose stdout reader (the real one) reads the
// recorded turn once per prompt written to its stdin. Closing its stdin
// ends it as the CLI ends: its stdout ends and it has exited.
func startReplay(turn []byte, pace chan struct{}, log *slog.Logger) *process {
	stdoutR, stdoutW := io.Pipe()
	in := &replayStdin{prompts: make(chan struct{}, 16), stop: make(chan struct{})}
	p := &process{
		cmd: &exec.Cmd{},
		// A pid no process can have (above Linux's pid_max limit of
		// 2^22), so the stop ladder's group signals reach nobody.
		pid:     1<<22 + 1,
		log:     log,
		msgs:    make(chan message),
		stdin:   in,
		stderr:  newTailWriter(stderrTailSize, log),
		stdoutW: stdoutW,
		closing: make(chan struct{}),
		exited:  make(chan struct{}),
	}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.readStdout(stdoutR)
	}()
	go func() { // the fake CLI
		defer p.wg.Done()
		defer stdoutW.Close()
		defer close(p.exited)
		for {
			select {
			case <-in.prompts:
				if pace == nil {
					if _, err := stdoutW.Write(turn); err != nil {
						return
					}
					continue
				}
				for line := range bytes.Lines(turn) {
					if _, err := stdoutW.Write(line); err != nil {
						return
					}
					if bytes.Contains(line, []byte(`"text_delta"`)) {
						select {
						case <-pace:
						case <-in.stop:
							return
						}
					}
				}
			case <-in.stop:
				return
			}
		}
	}()
	return p
}

// replayStdin is the fake CLI's stdin: a user message is a prompt.
type replayStdin struct {
	prompts chan struct{}
	stop    chan struct{}
	once    sync.Once
}

func (s *replayStdin) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"type":"user"`)) {
		s.prompts <- struct{}{}
	}
	return len(p), nil
}

func (s *replayStdin) Close() error {
	s.once.Do(func() { close(s.stop) })
	return nil
}
