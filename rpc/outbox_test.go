package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gatedPeer is the reading end of a Conn's output that reads only when the
// test says: each Write of the Conn blocks until the test takes its bytes
// (next), so the test decides when the peer keeps up and when it stalls.
type gatedPeer struct {
	began  chan struct{} // a token when a Write has begun and waits
	writes chan []byte
	err    error // returned by the Writes after the test sets it
}

func newGatedPeer() *gatedPeer {
	return &gatedPeer{began: make(chan struct{}, 1), writes: make(chan []byte)}
}

func (g *gatedPeer) Write(p []byte) (int, error) {
	select {
	case g.began <- struct{}{}:
	default:
	}
	g.writes <- bytes.Clone(p)
	if g.err != nil {
		return 0, g.err
	}
	return len(p), nil
}

// next lets one Write through and returns the messages it carried.
func (g *gatedPeer) next(t *testing.T) []map[string]json.RawMessage {
	t.Helper()
	var b []byte
	select {
	case b = <-g.writes:
	case <-time.After(guard):
		t.Fatal("no write from the Conn")
	}
	var msgs []map[string]json.RawMessage
	for line := range bytes.Lines(b) {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(line, &m), "%q", line)
		msgs = append(msgs, m)
	}
	return msgs
}

// gatedConn is a started Conn writing NDJSON to a gatedPeer; cleanup lets
// every write through and closes it.
func gatedConn(t *testing.T, register func(*Conn)) (*Conn, *gatedPeer, *io.PipeWriter) {
	inR, inW := io.Pipe()
	g := newGatedPeer()
	c := NewConn(NewStream(inR, g, inR, FramingNDJSON, 0, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler), Options{})
	if register != nil {
		register(c)
	}
	c.Start()
	t.Cleanup(func() {
		inW.Close()
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for {
				select {
				case <-g.writes:
				case <-c.w.done:
					return
				}
			}
		}()
		c.Close()
		<-drained
	})
	return c, g, inW
}

// texts describes messages as method:text, or method alone.
func texts(t *testing.T, msgs []map[string]json.RawMessage) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		var method string
		json.Unmarshal(m["method"], &method)
		var p struct {
			Text *string `json:"text"`
		}
		json.Unmarshal(m["params"], &p)
		switch {
		case method == "":
			out = append(out, "reply "+string(m["id"]))
		case p.Text != nil:
			out = append(out, method+":"+*p.Text)
		default:
			out = append(out, method)
		}
	}
	return out
}

func textKinds(query string) (token, thinking *TextKind) {
	kind := func(method string) *TextKind {
		return NewTextKind([]byte(`{"jsonrpc":"2.0","method":"`+method+`","params":{"q":`+query+`,"text":"`), []byte(`"}}`))
	}
	return kind("token"), kind("thinking")
}

func TestOutboxKeepingUpPeerGetsEveryTextAtOnce(t *testing.T) {
	c, g, _ := gatedConn(t, nil)
	o := c.NewOutbox()
	token, _ := textKinds("1")
	for _, text := range []string{"Hello", ",", " wörld", "\n", "\"quoted\""} {
		require.NoError(t, o.Text(token, text))
		assert.Equal(t, []string{"token:" + text}, texts(t, g.next(t)),
			"a peer that has read everything gets each text as it comes, alone")
	}
}

func TestOutboxStalledPeerGetsTextsMergedInOrder(t *testing.T) {
	c, g, _ := gatedConn(t, nil)
	o := c.NewOutbox()
	token, thinking := textKinds("1")
	require.NoError(t, o.Text(token, "a"))
	<-g.began // the writer is in a Write the peer does not read: stalled
	for _, s := range []struct {
		kind *TextKind
		text string
	}{{token, "b"}, {token, "\u2028c\\"}, {thinking, "x"}, {thinking, "y"}, {token, "d"}} {
		require.NoError(t, o.Text(s.kind, s.text))
	}
	require.NoError(t, c.Notify("status", map[string]string{"s": "busy"}))
	require.NoError(t, o.Text(token, "e"))
	require.NoError(t, o.Text(token, "f"))

	assert.Equal(t, []string{"token:a"}, texts(t, g.next(t)))
	assert.Equal(t, []string{
		"token:b\u2028c\\", // merged while the peer did not read, exactly
		"thinking:xy",      // never merged across another kind
		"token:d",
		"status", // a message on the connection is a boundary
		"token:ef",
	}, texts(t, g.next(t)), "what waited goes out in one write, merged by kind, in order")
}

func TestReplyFollowsItsNotifications(t *testing.T) {
	var o *Outbox
	token, _ := textKinds("7")
	c, g, in := gatedConn(t, func(c *Conn) {
		c.Register("ask", func(_ context.Context, r *Request) {
			o.Text(token, "one")
			o.Text(token, " two")
			r.Reply("done", nil)
		})
	})
	o = c.NewOutbox()
	require.NoError(t, c.Notify("first", nil))
	<-g.began // stalled
	_, err := io.WriteString(in, `{"jsonrpc":"2.0","id":7,"method":"ask"}`+"\n")
	require.NoError(t, err)
	var got []string
	for len(got) == 0 || got[len(got)-1] != "reply 7" {
		got = append(got, texts(t, g.next(t))...)
	}
	assert.Equal(t, []string{"first", "token:one two", "reply 7"}, got)
}

func TestOutboxHoldsTheSenderBackWhileThePeerStalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, g, _ := gatedConn(t, nil)
		o := c.NewOutbox()
		token, _ := textKinds("1")
		piece := strings.Repeat("x", 1<<10)
		const pieces = 200 // 200 KiB, above the outbox's limit
		var sent atomic.Int64
		done := make(chan error, 1)
		go func() {
			for range pieces {
				if err := o.Text(token, piece); err != nil {
					done <- err
					return
				}
				sent.Add(1)
			}
			done <- nil
		}()
		synctest.Wait() // the first write waits for the peer; the sender for room
		n := sent.Load()
		assert.Less(t, n, int64(pieces), "the sender waits while the peer does not read")
		// At most the outbox's limit waits, and as much is in the write
		// the peer does not read.
		assert.LessOrEqual(t, n, int64(2*(outboxLimit>>10)+2), "what waits is bounded")

		var all strings.Builder
		for {
			for _, m := range g.next(t) {
				var p struct{ Text string }
				require.NoError(t, json.Unmarshal(m["params"], &p))
				all.WriteString(p.Text)
			}
			if all.Len() == pieces*len(piece) {
				break
			}
		}
		require.NoError(t, <-done)
		assert.Equal(t, strings.Repeat(piece, pieces), all.String(), "nothing lost or reordered")
	})
}

func TestOutboxFailsOnceAWriteHasFailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, g, _ := gatedConn(t, nil)
		o := c.NewOutbox()
		token, _ := textKinds("1")
		piece := strings.Repeat("x", 1<<10)
		done := make(chan error, 1)
		go func() {
			for {
				if err := o.Text(token, piece); err != nil {
					done <- err
					return
				}
			}
		}()
		synctest.Wait() // the sender waits for room
		g.err = errors.New("broken pipe")
		<-g.writes
		<-c.WriteFailed()
		assert.ErrorIs(t, <-done, errWriteFailed, "a sender waiting for room is let go")
		assert.Error(t, c.Notify("late", nil))
	})
}

func TestCloseWritesWhatIsQueued(t *testing.T) {
	inR, inW := io.Pipe()
	var out bytes.Buffer
	c := NewConn(NewStream(inR, &out, inR, FramingLSP, 0, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler), Options{})
	c.Start()
	o := c.NewOutbox()
	token, _ := textKinds("1")
	for _, s := range []string{"a", "b", "c"} {
		require.NoError(t, o.Text(token, s))
	}
	require.NoError(t, c.Notify("last", nil))
	inW.Close()
	require.NoError(t, c.Close())
	assert.Contains(t, out.String(), `"method":"last"}`, "everything sent before Close is written")
	assert.True(t, strings.HasPrefix(out.String(), "Content-Length: "))
	assert.ErrorIs(t, o.Text(token, "after"), ErrClosed)
	assert.ErrorIs(t, c.Notify("after", nil), ErrClosed)
}

func TestCloseGivesUpOnAWriteThatNeverReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		inR, inW := io.Pipe()
		g := newGatedPeer()
		c := NewConn(NewStream(inR, g, inR, FramingNDJSON, 0, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler), Options{})
		c.Start()
		require.NoError(t, c.Notify("stuck", nil))
		<-g.began
		inW.Close()
		start := time.Now()
		c.Close()
		assert.Equal(t, stuckWriteWait, time.Since(start), "Close waits a bounded time for a stuck write")
		<-g.writes // the write returns at last, and the writer ends
		<-c.w.done
	})
}

// streamedText is a Streamer result: {"text":"..."} of many pieces.
type streamedText []string

func (s streamedText) encode() []byte {
	b := []byte(`{"text":"`)
	for _, p := range s {
		b = appendContents(b, p)
	}
	return append(b, `"}`...)
}

func appendContents(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q[1:len(q)-1]...)
}

func (s streamedText) JSONLen() int { return len(s.encode()) }

func (s streamedText) StreamJSON(w io.Writer) error {
	enc := s.encode()
	for len(enc) > 0 {
		n := min(len(enc), 1000)
		if _, err := w.Write(enc[:n]); err != nil {
			return err
		}
		enc = enc[n:]
	}
	return nil
}

func TestStreamedResultIsFramedWhole(t *testing.T) {
	for _, framing := range []Framing{FramingLSP, FramingNDJSON} {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		c := NewConn(NewStream(inR, outW, inR, framing, 0, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler), Options{})
		pieces := streamedText{strings.Repeat("long ", 100_000), "\"quoted\"\n", strings.Repeat("é", 70_000)}
		c.Register("long", func(_ context.Context, r *Request) { r.Reply(pieces, nil) })
		c.Start()
		require.NoError(t, c.Notify("before", nil))
		req := `{"jsonrpc":"2.0","id":1,"method":"long"}`
		if framing == FramingLSP {
			req = "Content-Length: 40\r\n\r\n" + req
		}
		go io.WriteString(inW, req+"\n")

		s := NewStream(outR, io.Discard, nil, framing, 1<<30, slog.New(slog.DiscardHandler))
		first, err := s.Read()
		require.NoError(t, err)
		assert.JSONEq(t, `{"jsonrpc":"2.0","method":"before"}`, string(first))
		body, err := s.Read()
		require.NoError(t, err)
		var reply struct {
			Result struct{ Text string }
		}
		require.NoError(t, json.Unmarshal(body, &reply), "%.200s", body)
		assert.Equal(t, strings.Join(pieces, ""), reply.Result.Text)
		inW.Close()
		c.Close()
	}
}

func TestSendersSharingConnSendAllGetRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, g, _ := gatedConn(t, nil)
		body := []byte(`{"jsonrpc":"2.0","method":"note","params":{"x":"` + strings.Repeat("x", 1<<10) + `"}}`)
		const senders, each = 3, 100 // 300 KiB through Send's one outbox
		done := make(chan error, senders)
		for range senders {
			go func() {
				for range each {
					if err := c.Send(body); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
		}
		synctest.Wait() // every sender waits for room while the peer stalls
		got := 0
		for got < senders*each {
			got += len(g.next(t))
		}
		for range senders {
			require.NoError(t, <-done, "every waiting sender is let go, not only one")
		}
	})
}
