package acpagent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
)

// wireToolCall is a tool_call or tool_call_update, and the toolCall of a
// permission request: every field but the id optional (an update sends
// what changed). rawInput and rawOutput are kept as the agent wrote them.
type wireToolCall struct {
	ToolCallID string                    `json:"toolCallId"`
	Title      *string                   `json:"title"`
	Kind       *string                   `json:"kind"`
	Status     *string                   `json:"status"`
	Content    []schema.ToolCallContent  `json:"content"`
	Locations  []schema.ToolCallLocation `json:"locations"`
	RawInput   json.RawMessage           `json:"rawInput"`
	RawOutput  json.RawMessage           `json:"rawOutput"`
}

// toolCall is what the turn knows of one of the agent's tool calls.
type toolCall struct {
	use   backends.ToolUse
	text  string // the first line of its latest text content
	ended bool   // completed or failed, and reported
}

// maxTools bounds the tool calls a turn remembers: an agent that never
// ends its calls must not grow the map without end.
const maxTools = 1024

// ACP tool call statuses.
const (
	statusCompleted = "completed"
	statusFailed    = "failed"
)

// toolCall maps tool_call: the call is shown (ToolUse), and when it
// arrives already ended, its result too. A second tool_call of the same id
// is taken as an update.
func (t *turn) toolCall(u *wireToolCall) {
	if tc := t.tools[u.ToolCallID]; tc != nil {
		t.toolCallUpdate(u)
		return
	}
	tc := t.newTool(u)
	t.sink.ToolUse(tc.use)
	t.maybeEnd(tc, u)
}

// toolCallUpdate maps tool_call_update: a call refined before it ends
// (another title, input, kind, locations or diff, as claude-agent-acp sends
// the input once it has streamed) is shown again under the same id; a
// call that ends gets its result, with its content as the one-line
// summary. An update of a call never shown shows it first.
func (t *turn) toolCallUpdate(u *wireToolCall) {
	tc := t.tools[u.ToolCallID]
	if tc == nil {
		tc = t.newTool(u)
		t.sink.ToolUse(tc.use)
		t.maybeEnd(tc, u)
		return
	}
	if tc.ended {
		return
	}
	if merge(tc, u) && !ends(u) {
		t.sink.ToolUse(tc.use)
	}
	t.maybeEnd(tc, u)
}

// ends reports whether u ends its call: its result follows at once, and
// showing the call again first would only repeat it.
func ends(u *wireToolCall) bool {
	return u.Status != nil && (*u.Status == statusCompleted || *u.Status == statusFailed)
}

// newTool remembers a call first seen in u.
func (t *turn) newTool(u *wireToolCall) *toolCall {
	if len(t.tools) >= maxTools {
		for id, tc := range t.tools {
			if tc.ended {
				delete(t.tools, id)
			}
		}
		if len(t.tools) >= maxTools {
			clear(t.tools)
		}
	}
	tc := &toolCall{use: backends.ToolUse{ID: u.ToolCallID, Kind: backends.KindOther, Input: json.RawMessage("{}")}}
	merge(tc, u)
	t.tools[u.ToolCallID] = tc
	return tc
}

// merge applies what u says of the call; it reports whether what a
// ToolUse shows changed.
func merge(tc *toolCall, u *wireToolCall) (changed bool) {
	use := &tc.use
	if u.Title != nil && *u.Title != use.Title {
		use.Title, changed = *u.Title, true
	}
	if u.Kind != nil && *u.Kind != "" && *u.Kind != use.Kind {
		use.Kind, changed = *u.Kind, true
	}
	use.Name = use.Kind
	if len(u.RawInput) > 0 && string(u.RawInput) != "null" && !bytes.Equal(u.RawInput, use.Input) {
		use.Input, changed = append(json.RawMessage(nil), u.RawInput...), true
	}
	if u.Locations != nil {
		locs := locations(u.Locations)
		if !slices.Equal(locs, use.Locations) {
			use.Locations, changed = locs, true
		}
	}
	if u.Content != nil {
		// Content replaces the earlier content, but a call's result
		// (text) does not take back the edits it proposed.
		if diffs := diffsOf(u.Content); len(diffs) > 0 && !slices.EqualFunc(diffs, use.Diffs, sameDiff) {
			use.Diffs, changed = diffs, true
		}
		if text := contentText(u.Content); text != "" {
			tc.text = text
		}
	}
	return changed
}

// maybeEnd reports the call's result when u ends it.
func (t *turn) maybeEnd(tc *toolCall, u *wireToolCall) {
	if tc.ended || !ends(u) {
		return
	}
	failed := *u.Status == statusFailed
	tc.ended = true
	var out json.RawMessage
	if len(u.RawOutput) > 0 && string(u.RawOutput) != "null" {
		out = append(json.RawMessage(nil), u.RawOutput...)
	}
	t.sink.ToolResult(backends.ToolResult{ID: tc.use.ID, Name: tc.use.Name, Summary: summary(tc, failed), IsError: failed, Output: out})
}

// endTools reports every call the agent left unended as failed, why
// given: ACP has no cancelled status, and an editor would show them
// running for good.
func (t *turn) endTools(why string) {
	for _, tc := range t.tools {
		if !tc.ended {
			tc.ended = true
			t.sink.ToolResult(backends.ToolResult{ID: tc.use.ID, Name: tc.use.Name, Summary: subject(tc) + ": not finished: " + why, IsError: true})
		}
	}
}

// Summary limits, in runes.
const (
	maxSubject = 80
	maxDetail  = 120
)

// summary is the one-line ToolResult summary of an ended call: its title
// (else its kind), and the first line of its text content: "Write a.txt
// (Wrote 1 line)", "grep -n x: error: no such file". A call that edited
// files and said nothing counts its edits.
func summary(tc *toolCall, failed bool) string {
	detail := oneLine(tc.text, maxDetail)
	if failed {
		if detail == "" {
			detail = "failed"
		}
		return subject(tc) + ": error: " + detail
	}
	if detail == "" && len(tc.use.Diffs) > 0 {
		detail = plural(len(tc.use.Diffs), "edit")
	}
	if detail == "" {
		return subject(tc)
	}
	return subject(tc) + " (" + detail + ")"
}

func subject(tc *toolCall) string {
	if s := oneLine(tc.use.Title, maxSubject); s != "" {
		return s
	}
	return tc.use.Kind
}

// contentText is the first line of the first text block of a call's
// content, Markdown code fences left out (claude-agent-acp wraps output in
// them).
func contentText(content []schema.ToolCallContent) string {
	for _, c := range content {
		if c.Content != nil && c.Content.Content.Text != nil {
			if line := oneLine(unfenced(c.Content.Content.Text.Text), maxDetail); line != "" {
				return line
			}
		}
	}
	return ""
}

// unfenced is s without its lines that open or close a code block.
func unfenced(s string) string {
	if !strings.Contains(s, "```") {
		return s
	}
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "```") {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// oneLine is the first line of s with text, trimmed, cut to max runes.
func oneLine(s string, max int) string {
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !utf8.ValidString(line) {
			line = strings.ToValidUTF8(line, "�")
		}
		if utf8.RuneCountInString(line) > max {
			r := []rune(line)
			line = string(r[:max-1]) + "…"
		}
		return line
	}
	return ""
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func locations(list []schema.ToolCallLocation) []backends.Location {
	out := make([]backends.Location, 0, len(list))
	for _, l := range list {
		loc := backends.Location{Path: l.Path}
		if l.Line != nil {
			loc.Line = *l.Line
		}
		out = append(out, loc)
	}
	return out
}

func diffsOf(content []schema.ToolCallContent) []backends.Diff {
	var out []backends.Diff
	for _, c := range content {
		if d := c.Diff; d != nil {
			out = append(out, backends.Diff{Path: d.Path, OldText: d.OldText, NewText: d.NewText})
		}
	}
	return out
}

func sameDiff(a, b backends.Diff) bool {
	return a.Path == b.Path && a.NewText == b.NewText && (a.OldText == nil) == (b.OldText == nil) &&
		(a.OldText == nil || *a.OldText == *b.OldText)
}

// planEntries maps a plan.
func planEntries(list []schema.PlanEntry) []backends.PlanEntry {
	out := make([]backends.PlanEntry, 0, len(list))
	for _, e := range list {
		out = append(out, backends.PlanEntry{Content: e.Content, Priority: string(e.Priority), Status: string(e.Status)})
	}
	return out
}
