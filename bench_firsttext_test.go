//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tether-dev/tether/backends/claude/claudetest"
	"github.com/tether-dev/tether/store"
)

// BenchmarkRealCLIFirstText measures how long a new claude session takes
// to show its first text, with the real CLI (testdeps' pinned version)
// against claudetest's fake Messages API on 127.0.0.1, which answers at
// once. Each op measures four ways:
//
//   - bare-ms: the CLI alone, from its spawn to its first text delta (the
//     initialize request and the prompt written at once);
//   - cold-ms: through a running Tether, from a session/query on a new
//     session to its first session/token: the CLI starts then;
//   - opened-ms: the same after session/open has started the session's CLI
//     ahead (as an editor does when its chat panel opens);
//   - spare-ms: the same on a Tether run with --claude-spare 1, once the
//     spare CLI for the cwd and options of the session before is ready.
//
// It is hermetic like BenchmarkRealCLISecondTurn and skipped without the
// CLI; $TETHER_BENCH_BINARY runs another build.
func BenchmarkRealCLIFirstText(b *testing.B) {
	cli := claudetest.RealCLI(b)
	api := claudetest.NewFakeAPI(b, func(req claudetest.Request) []claudetest.Event {
		return claudetest.TextReply(req.Model, "First", " answer")
	})
	// A store of its own for this benchmark's Tethers, where each run's
	// sessions are new ones: the store keeps those of the runs before.
	env := append(os.Environ(), claudetest.Env(b, api.URL())...)
	env = append(env, store.EnvStateDir+"="+b.TempDir())
	bin := os.Getenv(benchBinaryEnv)
	if bin == "" {
		bin = tetherBinary(b)
	}
	var bare, cold, opened, spare time.Duration
	run := 0
	for b.Loop() {
		run++
		bare += bareFirstText(b, cli, env)
		c, o := tetherFirstText(b, bin, cli, env, run)
		cold += c
		opened += o
		spare += spareFirstText(b, bin, cli, env, run)
	}
	n := float64(b.N)
	b.ReportMetric(bare.Seconds()*1000/n, "bare-ms")
	b.ReportMetric(cold.Seconds()*1000/n, "cold-ms")
	b.ReportMetric(opened.Seconds()*1000/n, "opened-ms")
	b.ReportMetric(spare.Seconds()*1000/n, "spare-ms")
}

// bareFirstText spawns the CLI and times its first text delta.
func bareFirstText(b *testing.B, cli string, env []string) time.Duration {
	start := time.Now()
	in, out, _, stop := startProc(b, env, cli, cliArgs...)
	defer stop()
	writeLine(b, in, `{"type":"control_request","request_id":"init","request":{"subtype":"initialize","hooks":null}}`)
	writeLine(b, in, `{"type":"user","session_id":"","message":{"role":"user","content":"first question"},"parent_tool_use_id":null}`)
	readUntil(b, out, `"text_delta"`, "")
	d := time.Since(start)
	readUntil(b, out, `"type":"result"`, "")
	return d
}

// firstTextQuery is a session/query in cwd, on the fake API's model.
func firstTextQuery(id int, session, cwd string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"session/query","params":{"sessionId":%q,"prompt":"first question","cwd":%q,"model":%q}}`,
		id, session, cwd, claudetest.Model)
}

// timeFirstToken writes a query and times its first session/token, then
// reads on to its answer, which must not be an error.
func timeFirstToken(b *testing.B, in io.Writer, out *bufio.Reader, id int, session, cwd string) time.Duration {
	b.Helper()
	start := time.Now()
	writeLine(b, in, firstTextQuery(id, session, cwd))
	answer := []byte(fmt.Sprintf(`"id":%d,`, id))
	var first time.Duration
	for {
		line, err := out.ReadBytes('\n')
		if err != nil {
			b.Fatalf("waiting for the answer to query %d: %v", id, err)
		}
		if first == 0 && bytes.Contains(line, []byte(`"method":"session/token"`)) {
			first = time.Since(start)
		}
		if bytes.Contains(line, answer) && !bytes.Contains(line, []byte(`"method"`)) {
			if !bytes.Contains(line, []byte(`"result"`)) || first == 0 {
				b.Fatalf("query %d answered without text: %s", id, line)
			}
			return first
		}
	}
}

// tetherFirstText times a cold session's first text, then an opened one's.
func tetherFirstText(b *testing.B, bin, cli string, env []string, run int) (cold, opened time.Duration) {
	in, out, _, stop := startProc(b, env, bin, "--claude-path", cli, "--backend", "claude", "--framing", "ndjson")
	defer stop()
	cwd := b.TempDir()
	cold = timeFirstToken(b, in, out, 1, fmt.Sprint("cold-", run), cwd)
	writeLine(b, in, fmt.Sprintf(`{"jsonrpc":"2.0","id":2,"method":"session/open","params":{"sessionId":"opened-%d","cwd":%q,"model":%q}}`, run, cwd, claudetest.Model))
	readUntil(b, out, `"id":2,"result"`, "")
	opened = timeFirstToken(b, in, out, 3, fmt.Sprint("opened-", run), cwd)
	return cold, opened
}

// spareFirstText runs Tether with a spare CLI, opens a first session so
// that a spare starts for its options, waits until Tether logs the spare
// ready, and times a new session's first text.
func spareFirstText(b *testing.B, bin, cli string, env []string, run int) time.Duration {
	logR, logW, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	ready := make(chan struct{})
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		defer logR.Close()
		sc := bufio.NewScanner(logR)
		said := false
		for sc.Scan() {
			if !said && strings.Contains(sc.Text(), "spare claude process ready") {
				said = true
				close(ready)
			}
		}
	}()
	in, out, _, stop := startProcStderr(b, env, logW, bin, "--claude-path", cli, "--backend", "claude", "--framing", "ndjson",
		"--claude-spare", "1", "--log-level", "info")
	logW.Close() // Tether holds its own copy
	defer func() {
		stop()
		<-logDone
	}()
	cwd := b.TempDir()
	timeFirstToken(b, in, out, 1, fmt.Sprint("first-", run), cwd)
	select {
	case <-ready:
	case <-time.After(guard):
		b.Fatal("Tether did not log a spare CLI ready")
	}
	return timeFirstToken(b, in, out, 2, fmt.Sprint("second-", run), cwd)
}
