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
	s.events = append(s.events, "toolUse:"+u.ID+":"+u.Name)
}

func (s *fakeSink) ToolResult(r backends.ToolResult) {
	s.results = append(s.results, toolResultEvent{r.ID, r.Name, r.Summary, r.IsError})
	s.events = append(s.events, "toolResult:"+r.ID+":"+r.Summary)
}

func (s *fakeSink) Plan([]backends.PlanEntry)   { s.events = append(s.events, "plan") }
func (s *fakeSink) Usage(backends.ContextUsage) { s.events = append(s.events, "usage") }
func (s *fakeSink) Commands([]backends.Command) { s.events = append(s.events, "commands") }
func (s *fakeSink) Progress(detail string)      { s.events = append(s.events, "progress:"+detail) }

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
