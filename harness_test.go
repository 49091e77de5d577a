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
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/internal/testenv"
	"github.com/tether-dev/tether/rpc"
)

// guard bounds every wait of a test (testenv.Guard): a bug shows up as a
// failure naming what was awaited, not as a hung suite.
const guard = testenv.Guard

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

// testClient is a raw JSON-RPC client of a Tether (testenv.Client) with
// what this package's tests wait for: the notifications of a query, the
// next message of a method, an error answer.
type testClient struct {
	*testenv.Client[message]
	t       testing.TB
	framing rpc.Framing
	cursor  map[string]int // per waitMethod kind: where the next search starts
	out     *testenv.PausableReader
}

// newTestClient is a client of a Tether that reads w and writes r, in
// framing.
func newTestClient(t testing.TB, framing rpc.Framing, w io.WriteCloser, r io.Reader) *testClient {
	c := &testClient{t: t, framing: framing}
	c.Client = testenv.NewClient[message](t, w, bufio.NewReader(r),
		func(r *bufio.Reader) ([]byte, error) { return readFrame(r, framing) },
		func(body []byte) []byte { return []byte(c.frame(string(body))) })
	return c
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
	out := testenv.NewPausableReader(outR)
	c := newTestClient(t, framing, inW, out)
	c.out = out
	go func() {
		c.Done <- handlers.Serve(context.Background(), inR, outW, cfg)
		outW.Close()
	}()
	t.Cleanup(func() {
		c.W.Close()
		select {
		case <-c.Done:
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

// waitResponse waits for the response to id and returns the notifications
// of that query (those whose queryId is id) and the response.
func (c *testClient) waitResponse(id int) (mine []message, resp message) {
	c.t.Helper()
	return c.waitResponseRaw(strconv.Itoa(id))
}

func (c *testClient) waitResponseRaw(id string) (mine []message, resp message) {
	c.t.Helper()
	i := c.Find(0, func(m message) bool { return m.isResponse() && string(m.ID) == id })
	for _, m := range c.Log[:i] {
		if !m.isResponse() && m.param(c.t, "queryId") == strings.Trim(id, `"`) {
			mine = append(mine, m)
		}
	}
	return mine, c.Log[i]
}

// before returns every message that came before the response to id.
func (c *testClient) before(id int) []message {
	c.t.Helper()
	want := strconv.Itoa(id)
	i := c.Find(0, func(m message) bool { return m.isResponse() && string(m.ID) == want })
	return c.Log[:i]
}

// waitMethod waits for the next message with method not returned by an
// earlier waitMethod, and returns the messages before it and it.
func (c *testClient) waitMethod(method string) (before []message, m message) {
	c.t.Helper()
	i := c.Find(c.cursor[method], func(m message) bool { return m.Method == method })
	if c.cursor == nil {
		c.cursor = make(map[string]int)
	}
	c.cursor[method] = i + 1
	return c.Log[:i], c.Log[i]
}

// waitFor waits for the first message of the whole log that matches.
func (c *testClient) waitFor(match func(message) bool) message {
	c.t.Helper()
	return c.Log[c.Find(0, match)]
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
	i := c.Find(c.cursor[key], func(m message) bool { return m.isResponse() && m.Error != nil && string(m.ID) == id })
	if c.cursor == nil {
		c.cursor = make(map[string]int)
	}
	c.cursor[key] = i + 1
	return c.Log[i]
}

// call sends a request and waits for its response, which must be a result;
// it decodes the result into out (when not nil) and returns the query's
// notifications.
func (c *testClient) call(method string, params, out any) []message {
	c.t.Helper()
	mine, resp := c.waitResponse(c.Request(method, params))
	require.Nil(c.t, resp.Error, "%s failed", method)
	if out != nil {
		require.NoError(c.t, json.Unmarshal(resp.Result, out))
	}
	return mine
}

// callError sends a request and returns the error it is answered with.
func (c *testClient) callError(method string, params any) *wireError {
	c.t.Helper()
	_, resp := c.waitResponse(c.Request(method, params))
	require.NotNil(c.t, resp.Error, "%s: want an error, got result %s", method, resp.Result)
	return resp.Error
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
