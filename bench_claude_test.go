//go:build linux

// Tether's CPU time is read from /proc.

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/tether-dev/tether/backends/claude/claudetest"
)

// benchBinaryEnv names a Tether binary for BenchmarkRealCLISecondTurn to
// run instead of the one built from this tree, to compare two builds.
const benchBinaryEnv = "TETHER_BENCH_BINARY"

// secondTurnDeltas is how many text deltas the fake API streams in the
// second turn of BenchmarkRealCLISecondTurn.
const secondTurnDeltas = 5000

// BenchmarkRealCLISecondTurn measures what Tether adds to the real claude
// CLI (testdeps' pinned version) against claudetest's fake Messages API on
// 127.0.0.1: in one session, a first turn, then a second one that streams
// 5,000 text deltas, timed from the prompt to its result. Each op runs it
// twice, with the CLI alone (driven over stream-json as Tether drives it)
// and through the Tether binary (session/query over NDJSON, the client
// reading as fast as it can), and reports both times, their ratio, and
// Tether's own CPU time per chunk (its threads' time on CPU during the
// second turn over the deltas) and peak RSS. It is hermetic (HOME in a temp
// dir, a dummy key, nonessential traffic off) and skipped without the CLI
// (npm ci --prefix testdeps). $TETHER_BENCH_BINARY runs another build.
func BenchmarkRealCLISecondTurn(b *testing.B) {
	cli := claudetest.RealCLI(b)
	chunks := make([]string, secondTurnDeltas)
	for i := range chunks {
		chunks[i] = []string{" the", " answer", " is", "\n", " \"quoted\"", " naïve", " 42", ","}[i%8]
	}
	api := claudetest.NewFakeAPI(b, func(req claudetest.Request) []claudetest.Event {
		if strings.Contains(req.LastUserText(), "second question") {
			return claudetest.TextReply(req.Model, chunks...)
		}
		return claudetest.TextReply(req.Model, "First", " answer")
	})
	env := append(os.Environ(), claudetest.Env(b, api.URL())...)
	bin := os.Getenv(benchBinaryEnv)
	if bin == "" {
		bin = tetherBinary(b)
	}

	var bare, tether, cpu time.Duration
	var peak int64
	for b.Loop() {
		bare += bareSecondTurn(b, cli, env)
		t, c, rss := tetherSecondTurn(b, bin, cli, env)
		tether += t
		cpu += c
		peak = max(peak, rss)
	}
	n := float64(b.N)
	b.ReportMetric(bare.Seconds()*1000/n, "bare-ms")
	b.ReportMetric(tether.Seconds()*1000/n, "tether-ms")
	b.ReportMetric(float64(tether)/float64(bare), "tether/bare")
	b.ReportMetric(float64(cpu.Nanoseconds())/1000/n/secondTurnDeltas, "tether-cpu-µs/chunk")
	b.ReportMetric(float64(peak)/(1<<20), "tether-peak-rss-MiB")
}

// cliArgs are the CLI's flags as Tether passes them (backends/claude).
var cliArgs = []string{
	"--output-format", "stream-json", "--verbose", "--input-format", "stream-json",
	"--include-partial-messages", "--permission-prompt-tool", "stdio", "--model=" + claudetest.Model,
}

// startProc starts a process in its own group with stdin and stdout piped;
// stop closes stdin, waits for it, and kills what is left of its group.
func startProc(b *testing.B, env []string, path string, args ...string) (in io.WriteCloser, out *bufio.Reader, cmd *exec.Cmd, stop func()) {
	b.Helper()
	return startProcStderr(b, env, io.Discard, path, args...)
}

// startProcStderr is startProc with the process's stderr going to stderr.
func startProcStderr(b *testing.B, env []string, stderr io.Writer, path string, args ...string) (in io.WriteCloser, out *bufio.Reader, cmd *exec.Cmd, stop func()) {
	b.Helper()
	cmd = exec.Command(path, args...)
	cmd.Env = env
	cmd.Dir = b.TempDir()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return in, bufio.NewReaderSize(stdout, 1<<20), cmd, func() {
		in.Close()
		io.Copy(io.Discard, stdout)
		done := make(chan struct{})
		go func() {
			cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(guard):
			b.Errorf("%s did not exit after its input ended; killing it", path)
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// readUntil reads lines until one contains marker; it returns how many
// lines contained count. A JSON-RPC error on the way fails the benchmark
// rather than leaving it waiting for a marker that never comes.
func readUntil(b *testing.B, r *bufio.Reader, marker, count string) int {
	b.Helper()
	n := 0
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			continue // a long line: its end comes next
		}
		if err != nil {
			b.Fatalf("waiting for %s: %v", marker, err)
		}
		if bytes.Contains(line, []byte(`"error":{"code"`)) {
			b.Fatalf("waiting for %s, Tether answered an error: %s", marker, line)
		}
		if count != "" && bytes.Contains(line, []byte(count)) {
			n++
		}
		if bytes.Contains(line, []byte(marker)) {
			return n
		}
	}
}

func writeLine(b *testing.B, w io.Writer, line string) {
	b.Helper()
	if _, err := io.WriteString(w, line+"\n"); err != nil {
		b.Fatal(err)
	}
}

// bareSecondTurn drives the CLI alone: initialize, a first turn, and the
// timed second one.
func bareSecondTurn(b *testing.B, cli string, env []string) time.Duration {
	in, out, _, stop := startProc(b, env, cli, cliArgs...)
	defer stop()
	user := func(text string) string {
		return fmt.Sprintf(`{"type":"user","session_id":"","message":{"role":"user","content":%q},"parent_tool_use_id":null}`, text)
	}
	writeLine(b, in, `{"type":"control_request","request_id":"init","request":{"subtype":"initialize","hooks":null}}`)
	readUntil(b, out, `"type":"control_response"`, "")
	writeLine(b, in, user("first question"))
	readUntil(b, out, `"type":"result"`, "")
	start := time.Now()
	writeLine(b, in, user("second question"))
	deltas := readUntil(b, out, `"type":"result"`, `"text_delta"`)
	d := time.Since(start)
	if deltas != secondTurnDeltas {
		b.Fatalf("the CLI streamed %d deltas, want %d", deltas, secondTurnDeltas)
	}
	return d
}

// tetherSecondTurn drives the same through the Tether binary, and returns
// the second turn's time, Tether's CPU time during it, and its peak RSS.
// secondTurnRuns numbers tetherSecondTurn's runs.
var secondTurnRuns atomic.Int64

func tetherSecondTurn(b *testing.B, bin, cli string, env []string) (time.Duration, time.Duration, int64) {
	in, out, cmd, stop := startProc(b, env, bin, "--claude-path", cli, "--backend", "claude")
	defer stop()
	cwd := b.TempDir()
	// A session id of its own: the store keeps each run's session, with
	// the cwd it ran in, for the rest of the benchmark.
	session := fmt.Sprint("bench-", secondTurnRuns.Add(1))
	query := func(id int, prompt string) string {
		return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"session/query","params":{"sessionId":%q,"prompt":%q,"cwd":%q,"model":%q}}`,
			id, session, prompt, cwd, claudetest.Model)
	}
	writeLine(b, in, query(1, "first question"))
	readUntil(b, out, `"id":1,"result"`, "")
	cpu0 := threadsCPU(b, cmd.Process.Pid)
	start := time.Now()
	writeLine(b, in, query(2, "second question"))
	readUntil(b, out, `"id":2,"result"`, "")
	d := time.Since(start)
	cpu := threadsCPU(b, cmd.Process.Pid) - cpu0
	return d, cpu, procStatusOf(b, strconv.Itoa(cmd.Process.Pid), "VmHWM")
}

// threadsCPU is the time process pid's threads have run on a CPU, in ns
// (the first field of each thread's schedstat), which unlike utime and
// stime is not counted in scheduler ticks.
func threadsCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(tasks) == 0 {
		b.Skipf("no schedstat for %d: %v", pid, err)
	}
	var total time.Duration
	for _, task := range tasks {
		stat, err := os.ReadFile(task)
		if err != nil {
			continue // the thread ended meanwhile
		}
		ns, err := strconv.ParseInt(strings.Fields(string(stat))[0], 10, 64)
		if err != nil {
			b.Fatalf("%s: %v", task, err)
		}
		total += time.Duration(ns)
	}
	return total
}
