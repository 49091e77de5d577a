package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/handlers/acp"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/store"
)

// The benchmarks in this file run Tether in-process on pipes, with a client
// that never decodes what it reads: it scans the bytes for the markers it
// waits for (a reply, a notification's method) into a buffer it reuses, so
// that the allocations and CPU the benchmarks report are Tether's, not the
// client's.

// benchServer is an in-process Tether with a scanning client.
type benchServer struct {
	b       *testing.B
	framing rpc.Framing
	in      io.WriteCloser // Tether's stdin
	out     *outputScanner // Tether's stdout
	done    chan int
}

func startBenchServer(b *testing.B, framing rpc.Framing, bs ...backends.Backend) *benchServer {
	if len(bs) == 0 {
		return startBenchDialect(b, framing, nil)
	}
	return startBenchDialect(b, framing, nil, func(c *handlers.Config) {
		c.Backends, c.DefaultBackend = bs, bs[0].Name()
	})
}

// startBenchDialect is startBenchServer on the mock with a dialect (nil:
// Tether's), and opts changing its configuration.
func startBenchDialect(b *testing.B, framing rpc.Framing, d handlers.Dialect, opts ...func(*handlers.Config)) *benchServer {
	b.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	cfg := handlers.Config{
		Backends: []backends.Backend{mock.Backend{}}, DefaultBackend: mock.Name, Dialect: d,
		Framing: framing, ShutdownTimeout: guard, Log: slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(&cfg)
	}
	s := &benchServer{b: b, framing: framing, in: inW, out: newOutputScanner(outR), done: make(chan int, 1)}
	go func() {
		s.done <- handlers.Serve(context.Background(), inR, outW, cfg)
		outW.Close()
	}()
	b.Cleanup(func() {
		inW.Close()
		io.Copy(io.Discard, outR)
		<-s.done
	})
	return s
}

// send writes requests, each one JSON body, framed, in one write.
func (s *benchServer) send(bodies ...string) {
	var buf []byte
	for _, body := range bodies {
		if s.framing == rpc.FramingNDJSON {
			buf = append(append(buf, body...), '\n')
		} else {
			buf = fmt.Appendf(buf, "Content-Length: %d\r\n\r\n%s", len(body), body)
		}
	}
	if _, err := s.in.Write(buf); err != nil {
		s.b.Fatal(err)
	}
}

// queryBody is a session/query request.
func queryBody(id int, session, prompt string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"session/query","params":{"sessionId":%q,"prompt":%q}}`, id, session, prompt)
}

// outputScanner reads Tether's output as fast as it can into one buffer,
// and counts markers in it without decoding anything. A marker is counted
// once even when a read splits it.
type outputScanner struct {
	r    io.Reader
	buf  []byte
	keep int // bytes kept from the previous read, where a marker may start
	// Bytes is every byte read so far.
	Bytes int64
}

func newOutputScanner(r io.Reader) *outputScanner {
	return &outputScanner{r: r, buf: make([]byte, 256<<10)}
}

// line reads until a whole line holding marker has been read, and returns
// it; what was read after it is dropped. It allocates: it is for a
// benchmark's set-up (a reply whose result the benchmark needs), in NDJSON.
func (s *outputScanner) line(marker []byte) ([]byte, error) {
	var all []byte
	for {
		m, err := s.r.Read(s.buf)
		all = append(all, s.buf[:m]...)
		if i := bytes.Index(all, marker); i >= 0 {
			if j := bytes.IndexByte(all[i:], '\n'); j >= 0 {
				start := bytes.LastIndexByte(all[:i], '\n') + 1
				return all[start : i+j], nil
			}
		}
		if err != nil {
			return nil, err
		}
	}
}

// errReply is an error reply, which no benchmark expects.
var errReply = errors.New(`tether answered with an error`)

// until reads until end has been seen want times, and returns how often
// counted appeared meanwhile. An error reply fails it.
func (s *outputScanner) until(end []byte, want int, counted []byte) (int, error) {
	errMark := []byte(`,"error":{`)
	maxLen := max(len(end), len(counted), len(errMark))
	seen, n := 0, 0
	for {
		m, err := s.r.Read(s.buf[s.keep:])
		s.Bytes += int64(m)
		data := s.buf[:s.keep+m]
		// Count only the matches that end in the new bytes: the kept ones
		// were counted (or were too short to match) before.
		from := func(p []byte) int { return max(0, s.keep-len(p)+1) }
		n += countFrom(data, counted, from(counted))
		seen += countFrom(data, end, from(end))
		if countFrom(data, errMark, from(errMark)) > 0 {
			return n, fmt.Errorf("%w: %s", errReply, data)
		}
		keep := min(maxLen-1, len(data))
		copy(s.buf, data[len(data)-keep:])
		s.keep = keep
		if seen >= want {
			s.keep = 0
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// countFrom counts the occurrences of p in data that start at from or later.
func countFrom(data, p []byte, from int) int {
	if len(p) == 0 {
		return 0
	}
	n := 0
	for {
		i := bytes.Index(data[from:], p)
		if i < 0 {
			return n
		}
		n++
		from += i + len(p)
	}
}

// tokenMark starts every session/token notification, and acpChunkMark
// marks every ACP agent_message_chunk update.
var (
	tokenMark    = []byte(`"method":"session/token"`)
	acpChunkMark = []byte(`"sessionUpdate":"agent_message_chunk"`)
)

// replyMark is the start of the reply to request id.
func replyMark(id int) []byte { return fmt.Appendf(nil, `"id":%d,"result":`, id) }

// resultMark starts every successful reply.
var resultMark = []byte(`,"result":`)

// BenchmarkTokenPath measures the token path end to end in one session: the
// mock backend streams tokens through the session, the presenter, the
// connection's writer and the framing, and a client reads the framed bytes
// off the pipe as fast as it can. It reports tokens per second, the
// process's allocations and bytes allocated per token (the client
// allocates nothing), and how many tokens a notification carried on
// average (1 when the client keeps up; more when tokens are merged while
// it does not). The acp variant runs ACP's session/prompt and
// agent_message_chunk updates.
func BenchmarkTokenPath(b *testing.B) {
	for _, f := range []struct {
		name    string
		framing rpc.Framing
	}{{"ndjson", rpc.FramingNDJSON}, {"lsp", rpc.FramingLSP}} {
		b.Run(f.name, func(b *testing.B) { benchmarkTokenPath(b, f.framing, nil) })
	}
	b.Run("acp", func(b *testing.B) {
		benchmarkTokenPath(b, rpc.FramingNDJSON, acp.New(acp.Info{Name: "tether"}, slog.New(slog.DiscardHandler)))
	})
	// ndjson with the session store on: every turn is recorded. It must
	// stay within noise of ndjson (the recorder only appends to memory on
	// the token path; the store's writer commits off it).
	b.Run("store", func(b *testing.B) {
		st, err := store.Open(filepath.Join(b.TempDir(), store.FileName), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchmarkTokenPath(b, rpc.FramingNDJSON, nil, func(c *handlers.Config) { c.Store = st })
	})
}

// benchmarkTokenPath runs the benchmark on Tether's protocol, or on ACP
// when d is an ACP dialect; opts change the configuration.
func benchmarkTokenPath(b *testing.B, framing rpc.Framing, d *acp.Dialect, opts ...func(*handlers.Config)) {
	const perQuery = 10_000
	prompt := "/tokens " + strconv.Itoa(perQuery)
	request := func(id int) string { return queryBody(id, "bench", prompt) }
	mark := tokenMark
	var s *benchServer
	if d == nil {
		s = startBenchDialect(b, framing, nil, opts...)
	} else {
		s = startBenchDialect(b, framing, d, opts...)
		s.send(`{"jsonrpc":"2.0","id":0,"method":"session/new","params":{"cwd":"/","mcpServers":[]}}`)
		line, err := s.out.line(replyMark(0))
		if err != nil {
			b.Fatal(err)
		}
		var res struct {
			Result struct{ SessionID string }
		}
		if err := json.Unmarshal(line, &res); err != nil || res.Result.SessionID == "" {
			b.Fatalf("session/new: %s", line)
		}
		request = func(id int) string {
			return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"session/prompt","params":{"sessionId":%q,"prompt":[{"type":"text","text":%q}]}}`,
				id, res.Result.SessionID, prompt)
		}
		mark = acpChunkMark
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, notes := 0, 0
	for b.Loop() {
		n++
		s.send(request(n))
		got, err := s.out.until(replyMark(n), 1, mark)
		if err != nil {
			b.Fatal(err)
		}
		notes += got
	}
	runtime.ReadMemStats(&after)
	tokens := float64(n * perQuery)
	b.ReportMetric(tokens/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/tokens, "allocs/token")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/tokens, "B/token")
	b.ReportMetric(tokens/float64(notes), "tokens/notification")
}

// BenchmarkConcurrentSessions streams 2,000 tokens in each of 1,000 mock
// sessions at once, one op being one round of every session's query, and
// reports tokens per second and the process's CPU time per token. Run it
// with -cpu 1,4,16: with the work spread over cores, tokens/s should rise
// (or at least not fall) and CPU per token should not grow.
func BenchmarkConcurrentSessions(b *testing.B) {
	const sessions, perQuery = 1000, 2000
	s := startBenchServer(b, rpc.FramingNDJSON)
	prompt := "/tokens " + strconv.Itoa(perQuery)
	reqs := make([]string, sessions)
	cpu0 := cpuTime(b)
	id, notes := 0, 0
	for b.Loop() {
		for i := range reqs {
			id++
			reqs[i] = queryBody(id, "s"+strconv.Itoa(i), prompt)
		}
		s.send(reqs...)
		n, err := s.out.until(resultMark, sessions, tokenMark)
		if err != nil {
			b.Fatal(err)
		}
		notes += n
	}
	tokens := float64(b.N * sessions * perQuery)
	b.ReportMetric(tokens/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(cpuTime(b)-cpu0)/tokens, "cpu-ns/token")
	b.ReportMetric(tokens/float64(notes), "tokens/notification")
}

// cpuTime is the process's user and system CPU time so far, in ns.
func cpuTime(tb testing.TB) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkIdleSessions opens 10,000 mock sessions (session/open, so each
// has its backend connection) at once and leaves them idle, then reports
// what they hold after a GC: heap and goroutine stacks per session, the
// goroutines left, and the process's resident set, right after the burst
// (rss-MiB, which includes heap the runtime keeps after the burst's
// garbage until its scavenger returns it, or sooner under GOMEMLIMIT) and
// once that is returned (rss-scavenged-MiB). The goal is 10,000 idle
// sessions in at most 50 MB of RSS.
func BenchmarkIdleSessions(b *testing.B) {
	const sessions = 10_000
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		debug.FreeOSMemory()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		rss0 := procStatus(b, "VmRSS")
		b.StartTimer()

		s := startBenchServer(b, rpc.FramingNDJSON)
		reqs := make([]string, sessions)
		for i := range reqs {
			reqs[i] = fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"session/open","params":{"sessionId":"idle%d"}}`, i+1, i)
		}
		s.send(reqs...)
		if _, err := s.out.until(resultMark, sessions, nil); err != nil {
			b.Fatal(err)
		}

		b.StopTimer()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		rss := procStatus(b, "VmRSS")
		heap := float64(after.HeapInuse) - float64(before.HeapInuse)
		stacks := float64(after.StackInuse) - float64(before.StackInuse)
		b.ReportMetric(heap/sessions, "heap-B/session")
		b.ReportMetric(stacks/sessions, "stack-B/session")
		b.ReportMetric(float64(rss-rss0)/sessions, "rss-B/session")
		b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
		debug.FreeOSMemory()
		b.ReportMetric(float64(procStatus(b, "VmRSS"))/(1<<20), "rss-scavenged-MiB")
		// Close them all before the next round.
		s.send(`{"jsonrpc":"2.0","id":0,"method":"shutdown"}`)
		if _, err := s.out.until(replyMark(0), 1, nil); err != nil {
			b.Fatal(err)
		}
		s.in.Close()
		<-s.done
		s.done <- 0 // for Cleanup
		b.StartTimer()
	}
}

// BenchmarkLongTurn streams one 2,000,000-token mock turn (about 20 MB of
// text) to a client reading as fast as it can, and reports the process's
// peak resident set during the turn against the turn's text: the goal is a
// peak of at most 3 times the text, that is, the text is not copied
// whole several times on its way to the reply.
func BenchmarkLongTurn(b *testing.B) {
	const tokens = 2_000_000
	text := mockTokensLen(tokens)
	s := startBenchServer(b, rpc.FramingNDJSON)
	id := 0
	var peak int64
	for b.Loop() {
		b.StopTimer()
		runtime.GC()
		debug.FreeOSMemory()
		rss0 := procStatus(b, "VmRSS")
		resetPeakRSS(b)
		b.StartTimer()
		id++
		s.send(queryBody(id, "long", "/tokens "+strconv.Itoa(tokens)))
		if _, err := s.out.until(replyMark(id), 1, nil); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		peak = procStatus(b, "VmHWM")
		b.ReportMetric(float64(peak-rss0)/float64(text), "peak-growth/text")
		b.StartTimer()
	}
	b.ReportMetric(float64(text)/(1<<20), "text-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
	b.ReportMetric(float64(peak)/float64(text), "peak-rss/text")
	b.ReportMetric(tokens*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// mockTokensLen is the length of the text of the mock's /tokens n: "tok1",
// then " tok2" and so on.
func mockTokensLen(n int) int {
	total := 0
	for i := 1; i <= n; i++ {
		total += len(" tok") + len(strconv.Itoa(i))
	}
	return total - 1
}

// procStatus reads a size field of /proc/self/status (VmRSS, VmHWM), in
// bytes. The benchmarks that need it are skipped where there is no /proc.
func procStatus(b *testing.B, field string) int64 { return procStatusOf(b, "self", field) }

// procStatusOf reads a size field of /proc/<proc>/status, in bytes.
func procStatusOf(b *testing.B, proc, field string) int64 {
	b.Helper()
	status, err := os.ReadFile("/proc/" + proc + "/status")
	if err != nil {
		b.Skipf("no /proc/%s/status: %v", proc, err)
	}
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				b.Fatalf("%s: %v", field, err)
			}
			return kb << 10
		}
	}
	b.Fatalf("no %s in /proc/%s/status", field, proc)
	return 0
}

// resetPeakRSS starts VmHWM again from the current RSS (Linux 4.0 and
// later).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Skipf("cannot reset the peak RSS: %v", err)
	}
}
