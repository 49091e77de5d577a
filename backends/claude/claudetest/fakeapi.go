// Package claudetest is for tests only: it runs the real claude CLI (the
// version pinned in testdeps/package.json) hermetically, against a fake
// Anthropic Messages API on 127.0.0.1. Nothing leaves the machine: HOME is
// a temp dir, the API is on 127.0.0.1, and nonessential traffic (telemetry,
// bootstrap, MCP registry) is switched off.
//
// It is shared by the claude backend's own tests and by Tether's end-to-end
// tests; no production code may import it.
package claudetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Model is the model tests ask the CLI for; the fake API answers any.
const Model = "claude-fake-model"

// FakeAPI imitates the Anthropic Messages API on 127.0.0.1 for the real
// CLI: POST /v1/messages streams the events reply returns for the request
// (SSE with named events), HEAD / answers the CLI's preconnect, and
// count_tokens answers a constant. Every request is recorded.
type FakeAPI struct {
	t     testing.TB
	srv   *httptest.Server
	quit  chan struct{} // closed at cleanup: handlers that hold a stream open return
	reply func(req Request) []Event

	mu       sync.Mutex
	requests []Request
}

// Request is the part of a Messages API request the tests look at.
type Request struct {
	Model    string            `json:"model"`
	Stream   bool              `json:"stream"`
	Messages []Message         `json:"messages"`
	Tools    []json.RawMessage `json:"tools"`
}

// Message is one message of a Request.
type Message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// LastUserText is the text of the request's last user message: its string
// content, or its text blocks; tool results count as "tool_result:<text>".
func (r Request) LastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if m := r.Messages[i]; m.Role == "user" {
			return contentText(m.Content)
		}
	}
	return ""
}

func contentText(c json.RawMessage) string {
	var s string
	if json.Unmarshal(c, &s) == nil {
		return s
	}
	var blocks []struct {
		Type    string          `json:"type"`
		Text    string          `json:"text"`
		Content json.RawMessage `json:"content"`
	}
	_ = json.Unmarshal(c, &blocks)
	var parts []string
	for _, b := range blocks {
		switch b.Type {
		case "text":
			parts = append(parts, b.Text)
		case "tool_result":
			parts = append(parts, "tool_result:"+contentText(b.Content))
		}
	}
	return strings.Join(parts, "\n")
}

// Event is one server-sent event of a streamed reply.
type Event struct {
	name string
	data string
	hold bool
}

// Hold is an event that makes the fake keep the stream open, without
// ending it, until the client goes away (or the test ends).
func Hold() Event { return Event{hold: true} }

// NewFakeAPI starts a fake API that answers each streamed request with
// reply's events; it is stopped when the test ends.
func NewFakeAPI(t testing.TB, reply func(req Request) []Event) *FakeAPI {
	t.Helper()
	a := &FakeAPI{t: t, quit: make(chan struct{}), reply: reply}
	a.srv = httptest.NewUnstartedServer(http.HandlerFunc(a.serve))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.srv.Listener = ln
	a.srv.Start()
	t.Cleanup(func() {
		close(a.quit)
		a.srv.Close()
	})
	return a
}

// URL is the API's base URL, for ANTHROPIC_BASE_URL.
func (a *FakeAPI) URL() string { return a.srv.URL }

// Recorded returns every Messages request so far, in order.
func (a *FakeAPI) Recorded() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Request(nil), a.requests...)
}

func (a *FakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodHead:
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages/count_tokens":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"input_tokens":10}`)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/messages":
		a.messages(w, r)
	default:
		a.t.Logf("fake API: unexpected %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	}
}

func (a *FakeAPI) messages(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.requests = append(a.requests, req)
	n := len(a.requests)
	a.mu.Unlock()
	a.t.Logf("fake API: request %d: model=%s stream=%v tools=%d messages=%d last=%.80q",
		n, req.Model, req.Stream, len(req.Tools), len(req.Messages), req.LastUserText())

	if !req.Stream {
		// Side requests (titles, model checks) get a short plain answer.
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id":"msg_side_%d","type":"message","role":"assistant","model":%q,"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}`, n, req.Model)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher := w.(http.Flusher)
	for _, ev := range a.reply(req) {
		if ev.hold {
			select {
			case <-r.Context().Done():
			case <-a.quit:
			}
			return
		}
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, ev.data)
		flusher.Flush()
	}
}

// Replies.

var msgCount atomic.Int64

func nextMsgID() string {
	return fmt.Sprintf("msg_fake_%d", msgCount.Add(1))
}

func messageStart(model string) Event {
	return Event{name: "message_start", data: fmt.Sprintf(
		`{"type":"message_start","message":{"id":%q,"type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":21,"output_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}`,
		nextMsgID(), model)}
}

func messageEnd(stopReason string) []Event {
	return []Event{
		{name: "message_delta", data: fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":9}}`, stopReason)},
		{name: "message_stop", data: `{"type":"message_stop"}`},
	}
}

// TextReply streams chunks as one text block: message_start and
// content_block_start, one content_block_delta per chunk, then the block's
// and the message's end (stop reason end_turn).
func TextReply(model string, chunks ...string) []Event {
	evs := []Event{
		messageStart(model),
		{name: "content_block_start", data: `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
	}
	for _, c := range chunks {
		b, _ := json.Marshal(c)
		evs = append(evs, Event{name: "content_block_delta", data: `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + string(b) + `}}`})
	}
	evs = append(evs, Event{name: "content_block_stop", data: `{"type":"content_block_stop","index":0}`})
	return append(evs, messageEnd("end_turn")...)
}

// ToolReply asks to run tool with input (a JSON object) as tool use
// toolUseID (stop reason tool_use).
func ToolReply(model, toolUseID, tool, input string) []Event {
	partial, _ := json.Marshal(input)
	return append([]Event{
		messageStart(model),
		{name: "content_block_start", data: fmt.Sprintf(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":%q,"name":%q,"input":{}}}`, toolUseID, tool)},
		{name: "content_block_delta", data: `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":` + string(partial) + `}}`},
		{name: "content_block_stop", data: `{"type":"content_block_stop","index":0}`},
	}, messageEnd("tool_use")...)
}
