package rpc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const guard = 10 * time.Second

// peer is the other end of a Conn over pipes, speaking NDJSON.
type peer struct {
	t    *testing.T
	conn *Conn
	w    *io.PipeWriter
	msgs chan map[string]json.RawMessage

	mu       sync.Mutex
	problems []string
}

func newPeer(t *testing.T, opts Options, register func(*Conn)) *peer {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &peer{t: t, w: inW, msgs: make(chan map[string]json.RawMessage, 1024)}
	opts.OnReplyProblem = func(method, problem string) {
		p.mu.Lock()
		p.problems = append(p.problems, method+": "+problem)
		p.mu.Unlock()
	}
	p.conn = NewConn(NewStream(inR, outW, inR, FramingNDJSON, 1<<10, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler), opts)
	if register != nil {
		register(p.conn)
	}
	p.conn.Start()
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(outR)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("Conn wrote a line that is not JSON: %q", sc.Text())
				continue
			}
			p.msgs <- m
		}
	}()
	t.Cleanup(func() {
		p.w.Close()
		p.conn.Close()
		outW.Close()
		<-read
	})
	return p
}

func (p *peer) send(line string) {
	p.t.Helper()
	_, err := io.WriteString(p.w, line+"\n")
	require.NoError(p.t, err)
}

func (p *peer) next() map[string]json.RawMessage {
	p.t.Helper()
	select {
	case m := <-p.msgs:
		return m
	case <-time.After(guard):
		p.t.Fatal("no message from the Conn")
		return nil
	}
}

func (p *peer) problemsSoFar() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.problems...)
}

func echo(c *Conn) {
	c.Register("echo", func(_ context.Context, r *Request) { r.Reply(r.Params, nil) })
}

func TestConnAnswersBadInputAndReadsOn(t *testing.T) {
	p := newPeer(t, Options{}, echo)
	for _, bad := range []string{
		`{oops`,
		`{"jsonrpc":"2.0","id":1,"Method":"echo"}`,
		`{"jsonrpc":"2.0","id":2,"method":"echo","result":1}`,
		`{"jsonrpc":"2.0","id":3,"error":{"code":"x","message":"m"}}`,
		`{"jsonrpc":"2.0","id":18446744073709551616,"method":"echo"}`,
		`{"jsonrpc":"2.0","method":"echo","params":{"big":"` + strings.Repeat("x", 2<<10) + `"}}`,
	} {
		p.send(bad)
		m := p.next()
		require.Contains(t, m, "error", "answer to %.60s", bad)
	}
	p.send(`{"jsonrpc":"2.0","id":7,"method":"echo","params":{"a":1}}`)
	m := p.next()
	assert.JSONEq(t, `{"a":1}`, string(m["result"]), "the good message after the bad ones is answered")
	assert.Equal(t, "7", string(m["id"]))
}

func TestConnUnknownMethodAndNotification(t *testing.T) {
	p := newPeer(t, Options{}, echo)
	p.send(`{"jsonrpc":"2.0","method":"nobody/listens"}`)
	p.send(`{"jsonrpc":"2.0","id":"a","method":"nobody/answers"}`)
	m := p.next()
	assert.Equal(t, `"a"`, string(m["id"]), "the notification got nothing; the request its error")
	assert.Contains(t, string(m["error"]), `"code":-32601`)
}

func TestConnDuplicateIDIsAnsweredWithNullAndTheFirstGoesOn(t *testing.T) {
	release := make(chan struct{})
	p := newPeer(t, Options{}, func(c *Conn) {
		c.Register("slow", func(_ context.Context, r *Request) {
			go func() {
				<-release
				r.Reply("done", nil)
			}()
		})
	})
	p.send(`{"jsonrpc":"2.0","id":"q","method":"slow"}`)
	p.send(`{"jsonrpc":"2.0","id":"q","method":"slow"}`)
	m := p.next()
	assert.Equal(t, "null", string(m["id"]), "the duplicate's error must not land on the first request")
	assert.Contains(t, string(m["error"]), `"code":-32600`)
	close(release)
	m = p.next()
	assert.Equal(t, `"q"`, string(m["id"]))
	assert.Equal(t, `"done"`, string(m["result"]))
}

func TestConnCancelNotificationCancelsTheRequest(t *testing.T) {
	p := newPeer(t, Options{CancelMethod: "$/cancelRequest", CancelParam: "id"}, func(c *Conn) {
		c.Register("wait", func(ctx context.Context, r *Request) {
			context.AfterFunc(ctx, func() { r.Reply(nil, context.Cause(ctx)) })
		})
	})
	p.send(`{"jsonrpc":"2.0","id":5,"method":"wait"}`)
	p.send(`{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":5}}`)
	m := p.next()
	assert.Equal(t, "5", string(m["id"]))
	assert.Contains(t, string(m["error"]), `"code":-32800`)
}

func TestConnPanicIsAnInternalError(t *testing.T) {
	p := newPeer(t, Options{}, func(c *Conn) {
		c.Register("boom", func(context.Context, *Request) { panic("kaboom") })
		echo(c)
	})
	p.send(`{"jsonrpc":"2.0","id":1,"method":"boom"}`)
	assert.Contains(t, string(p.next()["error"]), `"code":-32603`)
	p.send(`{"jsonrpc":"2.0","id":2,"method":"echo","params":[]}`)
	assert.Equal(t, "[]", string(p.next()["result"]))
}

func TestConnReportsRepliesThatAreNotExactlyOnce(t *testing.T) {
	var held *Request
	p := newPeer(t, Options{}, func(c *Conn) {
		c.Register("twice", func(_ context.Context, r *Request) {
			r.Reply(1, nil)
			r.Reply(2, nil)
		})
		c.Register("never", func(_ context.Context, r *Request) { held = r })
	})
	p.send(`{"jsonrpc":"2.0","id":1,"method":"twice"}`)
	assert.Equal(t, "1", string(p.next()["result"]), "the first answer wins")
	p.send(`{"jsonrpc":"2.0","id":2,"method":"never"}`)
	p.send(`{"jsonrpc":"2.0","id":3,"method":"twice"}`) // a marker: id 2 was read
	p.next()
	p.w.Close()
	<-p.conn.InputEnded()
	p.conn.Close()
	assert.NotNil(t, held)
	problems := p.problemsSoFar()
	assert.Contains(t, problems, "twice: answered twice (id 1)")
	assert.Contains(t, problems, "never: never answered (id 2)")
}

func TestConnCallGetsTheAnswerOrTheError(t *testing.T) {
	p := newPeer(t, Options{CancelMethod: "$/cancel_request", CancelParam: "requestId"}, nil)
	type out struct {
		result json.RawMessage
		err    error
	}
	call := func(ctx context.Context) <-chan out {
		ch := make(chan out, 1)
		go func() {
			var res json.RawMessage
			err := p.conn.Call(ctx, "ask", map[string]int{"n": 1}, &res)
			ch <- out{res, err}
		}()
		return ch
	}

	got := call(context.Background())
	req := p.next()
	assert.Equal(t, `"ask"`, string(req["method"]))
	p.send(`{"jsonrpc":"2.0","id":` + string(req["id"]) + `,"result":{"ok":true}}`)
	o := <-got
	require.NoError(t, o.err)
	assert.JSONEq(t, `{"ok":true}`, string(o.result))

	got = call(context.Background())
	req = p.next()
	p.send(`{"jsonrpc":"2.0","id":` + string(req["id"]) + `,"error":{"code":-32000,"message":"log in first"}}`)
	o = <-got
	assert.ErrorIs(t, o.err, &Error{Code: -32000}, "the peer's code is kept")
	assert.ErrorContains(t, o.err, "log in first")

	ctx, cancel := context.WithCancelCause(context.Background())
	got = call(ctx)
	req = p.next()
	reason := errors.New("the user moved on")
	cancel(reason)
	o = <-got
	assert.ErrorIs(t, o.err, reason)
	cancelled := p.next()
	assert.Equal(t, `"$/cancel_request"`, string(cancelled["method"]))
	assert.JSONEq(t, `{"requestId":`+string(req["id"])+`}`, string(cancelled["params"]))
	// A late answer to the cancelled call is dropped, and harms nothing.
	p.send(`{"jsonrpc":"2.0","id":` + string(req["id"]) + `,"result":1}`)
}

func TestConnCallsFailOnceTheInputHasEnded(t *testing.T) {
	p := newPeer(t, Options{}, nil)
	pending := make(chan error, 1)
	go func() { pending <- p.conn.Call(context.Background(), "ask", nil, nil) }()
	p.next() // the request is out
	p.w.Close()
	select {
	case err := <-pending:
		assert.ErrorIs(t, err, ErrInputEnded, "no answer can come once the input has ended")
	case <-time.After(guard):
		t.Fatal("a call pending at the end of input still waits")
	}
	<-p.conn.InputEnded()
	assert.ErrorIs(t, p.conn.Call(context.Background(), "ask", nil, nil), ErrInputEnded, "later calls fail at once")
}

func TestConnBrokenFrameEndsTheInput(t *testing.T) {
	inR, inW := io.Pipe()
	c := NewConn(NewStream(inR, io.Discard, inR, FramingLSP, 0, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler), Options{})
	c.Start()
	go io.WriteString(inW, "Content-Length: nope\r\n\r\n")
	select {
	case <-c.Broken():
		assert.ErrorIs(t, c.Err(), ErrBrokenFrame)
	case <-time.After(guard):
		t.Fatal("a broken header did not end the input")
	}
	inW.Close()
	c.Close()
}
