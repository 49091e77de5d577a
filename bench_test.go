package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/handlers/acp"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/store"
)

// BenchmarkTokenPath measures the token path end to end: the mock backend
// streams tokens through the session actor, the notifier and the framing,
// and a client reads the framed bytes off the pipe. It reports tokens per
// second and allocations per token (every allocation of the process while
// the tokens flow, divided by their number).
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
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	cfg := handlers.Config{
		Backends: []backends.Backend{mock.Backend{}}, DefaultBackend: mock.Name,
		Framing: framing, ShutdownTimeout: guard, Log: slog.New(slog.DiscardHandler),
	}
	if d != nil {
		cfg.Dialect = d
	}
	for _, o := range opts {
		o(&cfg)
	}
	done := make(chan int, 1)
	go func() {
		done <- handlers.Serve(context.Background(), inR, outW, cfg)
		outW.Close()
	}()
	defer func() {
		inW.Close()
		io.Copy(io.Discard, outR)
		<-done
	}()
	out := bufio.NewReaderSize(outR, 1<<20)
	c := &testClient{t: b, framing: framing, w: inW}
	request := func(id int) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"session/query","params":{"sessionId":"bench","prompt":"/tokens %d"}}`, id, perQuery)
	}
	if d != nil {
		c.sendRaw(c.frame(`{"jsonrpc":"2.0","id":0,"method":"session/new","params":{"cwd":"/","mcpServers":[]}}`))
		body, err := readFrame(out, framing)
		if err != nil {
			b.Fatal(err)
		}
		var res struct {
			Result struct{ SessionID string }
		}
		if err := json.Unmarshal(body, &res); err != nil || res.Result.SessionID == "" {
			b.Fatalf("session/new: %s", body)
		}
		request = func(id int) string {
			return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"session/prompt","params":{"sessionId":%q,"prompt":[{"type":"text","text":"/tokens %d"}]}}`, id, res.Result.SessionID, perQuery)
		}
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := 0
	for b.Loop() {
		n++
		c.sendRaw(c.frame(request(n)))
		want := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,`, n)
		for {
			body, err := readFrame(out, framing)
			if err != nil {
				b.Fatal(err)
			}
			if bytes.HasPrefix(body, want) {
				break
			}
		}
	}
	runtime.ReadMemStats(&after)
	tokens := float64(n * perQuery)
	b.ReportMetric(tokens/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/tokens, "allocs/token")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/tokens, "B/token")
}
