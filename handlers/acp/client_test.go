package acp_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/handlers/acp"
	"github.com/tether-dev/tether/internal/testenv"
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
	raw    string
}

type wireError struct {
	Code    int64           `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (m message) isResponse() bool { return m.Method == "" }

// UnmarshalJSON decodes a message and keeps its line as Tether wrote it.
func (m *message) UnmarshalJSON(b []byte) error {
	type plain message
	if err := json.Unmarshal(b, (*plain)(m)); err != nil {
		return err
	}
	m.raw = strings.TrimSpace(string(b))
	return nil
}

// sessionUpdate is the params of a session/update, decoded loosely.
type sessionUpdate struct {
	SessionID string         `json:"sessionId"`
	Update    map[string]any `json:"update"`
}

func (m message) update(t testing.TB) sessionUpdate {
	t.Helper()
	require.Equal(t, "session/update", m.Method)
	var u sessionUpdate
	require.NoError(t, json.Unmarshal(m.Params, &u))
	return u
}

// kind is the sessionUpdate of an update, "" for other messages.
func (m message) kind(t testing.TB) string {
	if m.Method != "session/update" {
		return ""
	}
	s, _ := m.update(t).Update["sessionUpdate"].(string)
	return s
}

// client is a raw ACP client of an in-process Tether (testenv.Client,
// NDJSON) with what this package's tests wait for.
type client struct {
	*testenv.Client[message]
	t      testing.TB
	cursor map[string]int
	out    *testenv.PausableReader
}

// pause stops reading Tether's output (after the read in progress, if
// any); resume reads on.
func (c *client) pause()  { c.out.Pause() }
func (c *client) resume() { c.out.Resume() }

type option func(*handlers.Config)

func withBackends(def string, bs ...backends.Backend) option {
	return func(c *handlers.Config) { c.Backends, c.DefaultBackend = bs, def }
}

// start runs Tether's ACP dialect in-process on pipes. Cleanup ends its
// input and waits for it to exit.
func start(t testing.TB, opts ...option) *client {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := handlers.Config{
		Backends:        []backends.Backend{mock.Backend{}},
		DefaultBackend:  mock.Name,
		Version:         "test",
		ShutdownTimeout: guard,
		Log:             log,
		Dialect:         acp.New(acp.Info{Name: "tether", Title: "Tether", Version: "test"}, log),
		OnReplyProblem: func(method, problem string) {
			t.Errorf("%s %s", method, problem)
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	out := testenv.NewPausableReader(outR)
	c := &client{Client: testenv.NewClient[message](t, inW, bufio.NewReader(out), testenv.Line, nil), t: t, cursor: map[string]int{}, out: out}
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

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitResponse waits for the response to id and returns every message
// before it and it.
func (c *client) waitResponse(id int) (before []message, resp message) {
	c.t.Helper()
	want := strconv.Itoa(id)
	i := c.Find(0, func(m message) bool { return m.isResponse() && string(m.ID) == want })
	return c.Log[:i], c.Log[i]
}

// waitMethod waits for the next message with method not returned by an
// earlier waitMethod.
func (c *client) waitMethod(method string) message {
	c.t.Helper()
	i := c.Find(c.cursor[method], func(m message) bool { return m.Method == method })
	c.cursor[method] = i + 1
	return c.Log[i]
}

// call sends a request, waits for its answer, which must be a result, and
// decodes it into out (when not nil).
func (c *client) call(method string, params, out any) {
	c.t.Helper()
	_, resp := c.waitResponse(c.Request(method, params))
	require.Nil(c.t, resp.Error, "%s failed", method)
	if out != nil {
		require.NoError(c.t, json.Unmarshal(resp.Result, out))
	}
}

// callError sends a request and returns the error it is answered with.
func (c *client) callError(method string, params any) *wireError {
	c.t.Helper()
	_, resp := c.waitResponse(c.Request(method, params))
	require.NotNil(c.t, resp.Error, "%s: want an error, got result %s", method, resp.Result)
	return resp.Error
}

// newSession opens a session in cwd and returns its id.
func (c *client) newSession(cwd string) string {
	c.t.Helper()
	var res struct {
		SessionID string `json:"sessionId"`
	}
	c.call("session/new", map[string]any{"cwd": cwd, "mcpServers": []any{}}, &res)
	require.NotEmpty(c.t, res.SessionID)
	return res.SessionID
}

// promptText is the params of a prompt of one text block.
func promptText(sessionID, text string) map[string]any {
	return map[string]any{"sessionId": sessionID, "prompt": []any{map[string]any{"type": "text", "text": text}}}
}

// updatesOf keeps the session/updates of one session among ms.
func updatesOf(t testing.TB, ms []message, sessionID string) []message {
	var out []message
	for _, m := range ms {
		if m.Method == "session/update" && m.update(t).SessionID == sessionID {
			out = append(out, m)
		}
	}
	return out
}

// chunks concatenates the agent_message_chunk texts among ms.
func chunks(t testing.TB, ms []message) string {
	var b strings.Builder
	for _, m := range ms {
		if m.kind(t) == "agent_message_chunk" {
			content := m.update(t).Update["content"].(map[string]any)
			require.Equal(t, "text", content["type"])
			b.WriteString(content["text"].(string))
		}
	}
	return b.String()
}

// kinds lists the sessionUpdate kinds of ms, and the methods of the other
// messages, for order assertions; consecutive chunks count once.
func kinds(t testing.TB, ms []message) []string {
	var out []string
	for _, m := range ms {
		k := m.kind(t)
		if k == "" {
			k = m.Method
			if m.isResponse() {
				k = "response " + string(m.ID)
			}
		}
		if len(out) > 0 && out[len(out)-1] == k && strings.HasSuffix(k, "_chunk") {
			continue
		}
		out = append(out, k)
	}
	return out
}
