// Package acpdrive reads what testdata/acp/drive.mjs prints: the ACP
// SDK's own client, which the end-to-end tests run against `tether acp`
// and against ACP agents. drive.mjs prints one JSON event per line
// (testdata/acp/README.md lists them); the tests of several packages read
// them with this package.
package acpdrive

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Event is one line drive.mjs printed.
type Event struct {
	Event    string          `json:"event"` // send, response, notification, request, answer, step, failure, end, exit, ...
	ID       json.RawMessage `json:"id"`
	Method   string          `json:"method"`
	Params   json.RawMessage `json:"params"`
	Result   json.RawMessage `json:"result"`
	Error    json.RawMessage `json:"error"`
	OK       *bool           `json:"ok"`
	Code     *int            `json:"code"`
	What     string          `json:"what"`
	Msg      string          `json:"message"`
	Paths    []string        `json:"paths"`
	Failures []string        `json:"failures"`
	T        float64         `json:"t"` // ms since drive.mjs started
}

// Update is the part of a session/update's params the tests read.
type Update struct {
	SessionID string `json:"sessionId"`
	Update    struct {
		Kind string `json:"sessionUpdate"`
		// Content is a content block for chunks, a list for tool calls.
		Content    json.RawMessage `json:"content"`
		ToolCallID string          `json:"toolCallId"`
		Title      string          `json:"title"`
		ToolKind   string          `json:"kind"`
		Status     string          `json:"status"`
		Locations  []struct {
			Path string `json:"path"`
			Line int    `json:"line,omitempty"`
		} `json:"locations"`
		Entries       json.RawMessage `json:"entries"`
		Commands      json.RawMessage `json:"availableCommands"`
		CurrentModeID string          `json:"currentModeId"`
		Used          int             `json:"used"`
		Size          int             `json:"size"`
	} `json:"update"`
}

// Text is the text of a message or thought chunk's text block, "" for
// anything else.
func (u Update) Text() string {
	var block struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(u.Update.Content, &block) != nil || block.Type != "text" {
		return ""
	}
	return block.Text
}

// Parse reads the events drive.mjs printed.
func Parse(t testing.TB, out []byte) []Event {
	t.Helper()
	var evs []Event
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("drive.mjs printed %q: %v", sc.Text(), err)
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// Updates are the session/update notifications among evs.
func Updates(t testing.TB, evs []Event) []Update {
	t.Helper()
	var ups []Update
	for _, ev := range evs {
		if ev.Event == "notification" && ev.Method == "session/update" {
			var u Update
			if err := json.Unmarshal(ev.Params, &u); err != nil {
				t.Fatalf("session/update params %s: %v", ev.Params, err)
			}
			ups = append(ups, u)
		}
	}
	return ups
}

// WriteSteps writes drive.mjs's steps file into a temp dir and returns its
// path.
func WriteSteps(t testing.TB, steps any) string {
	t.Helper()
	b, err := json.Marshal(steps)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "steps.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
