//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/acpagent"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/handlers/acp"
	"github.com/tether-dev/tether/rpc"
)

// BenchmarkACPAgentFlood is Tether as an ACP proxy, in process: `tether
// acp` with the scripted agent behind it as an ACP agent, each turn 5,000
// agent_message_chunks from the agent through the acp backend, the
// session, and the ACP dialect to a client that reads the lines. The
// agent runs all along. tether-cpu-ms is this process's CPU time per turn
// (Tether's work on both sides, and the client's line reading; the
// agent's is not counted); allocs/chunk every allocation of the process
// meanwhile, per chunk. internal/acptest's BenchmarkScriptedAgentFlood*
// compare the wall time of the same turn direct and through the binary.
func BenchmarkACPAgentFlood(b *testing.B) {
	const chunks = 5000
	tl := findACPTools(b)
	scenario := filepath.Join(b.TempDir(), "flood.json")
	if err := os.WriteFile(scenario, fmt.Appendf(nil, `{"turns": [{"repeat": true, "actions": [{"flood": {"count": %d, "text": "x"}}]}]}`, chunks), 0o644); err != nil {
		b.Fatal(err)
	}
	agent := acpagent.NewAgent(acpagent.Agent{Name: "flood", Command: tl.node, Args: []string{tl.agent, scenario}, From: "bench"}, acpagent.Config{}, nil)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	cfg := handlers.Config{
		Backends: []backends.Backend{agent}, DefaultBackend: "flood", Framing: rpc.FramingNDJSON,
		ShutdownTimeout: guard, Log: slog.New(slog.DiscardHandler),
		Dialect: acp.New(acp.Info{Name: "tether"}, slog.New(slog.DiscardHandler)),
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
	send := func(s string) {
		if _, err := io.WriteString(inW, s+"\n"); err != nil {
			b.Fatal(err)
		}
	}
	// until reads lines up to the answer to id, and counts the bytes of
	// the chunks' texts: chunks the client has not read yet are merged
	// (protocol.md), so the texts, not the notifications, add up to the
	// agent's 5000 one-byte chunks. notes counts the notifications.
	notes := 0
	until := func(id int) int {
		want := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,`, id)
		n := 0
		for {
			line, err := out.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if bytes.Contains(line, []byte(`"agent_message_chunk"`)) {
				_, text, ok := bytes.Cut(line, []byte(`"text":"`))
				if !ok {
					b.Fatalf("a chunk without text: %s", line)
				}
				text, _, _ = bytes.Cut(text, []byte(`"`))
				n += len(text)
				notes++
			}
			if bytes.HasPrefix(line, want) {
				return n
			}
		}
	}
	send(`{"jsonrpc":"2.0","id":0,"method":"session/new","params":{"cwd":"/","mcpServers":[]}}`)
	line, err := out.ReadSlice('\n')
	if err != nil {
		b.Fatal(err)
	}
	// A copy: line is out's buffer, which the next reads overwrite.
	sid := string(bytes.SplitN(bytes.SplitN(line, []byte(`"sessionId":"`), 2)[1], []byte(`"`), 2)[0])
	prompt := func(id int) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"session/prompt","params":{"sessionId":%q,"prompt":[{"type":"text","text":"flood"}]}}`, id, sid)
	}
	send(prompt(1)) // starts the agent
	if n := until(1); n != chunks {
		b.Fatalf("%d bytes of text, want %d", n, chunks)
	}

	notes = 0
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu := time.Duration(cpuTime(b))
	start := time.Now()
	id := 1
	for b.Loop() {
		id++
		send(prompt(id))
		if n := until(id); n != chunks {
			b.Fatalf("%d bytes of text, want %d", n, chunks)
		}
	}
	runtime.ReadMemStats(&after)
	turns := float64(id - 1)
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/turns, "turn-ms")
	b.ReportMetric(float64((time.Duration(cpuTime(b))-cpu).Microseconds())/1000/turns, "tether-cpu-ms")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/(turns*chunks), "allocs/chunk")
	b.ReportMetric(float64(notes)/(turns*chunks), "notifications/chunk")
}
