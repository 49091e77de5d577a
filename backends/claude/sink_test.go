package claude

import (
	"context"
	"fmt"
	"strings"

	"github.com/tether-dev/tether/backends"
)

// fakeSink records a turn's events. It is used only from the goroutine
// running Query (as the contract says) and read by the test after Query
// returns. Permission requests are answered by onAsk, or held until
// answer or WithdrawPermission.
type fakeSink struct {
	events   []string // in order: "token:…", "thinking:…", "toolUse:…", "toolResult:…", "ask:…", "withdraw:…"
	tokens   strings.Builder
	thinking strings.Builder
	results  []toolResultEvent
	asks     []backends.PermissionRequest
	uses     []backends.ToolUse
	plans    [][]backends.PlanEntry
	usage    []backends.ContextUsage
	commands [][]backends.Command
	progress []string

	// onAsk decides a request at once when it returns true.
	onAsk func(req backends.PermissionRequest) (backends.Decision, bool)
	// onToken runs after each token (a test cancels from here).
	onToken func(text string)
	held    map[string]chan backends.Decision
	n       int
}

type toolResultEvent struct {
	ToolUseID, ToolName, Summary string
	IsError                      bool
}

var _ backends.Sink = (*fakeSink)(nil)

func (s *fakeSink) Token(text string) {
	s.tokens.WriteString(text)
	if len(text) > 100 {
		s.events = append(s.events, fmt.Sprintf("token:<%d bytes>", len(text)))
	} else {
		s.events = append(s.events, "token:"+text)
	}
	if s.onToken != nil {
		s.onToken(text)
	}
}

func (s *fakeSink) Thinking(text string) {
	s.thinking.WriteString(text)
	s.events = append(s.events, "thinking:"+text)
}

func (s *fakeSink) ToolUse(u backends.ToolUse) {
	s.uses = append(s.uses, u)
	s.events = append(s.events, "toolUse:"+u.ID+":"+u.Name)
}

func (s *fakeSink) ToolResult(r backends.ToolResult) {
	s.results = append(s.results, toolResultEvent{r.ID, r.Name, r.Summary, r.IsError})
	s.events = append(s.events, "toolResult:"+r.ID+":"+r.Summary)
}

// Plans, usage, commands and progress are kept apart from events, which
// the tests compare whole.
func (s *fakeSink) Plan(p []backends.PlanEntry)   { s.plans = append(s.plans, p) }
func (s *fakeSink) Usage(u backends.ContextUsage) { s.usage = append(s.usage, u) }
func (s *fakeSink) Commands(c []backends.Command) { s.commands = append(s.commands, c) }
func (s *fakeSink) Progress(detail string)        { s.progress = append(s.progress, detail) }

func (s *fakeSink) AskPermission(req backends.PermissionRequest) backends.Permission {
	s.n++
	id := fmt.Sprintf("perm-%d", s.n)
	ch := make(chan backends.Decision, 1)
	s.asks = append(s.asks, req)
	s.events = append(s.events, "ask:"+id+":"+req.ToolName)
	if s.onAsk != nil {
		if d, ok := s.onAsk(req); ok {
			ch <- d
			return backends.Permission{ID: id, Decision: ch}
		}
	}
	if s.held == nil {
		s.held = make(map[string]chan backends.Decision)
	}
	s.held[id] = ch
	return backends.Permission{ID: id, Decision: ch}
}

func (s *fakeSink) WithdrawPermission(requestID, reason string) {
	s.events = append(s.events, "withdraw:"+requestID+":"+reason)
	if ch, ok := s.held[requestID]; ok {
		delete(s.held, requestID)
		ch <- backends.Decision{Reason: reason}
	}
}

func (s *fakeSink) CallTool(context.Context, backends.ToolCall) (backends.ToolCallResult, error) {
	return backends.ToolCallResult{}, fmt.Errorf("the claude backend never calls editor tools")
}
