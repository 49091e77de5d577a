//go:build unix

package acpagent

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

// BenchmarkFloodTurn runs 5000-chunk turns of the scripted agent through
// the backend into a sink that keeps nothing: what reading, decoding and
// routing an agent's updates costs Tether. The agent runs all along;
// tether-cpu-ms is the CPU time this process spent per turn (the agent's
// is not counted), turn-ms the wall time.
func BenchmarkFloodTurn(b *testing.B) {
	scenario := filepath.Join(b.TempDir(), "flood.json")
	require.NoError(b, os.WriteFile(scenario, []byte(`{"turns": [{"repeat": true, "actions": [{"flood": {"count": 5000, "text": "x"}}]}]}`), 0o644))
	node, script := scriptedCommand(b)
	be := NewAgent(Agent{Name: "flood", Command: node, Args: []string{script, scenario}, From: "bench"}, Config{}, nil)
	ctx := b.Context()
	c, err := be.Open(ctx, backends.Options{Cwd: b.TempDir()})
	require.NoError(b, err)
	b.Cleanup(func() { _ = c.Close(ctx) })
	turn := backends.Turn{Prompt: backends.TextPrompt("flood")}
	var cpu time.Duration
	start := time.Now()
	for b.Loop() {
		before := cpuTime()
		sink := &countSink{}
		_, err := c.Query(ctx, turn, sink)
		require.NoError(b, err)
		require.Equal(b, 5000, sink.tokens)
		cpu += cpuTime() - before
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "turn-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "tether-cpu-ms")
}

// cpuTime is the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countSink counts tokens and drops everything.
type countSink struct {
	recSink
	tokens int
}

func (s *countSink) Token(string) { s.tokens++ }
