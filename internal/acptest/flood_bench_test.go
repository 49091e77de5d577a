//go:build linux

package acptest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/testenv"
)

// BenchmarkScriptedAgentFloodDirect is the baseline for issue 13's overhead
// benchmark: drive.mjs straight against agent.mjs's flood scenario, one
// turn of 5000 agent_message_chunks. turn-ms is the time from drive.mjs
// writing session/prompt to reading its answer, by drive.mjs's clock; it
// leaves out the two Node starts each iteration also pays. Through Tether,
// the same steps run with Tether's `acp` command in place of agent.mjs.
func BenchmarkScriptedAgentFloodDirect(b *testing.B) {
	tl := findTools(b)
	testenv.Need(b, tl.node22)
	steps := map[string]any{"steps": []map[string]any{
		{"op": "initialize"},
		{"op": "new_session"},
		{"op": "prompt", "prompt": "flood", "expectChunks": 5000},
	}}
	var turnMs float64
	for b.Loop() {
		evs, code := drive(b, tl, nil, b.TempDir(), steps, tl.node22, tl.agent, "flood")
		require.Equal(b, 0, code)
		turnMs += promptMillis(b, evs)
	}
	b.ReportMetric(turnMs/float64(b.N), "turn-ms")
	b.ReportMetric(5000/(turnMs/float64(b.N))*1000, "chunks/s")
}

// promptMillis is the time between drive.mjs sending the first
// session/prompt and reading its response, from the events' t fields.
func promptMillis(tb testing.TB, evs []event) float64 {
	tb.Helper()
	var sent, answered float64
	var id json.RawMessage
	for _, ev := range evs {
		switch {
		case ev.Event == "send" && ev.Method == "session/prompt" && id == nil:
			sent, id = ev.T, ev.ID
		case ev.Event == "response" && id != nil && string(ev.ID) == string(id):
			answered = ev.T
		}
	}
	require.NotZero(tb, answered, "no answer to session/prompt")
	return answered - sent
}
