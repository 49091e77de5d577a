package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
)

// tokenBackend streams the tokens it is given. With step set, it waits for
// the test before each token after the first; it closes emitted once it has
// sent them all.
type tokenBackend struct {
	tokens  []string
	step    chan struct{}
	emitted chan struct{}
}

func (b *tokenBackend) Name() string              { return "tokens" }
func (b *tokenBackend) Available() (bool, string) { return true, "test backend" }
func (b *tokenBackend) Info() backends.Info       { return backends.Info{} }
func (b *tokenBackend) Open(context.Context, backends.Options) (backends.Conn, error) {
	return b, nil
}
func (b *tokenBackend) Close(context.Context) error { return nil }

func (b *tokenBackend) Query(ctx context.Context, _ backends.Turn, sink backends.Sink) (backends.Result, error) {
	for i, tok := range b.tokens {
		if i > 0 && b.step != nil {
			select {
			case <-b.step:
			case <-ctx.Done():
				return backends.Result{StopReason: backends.StopCancelled}, nil
			}
		}
		sink.Token(tok)
	}
	close(b.emitted)
	return backends.Result{StopReason: backends.StopEndTurn}, nil
}

// someTokens are n tokens with text that needs escaping here and there.
func someTokens(n int) []string {
	words := []string{" the", " \"quoted\"", "\n", " naïve", " 🙂", " \u2028", " tab\t", " back\\slash"}
	out := make([]string, n)
	for i := range out {
		out[i] = words[i%len(words)] + fmt.Sprint(i)
	}
	return out
}

func TestKeepingUpClientGetsOneNotificationPerToken(t *testing.T) {
	forEachFraming(t, func(t *testing.T, framing rpc.Framing) {
		b := &tokenBackend{tokens: someTokens(20), step: make(chan struct{}), emitted: make(chan struct{})}
		c := startTether(t, framing, withBackends(b.Name(), b))
		id := c.Request(protocol.MethodSessionQuery, query("s", "go"))
		for i, want := range b.tokens {
			if i > 0 {
				b.step <- struct{}{} // the client has read the token before
			}
			_, m := c.waitMethod(protocol.MethodToken)
			assert.Equal(t, want, m.param(t, "text"), "token %d comes alone, as it was sent", i)
		}
		notes, resp := c.waitResponse(id)
		require.Nil(t, resp.Error)
		assert.Equal(t, len(b.tokens), count(notes, protocol.MethodToken), "one notification per token")
	})
}

func TestStalledClientGetsTokensMergedExactly(t *testing.T) {
	forEachFraming(t, func(t *testing.T, framing rpc.Framing) {
		b := &tokenBackend{tokens: someTokens(300), emitted: make(chan struct{})}
		c := startTether(t, framing, withBackends(b.Name(), b))
		c.pause()
		id := c.Request(protocol.MethodSessionQuery, query("s", "go"))
		<-b.emitted // every token was sent while the client read nothing
		c.resume()
		notes, resp := c.waitResponse(id)
		require.Nil(t, resp.Error)
		var res protocol.QueryResult
		require.NoError(t, json.Unmarshal(resp.Result, &res))
		want := strings.Join(b.tokens, "")
		assert.Equal(t, want, res.Text)
		assert.Equal(t, want, tokens(t, notes), "merged tokens concatenate exactly to the text")
		// The write that was in progress when the client paused, the
		// write that then waited, and everything that waited meanwhile,
		// merged.
		n := count(notes, protocol.MethodToken)
		t.Logf("%d tokens in %d notifications", len(b.tokens), n)
		assert.LessOrEqual(t, n, 3, "tokens that waited went out merged")
		assert.Equal(t, []string{"session/status", "session/status", "session/token", "session/status"},
			textRuns(t, notes), "and nothing moved")
	})
}

// forEachFraming runs a test over Content-Length and over NDJSON framing.
func forEachFraming(t *testing.T, test func(t *testing.T, framing rpc.Framing)) {
	for _, f := range []rpc.Framing{rpc.FramingLSP, rpc.FramingNDJSON} {
		name := map[rpc.Framing]string{rpc.FramingLSP: "lsp", rpc.FramingNDJSON: "ndjson"}[f]
		t.Run(name, func(t *testing.T) { test(t, f) })
	}
}
