//go:build linux

package acptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/testenv"
)

var (
	tetherOnce sync.Once
	tetherBin  string
	tetherErr  error
)

// TestMain removes the binary tether built, once every test and
// benchmark that shares it has run.
func TestMain(m *testing.M) {
	code := m.Run()
	if tetherBin != "" {
		os.RemoveAll(filepath.Dir(tetherBin))
	}
	os.Exit(code)
}

// tether builds Tether once per test binary, into a directory TestMain
// removes.
func tether(tb testing.TB) string {
	tb.Helper()
	tetherOnce.Do(func() {
		dir, err := os.MkdirTemp("", "acptest-tether-")
		if err != nil {
			tetherErr = err
			return
		}
		tetherBin = filepath.Join(dir, "tether")
		cmd := exec.Command("go", "build", "-o", tetherBin, ".")
		cmd.Dir = testenv.ModuleRoot(tb)
		if out, err := cmd.CombinedOutput(); err != nil {
			tetherErr = &buildError{out: string(out), err: err}
		}
	})
	require.NoError(tb, tetherErr)
	return tetherBin
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "building tether: " + e.err.Error() + "\n" + e.out }

// BenchmarkScriptedAgentFloodThroughTether is BenchmarkScriptedAgentFloodDirect
// with Tether in between: drive.mjs speaks ACP to `tether acp`, whose
// backend is the scripted agent (agent.mjs's flood scenario) as an ACP
// agent. The same 5000-chunk turn crosses two ACP hops and Tether's
// session machinery; turn-ms against the direct benchmark's is the
// overhead Tether adds. Tether's and the agent's starts are outside
// turn-ms, as the Node starts are in the direct one.
func BenchmarkScriptedAgentFloodThroughTether(b *testing.B) {
	tl := findTools(b)
	testenv.Need(b, tl.node22)
	bin := tether(b)
	steps := map[string]any{"steps": []map[string]any{
		{"op": "initialize"},
		{"op": "new_session"},
		// Tether merges chunks the client has not read yet (protocol.md),
		// so what must arrive is the text, whole, not 5000 notifications.
		{"op": "prompt", "prompt": "flood", "expectText": strings.Repeat("x", 5000)},
	}}
	var turnMs float64
	for b.Loop() {
		evs, code := drive(b, tl, nil, b.TempDir(), steps, bin, "acp",
			"--agent", "flood="+tl.node22+" "+tl.agent+" flood", "--backend", "flood", "--log-level", "warn")
		require.Equal(b, 0, code)
		turnMs += promptMillis(b, evs)
	}
	b.ReportMetric(turnMs/float64(b.N), "turn-ms")
	b.ReportMetric(5000/(turnMs/float64(b.N))*1000, "chunks/s")
}
