package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/internal/testenv"
	"github.com/tether-dev/tether/rpc"
)

// guard bounds every wait of a test, so that a bug shows up as a failure
// naming what was awaited rather than as a hung suite. It never paces a
// test: every wait ends as soon as what it waits for arrives.
const guard = 20 * time.Second

// message is any JSON-RPC message as the test client sees it.
type message struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *wireError      `json:"error,omitempty"`
}

type wireError struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (m message) isResponse() bool { return m.Method == "" }

// param decodes one field of a notification's params.
func (m message) param(t testing.TB, field string) string {
	t.Helper()
	var p map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(m.Params, &p), "params of %s", m.Method)
	raw := p[field]
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// testClient is a raw JSON-RPC client of an in-process Tether: it writes
// frames as the test says (so it can also write bad ones) and collects
// every message Tether writes, in order.
type testClient struct {
	t       testing.TB
	framing rpc.Framing
	w       io.WriteCloser // Tether's stdin
	msgs    chan message
	log     []message      // every message read so far, in order
	cursor  map[string]int // per waitMethod kind: where the next search starts
	done    chan int       // Tether's exit code
	nextID  int
	mu      sync.Mutex // guards w
	out     *testenv.PausableReader
}

// pause stops reading Tether's output (after the read in progress, if
// any); resume reads on.
func (c *testClient) pause()  { c.out.Pause() }
func (c *testClient) resume() { c.out.Resume() }

type harnessOption func(*handlers.Config)

// withBackends replaces the backends Tether runs with.
func withBackends(def string, bs ...backends.Backend) harnessOption {
	return func(c *handlers.Config) { c.Backends, c.DefaultBackend = bs, def }
}

// startTether runs Tether in-process on pipes and returns a client speaking
// the given framing. Cleanup ends its input and waits for it to exit.
func startTether(t testing.TB, framing rpc.Framing, opts ...harnessOption) *testClient {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	cfg := handlers.Config{
		Backends:        []backends.Backend{mock.Backend{}},
		DefaultBackend:  mock.Name,
		Version:         "test",
		Framing:         rpc.FramingAuto,
		ShutdownTimeout: guard,
		Log:             slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		// Every request is answered exactly once, in every test.
		OnReplyProblem: func(method, problem string) { t.Errorf("%s: %s", method, problem) },
	}
	for _, o := range opts {
		o(&cfg)
	}
	c := &testClient{t: t, framing: framing, w: inW, msgs: make(chan message, 1<<16), done: make(chan int, 1)}
	go func() {
		c.done <- handlers.Serve(context.Background(), inR, outW, cfg)
		outW.Close()
	}()
	c.out = testenv.NewPausableReader(outR)
	go c.read(bufio.NewReader(c.out))
	t.Cleanup(func() {
		c.w.Close()
		select {
		case <-c.done:
		case <-time.After(guard):
			t.Errorf("tether did not exit after its input ended")
		}
	})
	return c
}

// testWriter sends Tether's logs to the test log, shown on failure.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// read decodes every message Tether writes until its output ends.
func (c *testClient) read(r *bufio.Reader) {
	defer close(c.msgs)
	for {
		body, err := readFrame(r, c.framing)
		if err != nil {
			return
		}
		var m message
		if err := json.Unmarshal(body, &m); err != nil {
			c.t.Errorf("tether wrote a message that is not JSON: %q", body)
			return
		}
		c.msgs <- m
	}
}

// readFrame reads one message in the given framing, and checks that it is
// framed as it should be.
func readFrame(r *bufio.Reader, f rpc.Framing) ([]byte, error) {
	if f == rpc.FramingNDJSON {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		return line, nil
	}
	h, err := textproto.NewReader(r).ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(h.Get("Content-Length"))
	if err != nil {
		return nil, fmt.Errorf("bad Content-Length: %w", err)
	}
	body := make([]byte, n)
	_, err = io.ReadFull(r, body)
	return body, err
}

// frame frames body for the client's framing.
func (c *testClient) frame(body string) string {
	if c.framing == rpc.FramingNDJSON {
		return body + "\n"
	}
	return fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
}

// sendRaw writes bytes to Tether's input as they are.
func (c *testClient) sendRaw(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := io.WriteString(c.w, s)
	require.NoError(c.t, err)
}

// send writes one framed message.
func (c *testClient) send(v any) {
	body, err := json.Marshal(v)
	require.NoError(c.t, err)
	c.sendRaw(c.frame(string(body)))
}

// request sends a request and returns its id.
func (c *testClient) request(method string, params any) int {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.mu.Unlock()
	c.send(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	return id
}

// notify sends a notification.
func (c *testClient) notify(method string, params any) {
	c.send(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
}

// reply answers a request Tether sent.
func (c *testClient) reply(id json.RawMessage, result any) {
	c.send(map[string]any{"jsonrpc": "2.0", "id": id, "result": result})
}

// read1 reads one more message into the log.
func (c *testClient) read1() {
	c.t.Helper()
	select {
	case m, ok := <-c.msgs:
		require.True(c.t, ok, "tether's output ended")
		c.log = append(c.log, m)
	case <-time.After(guard):
		c.t.Fatalf("no message from tether within %v", guard)
	}
}

// find returns the index in the log of the first message at or after from
// that matches, reading more until one does.
func (c *testClient) find(from int, match func(message) bool) int {
	c.t.Helper()
	for i := from; ; i++ {
		for i >= len(c.log) {
			c.read1()
		}
		if match(c.log[i]) {
			return i
		}
	}
}

// waitResponse waits for the response to id and returns the notifications
// of that query (those whose queryId is id) and the response.
func (c *testClient) waitResponse(id int) (mine []message, resp message) {
	c.t.Helper()
	return c.waitResponseRaw(strconv.Itoa(id))
}

func (c *testClient) waitResponseRaw(id string) (mine []message, resp message) {
	c.t.Helper()
	i := c.find(0, func(m message) bool { return m.isResponse() && string(m.ID) == id })
	for _, m := range c.log[:i] {
		if !m.isResponse() && m.param(c.t, "queryId") == strings.Trim(id, `"`) {
			mine = append(mine, m)
		}
	}
	return mine, c.log[i]
}

// before returns every message that came before the response to id.
func (c *testClient) before(id int) []message {
	c.t.Helper()
	want := strconv.Itoa(id)
	i := c.find(0, func(m message) bool { return m.isResponse() && string(m.ID) == want })
	return c.log[:i]
}

// waitMethod waits for the next message with method not returned by an
// earlier waitMethod, and returns the messages before it and it.
func (c *testClient) waitMethod(method string) (before []message, m message) {
	c.t.Helper()
	i := c.find(c.cursor[method], func(m message) bool { return m.Method == method })
	if c.cursor == nil {
		c.cursor = make(map[string]int)
	}
	c.cursor[method] = i + 1
	return c.log[:i], c.log[i]
}

// waitFor waits for the first message of the whole log that matches.
func (c *testClient) waitFor(match func(message) bool) message {
	c.t.Helper()
	return c.log[c.find(0, match)]
}

// waitQueryNote waits for the first notification with method of query id.
func (c *testClient) waitQueryNote(method string, id int) message {
	c.t.Helper()
	want := strconv.Itoa(id)
	return c.waitFor(func(m message) bool { return m.Method == method && m.param(c.t, "queryId") == want })
}

// waitNullIDError waits for the next error response with id null.
func (c *testClient) waitNullIDError() message { return c.waitErrorWithID("null") }

// waitErrorWithID waits for the next error response with id (as on the
// wire) not returned by an earlier call.
func (c *testClient) waitErrorWithID(id string) message {
	c.t.Helper()
	key := "error " + id
	i := c.find(c.cursor[key], func(m message) bool { return m.isResponse() && m.Error != nil && string(m.ID) == id })
	if c.cursor == nil {
		c.cursor = make(map[string]int)
	}
	c.cursor[key] = i + 1
	return c.log[i]
}

// call sends a request and waits for its response, which must be a result;
// it decodes the result into out (when not nil) and returns the query's
// notifications.
func (c *testClient) call(method string, params, out any) []message {
	c.t.Helper()
	mine, resp := c.waitResponse(c.request(method, params))
	require.Nil(c.t, resp.Error, "%s failed", method)
	if out != nil {
		require.NoError(c.t, json.Unmarshal(resp.Result, out))
	}
	return mine
}

// callError sends a request and returns the error it is answered with.
func (c *testClient) callError(method string, params any) *wireError {
	c.t.Helper()
	_, resp := c.waitResponse(c.request(method, params))
	require.NotNil(c.t, resp.Error, "%s: want an error, got result %s", method, resp.Result)
	return resp.Error
}

// exitCode ends nothing: it waits for Tether to exit on its own.
func (c *testClient) exitCode() int {
	c.t.Helper()
	select {
	case code := <-c.done:
		c.done <- code // for Cleanup
		return code
	case <-time.After(guard):
		c.t.Fatalf("tether did not exit within %v", guard)
		return -1
	}
}

// drain reads everything Tether writes until its output ends, and returns
// the whole log.
func (c *testClient) drain() []message {
	for m := range c.msgs {
		c.log = append(c.log, m)
	}
	return c.log
}

// methods lists the methods of messages, for order assertions.
func methods(ms []message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Method)
	}
	return out
}

// textRuns lists the methods of messages as methods does, with each run
// of consecutive session/token (or session/thinking) notifications of one
// query as one entry: Tether merges such a run into fewer notifications
// when the client does not keep up, so only the runs are fixed.
func textRuns(t testing.TB, ms []message) []string {
	var out []string
	last, lastQuery := "", ""
	for _, m := range ms {
		text := m.Method == "session/token" || m.Method == "session/thinking"
		query := ""
		if text {
			query = m.param(t, "queryId")
			if m.Method == last && query == lastQuery {
				continue
			}
		}
		out = append(out, m.Method)
		last, lastQuery = "", ""
		if text {
			last, lastQuery = m.Method, query
		}
	}
	return out
}

// tokens concatenates the session/token texts among ms.
func tokens(t testing.TB, ms []message) string {
	var b bytes.Buffer
	for _, m := range ms {
		if m.Method == "session/token" {
			b.WriteString(m.param(t, "text"))
		}
	}
	return b.String()
}
