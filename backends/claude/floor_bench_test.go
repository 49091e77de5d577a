//go:build unix

package claude

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// BenchmarkPacedLineFloor is the floor under BenchmarkClaudeStream's paced
// variant: the same fake CLI writing the same recorded turn at the same
// pace (50 µs after each line), read by the least a Go program can do with
// it: a bufio.Reader on the pipe that drops each line. Its CPU time per
// chunk is what waking up for one line costs any Go program on this
// machine (the poller, the scheduler, the read); the paced ClaudeStream's
// figure minus this one is what Tether's own work on a delta costs.
func BenchmarkPacedLineFloor(b *testing.B) {
	dir := b.TempDir()
	path, chunks := writeReplay(b, dir, "pace 50µs\n")
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fakeScriptEnv+"="+path, fakeDirEnv+"="+dir,
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	stdin, err := cmd.StdinPipe()
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
	defer func() {
		stdin.Close() // the fake exits at the end of its stdin
		if err := cmd.Wait(); err != nil {
			b.Error("the fake CLI:", err)
		}
	}()
	out := bufio.NewReaderSize(stdout, 64<<10)
	turn := func() {
		if _, err := stdin.Write([]byte(`{"type":"user","message":{"role":"user","content":"second question"}}` + "\n")); err != nil {
			b.Fatal(err)
		}
		for {
			line, err := out.ReadSlice('\n')
			if err != nil {
				b.Fatal("reading the fake CLI:", err)
			}
			if bytes.HasPrefix(line, []byte(`{"type":"result"`)) {
				return
			}
		}
	}
	turn() // the process's start and first turn are not counted
	cpu0 := cpuTime(b)
	start := time.Now()
	for b.Loop() {
		turn()
	}
	n := float64(b.N * chunks)
	b.ReportMetric(float64(cpuTime(b)-cpu0)/n, "cpu-ns/chunk")
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/n, "ns/chunk")
}
