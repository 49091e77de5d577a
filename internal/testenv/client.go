package testenv

import (
	"bufio"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"
)

// Guard bounds every wait of a Client, so that a bug shows up as a failure
// naming what was awaited rather than as a hung suite. It never paces a
// test: every wait ends as soon as what it waits for arrives.
const Guard = 20 * time.Second

// Client is a raw JSON-RPC client of a Tether, for tests of either
// dialect: it writes messages as the test says (bad ones too, with Raw)
// and keeps every message Tether writes, in order, in Log, decoded into M
// (the test package's view of a message) with encoding/json.
//
// Log grows only on the test's goroutine (Read1, Find, Drain); a goroutine
// of the Client's reads Tether's output and hands each message over.
type Client[M any] struct {
	T testing.TB
	W io.WriteCloser // Tether's input
	// Log is every message read so far, in order.
	Log []M
	// Done gets Tether's exit code, from whoever runs it.
	Done chan int

	frame  func(body []byte) []byte
	msgs   chan M
	mu     sync.Mutex // guards W and nextID
	nextID int
}

// NewClient returns a Client that writes to w, each message framed by
// frame (nil: one line each), and reads, until it fails, each message body
// next returns from r.
func NewClient[M any](t testing.TB, w io.WriteCloser, r *bufio.Reader, next func(*bufio.Reader) ([]byte, error), frame func(body []byte) []byte) *Client[M] {
	c := &Client[M]{T: t, W: w, Done: make(chan int, 1), frame: frame, msgs: make(chan M, 1<<16)}
	go c.read(r, next)
	return c
}

// Line reads one NDJSON line: NewClient's next for that framing.
func Line(r *bufio.Reader) ([]byte, error) { return r.ReadBytes('\n') }

func (c *Client[M]) read(r *bufio.Reader, next func(*bufio.Reader) ([]byte, error)) {
	defer close(c.msgs)
	for {
		body, err := next(r)
		if err != nil {
			return
		}
		var m M
		if err := json.Unmarshal(body, &m); err != nil {
			c.T.Errorf("tether wrote a message that is not JSON: %q", body)
			return
		}
		c.msgs <- m
	}
}

// Raw writes s to Tether's input as it is.
func (c *Client[M]) Raw(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := io.WriteString(c.W, s); err != nil {
		c.T.Fatal(err)
	}
}

// Send writes v as one framed message.
func (c *Client[M]) Send(v any) {
	body, err := json.Marshal(v)
	if err != nil {
		c.T.Fatal(err)
	}
	if c.frame != nil {
		c.Raw(string(c.frame(body)))
		return
	}
	c.Raw(string(body) + "\n")
}

// Request sends a request and returns its id.
func (c *Client[M]) Request(method string, params any) int {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	c.Send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	return id
}

// Notify sends a notification.
func (c *Client[M]) Notify(method string, params any) {
	c.Send(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
}

// Reply answers a request Tether sent.
func (c *Client[M]) Reply(id json.RawMessage, result any) {
	c.Send(map[string]any{"jsonrpc": "2.0", "id": id, "result": result})
}

// Read1 reads one more message into Log.
func (c *Client[M]) Read1() {
	c.T.Helper()
	select {
	case m, ok := <-c.msgs:
		if !ok {
			c.T.Fatal("tether's output ended")
		}
		c.Log = append(c.Log, m)
	case <-time.After(Guard):
		c.T.Fatalf("no message from tether within %v", Guard)
	}
}

// Find returns the index in Log of the first message at or after from
// that matches, reading more until one does.
func (c *Client[M]) Find(from int, match func(M) bool) int {
	c.T.Helper()
	for i := from; ; i++ {
		for i >= len(c.Log) {
			c.Read1()
		}
		if match(c.Log[i]) {
			return i
		}
	}
}

// Drain reads everything Tether writes until its output ends, and returns
// the whole Log.
func (c *Client[M]) Drain() []M {
	for m := range c.msgs {
		c.Log = append(c.Log, m)
	}
	return c.Log
}

// ExitCode waits for Tether to exit on its own and returns its code.
func (c *Client[M]) ExitCode() int {
	c.T.Helper()
	select {
	case code := <-c.Done:
		c.Done <- code // for whoever waits next (a Cleanup)
		return code
	case <-time.After(Guard):
		c.T.Fatalf("tether did not exit within %v", Guard)
		return -1
	}
}
