package acp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

// runsBackend streams runs of text: each run is thinking or answer text,
// one piece at a time. With step set, it waits for the test before each
// piece after the first; it closes emitted once it has sent them all.
type runsBackend struct {
	runs    []textRun
	step    chan struct{}
	emitted chan struct{}
}

type textRun struct {
	thinking bool
	pieces   []string
}

func (b *runsBackend) Name() string              { return "runs" }
func (b *runsBackend) Available() (bool, string) { return true, "test backend" }
func (b *runsBackend) Info() backends.Info       { return backends.Info{} }
func (b *runsBackend) Open(context.Context, backends.Options) (backends.Conn, error) {
	return b, nil
}
func (b *runsBackend) Close(context.Context) error { return nil }

func (b *runsBackend) Query(ctx context.Context, _ backends.Turn, sink backends.Sink) (backends.Result, error) {
	first := true
	for _, run := range b.runs {
		for _, piece := range run.pieces {
			if !first && b.step != nil {
				select {
				case <-b.step:
				case <-ctx.Done():
					return backends.Result{StopReason: backends.StopCancelled}, nil
				}
			}
			first = false
			if run.thinking {
				sink.Thinking(piece)
			} else {
				sink.Token(piece)
			}
		}
	}
	close(b.emitted)
	return backends.Result{StopReason: backends.StopEndTurn}, nil
}

// pieces are n pieces of text that need escaping here and there.
func pieces(prefix string, n int) []string {
	words := []string{" the", " \"quoted\"", "\n", " naïve", " 🙂", " \u2028", " tab\t", " back\\slash"}
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + words[i%len(words)] + fmt.Sprint(i)
	}
	return out
}

// textOf is the text of a chunk.
func textOf(t testing.TB, m message) string {
	content := m.update(t).Update["content"].(map[string]any)
	require.Equal(t, "text", content["type"])
	return content["text"].(string)
}

func TestKeepingUpClientGetsOneChunkPerPiece(t *testing.T) {
	b := &runsBackend{
		runs:    []textRun{{thinking: true, pieces: pieces("t", 5)}, {pieces: pieces("m", 10)}},
		step:    make(chan struct{}),
		emitted: make(chan struct{}),
	}
	c := start(t, withBackends(b.Name(), b))
	c.call("initialize", map[string]any{"protocolVersion": 1}, nil)
	sid := c.newSession(t.TempDir())
	id := c.Request("session/prompt", promptText(sid, "go"))
	i := 0
	for _, run := range b.runs {
		kind := map[bool]string{true: "agent_thought_chunk", false: "agent_message_chunk"}[run.thinking]
		for _, want := range run.pieces {
			if i > 0 {
				b.step <- struct{}{} // the client has read the piece before
			}
			i++
			m := c.waitMethod("session/update")
			for m.kind(t) != kind {
				m = c.waitMethod("session/update")
			}
			assert.Equal(t, want, textOf(t, m), "piece %d comes alone, as it was sent", i)
		}
	}
	before, resp := c.waitResponse(id)
	require.Nil(t, resp.Error)
	n := 0
	for _, m := range updatesOf(t, before, sid) {
		if strings.HasSuffix(m.kind(t), "_chunk") {
			n++
		}
	}
	assert.Equal(t, 15, n, "one chunk per piece")
}

func TestStalledClientGetsChunksMergedExactly(t *testing.T) {
	b := &runsBackend{
		runs: []textRun{
			{thinking: true, pieces: pieces("a", 100)},
			{pieces: pieces("b", 150)},
			{thinking: true, pieces: pieces("c", 50)},
			{pieces: pieces("d", 100)},
		},
		emitted: make(chan struct{}),
	}
	c := start(t, withBackends(b.Name(), b))
	c.call("initialize", map[string]any{"protocolVersion": 1}, nil)
	sid := c.newSession(t.TempDir())
	c.pause()
	id := c.Request("session/prompt", promptText(sid, "go"))
	// Every piece is sent while the client reads nothing: unmerged, they
	// would still fit in what Tether holds back for a stalled client
	// (about 64 KiB), so that is not what merges them.
	select {
	case <-b.emitted:
	case <-time.After(guard):
		t.Fatal("the backend was held back before it had sent 400 pieces")
	}
	c.resume()
	before, resp := c.waitResponse(id)
	require.Nil(t, resp.Error)

	// Runs of chunks of one kind, as the client saw them.
	type run struct {
		kind  string
		text  strings.Builder
		notes int
	}
	var runs []*run
	for _, m := range updatesOf(t, before, sid) {
		k := m.kind(t)
		if !strings.HasSuffix(k, "_chunk") {
			continue
		}
		if len(runs) == 0 || runs[len(runs)-1].kind != k {
			runs = append(runs, &run{kind: k})
		}
		r := runs[len(runs)-1]
		r.text.WriteString(textOf(t, m))
		r.notes++
	}
	require.Len(t, runs, len(b.runs), "a thought run is never merged across a message run")
	total := 0
	for i, want := range b.runs {
		kind := map[bool]string{true: "agent_thought_chunk", false: "agent_message_chunk"}[want.thinking]
		assert.Equal(t, kind, runs[i].kind)
		assert.Equal(t, strings.Join(want.pieces, ""), runs[i].text.String(), "run %d concatenates exactly", i)
		total += runs[i].notes
	}
	t.Logf("400 pieces in %d chunks", total)
	// The write in progress when the client paused, the one that then
	// waited, and everything that waited meanwhile, merged run by run.
	assert.LessOrEqual(t, total, 2+len(b.runs), "pieces that waited went out merged")
}
