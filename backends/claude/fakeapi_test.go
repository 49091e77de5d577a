package claude

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeAPI imitates the Anthropic Messages API on 127.0.0.1 for the real
// CLI: POST /v1/messages streams the events reply returns for the request
// (SSE with named events), HEAD / answers the CLI's preconnect, and
// count_tokens answers a constant. Every request is recorded.
type fakeAPI struct {
	t     *testing.T
	srv   *httptest.Server
	quit  chan struct{} // closed at cleanup: handlers that hold a stream open return
	reply func(req apiRequest) []sseEvent

	mu       sync.Mutex
	requests []apiRequest
}

// apiRequest is the part of a Messages API request the tests look at.
type apiRequest struct {
	Model    string     `json:"model"`
	Stream   bool       `json:"stream"`
	Messages []apiMsg   `json:"messages"`
	Tools    []struct{} `json:"tools"`
}

type apiMsg struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// lastUserText is the text of the request's last user message: its string
// content, or its text blocks; tool results count as "tool_result:<text>".
func (r apiRequest) lastUserText() string {
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

// sseEvent is one server-sent event; hold makes the handler keep the
// stream open (without ending it) until the client goes away.
type sseEvent struct {
	name string
	data string
	hold bool
}

func newFakeAPI(t *testing.T, reply func(req apiRequest) []sseEvent) *fakeAPI {
	a := &fakeAPI{t: t, quit: make(chan struct{}), reply: reply}
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

func (a *fakeAPI) URL() string { return a.srv.URL }

func (a *fakeAPI) recorded() []apiRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]apiRequest(nil), a.requests...)
}

func (a *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
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

func (a *fakeAPI) messages(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req apiRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.mu.Lock()
	a.requests = append(a.requests, req)
	n := len(a.requests)
	a.mu.Unlock()
	a.t.Logf("fake API: request %d: model=%s stream=%v tools=%d messages=%d last=%q",
		n, req.Model, req.Stream, len(req.Tools), len(req.Messages), truncate(req.lastUserText(), 80))

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

var replyCount struct {
	sync.Mutex
	n int
}

func nextMsgID() string {
	replyCount.Lock()
	defer replyCount.Unlock()
	replyCount.n++
	return fmt.Sprintf("msg_fake_%d", replyCount.n)
}

func messageStart(model string) sseEvent {
	return sseEvent{name: "message_start", data: fmt.Sprintf(
		`{"type":"message_start","message":{"id":%q,"type":"message","role":"assistant","model":%q,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":21,"output_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}`,
		nextMsgID(), model)}
}

func messageEnd(stopReason string) []sseEvent {
	return []sseEvent{
		{name: "message_delta", data: fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":9}}`, stopReason)},
		{name: "message_stop", data: `{"type":"message_stop"}`},
	}
}

// textReply streams chunks as one text block.
func textReply(model string, chunks ...string) []sseEvent {
	evs := []sseEvent{
		messageStart(model),
		{name: "content_block_start", data: `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`},
	}
	for _, c := range chunks {
		b, _ := json.Marshal(c)
		evs = append(evs, sseEvent{name: "content_block_delta", data: `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":` + string(b) + `}}`})
	}
	evs = append(evs, sseEvent{name: "content_block_stop", data: `{"type":"content_block_stop","index":0}`})
	return append(evs, messageEnd("end_turn")...)
}

// toolReply asks to run tool with input (a JSON object).
func toolReply(model, toolUseID, tool, input string) []sseEvent {
	partial, _ := json.Marshal(input)
	return append([]sseEvent{
		messageStart(model),
		{name: "content_block_start", data: fmt.Sprintf(`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":%q,"name":%q,"input":{}}}`, toolUseID, tool)},
		{name: "content_block_delta", data: `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":` + string(partial) + `}}`},
		{name: "content_block_stop", data: `{"type":"content_block_stop","index":0}`},
	}, messageEnd("tool_use")...)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
