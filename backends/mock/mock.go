// Package mock is Tether's built-in backend: deterministic, credential-free
// and scriptable from the prompt, so newcomers, plugin authors and the test
// suite can drive every path of the protocol without an agent.
//
// A prompt is read line by line. A plain line streams back word by word, one
// word per token (the first word of a later line carries the newline). A
// line that starts with a directive scripts the turn instead:
//
//	/tokens N          stream N tokens ("tok1", " tok2", ...)
//	/think TEXT        stream TEXT as thinking
//	/progress TEXT     report progress (a busy status with TEXT as detail)
//	/tool NAME JSON    ask to run tool NAME with input JSON; on allow report a
//	                   made-up result, on deny an error with the reason
//	/calltool NAME JSON ask the editor to run its declared tool NAME
//	/sleep MS          pause MS milliseconds (cancellable)
//	/stop REASON       end the turn now with stop reason REASON
//	/fail MESSAGE      fail the turn with MESSAGE
//
// protocol.md documents the same directives for clients.
package mock

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/permissions"
)

// Name is the name clients select the mock backend by.
const Name = "mock"

// Backend is the mock backend. The zero value is ready to use.
type Backend struct{}

var _ backends.Backend = Backend{}

// Name implements [backends.Backend].
func (Backend) Name() string { return Name }

// Available implements [backends.Backend]: the mock is always available.
func (Backend) Available() (bool, string) {
	return true, "built in; scripted from the prompt (see protocol.md)"
}

// Info implements [backends.Backend]: one model and no modes worth
// choosing; images are accepted (and described in the answer, see
// /echo-images), so clients can test image prompts without an agent.
func (Backend) Info() backends.Info {
	return backends.Info{
		Models: []backends.Choice{{ID: Name, Name: "Mock", Description: "scripted from the prompt"}},
		Modes:  []backends.Choice{{ID: "default", Name: "Default"}},
		Images: true,
	}
}

// Open implements [backends.Backend].
func (Backend) Open(_ context.Context, opts backends.Options) (backends.Conn, error) {
	return &conn{opts: opts}, nil
}

// conn is one session of the mock. It has no goroutines and holds nothing
// but counters, so Close has nothing to stop.
type conn struct {
	opts     backends.Options
	toolUses int
}

func (c *conn) Close(context.Context) error { return nil }

// Query runs the script in turn.Prompt.
func (c *conn) Query(ctx context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	t := &run{conn: c, ctx: ctx, sink: sink}
	res := backends.Result{StopReason: backends.StopEndTurn}
	prompt := backends.PromptText(turn.Prompt)
	res.Usage.InputTokens = int64(len(strings.Fields(prompt)))
	for _, c := range turn.Prompt {
		if c.Type == backends.ContentImage {
			// The mock cannot see; it says what it was shown, so clients
			// can check images arrive.
			prompt = "image " + c.MimeType + " " + strconv.Itoa(len(c.Data)) + " base64 bytes\n" + prompt
		}
	}
	stop, err := t.script(prompt)
	res.Usage.OutputTokens = int64(t.tokens)
	if ctx.Err() != nil {
		res.StopReason = backends.StopCancelled
		return res, nil
	}
	if err != nil {
		return res, err
	}
	if stop != "" {
		res.StopReason = stop
	}
	return res, nil
}

// run is the state of one turn's script.
type run struct {
	*conn
	ctx     context.Context
	sink    backends.Sink
	tokens  int
	lines   int    // plain lines streamed so far
	scratch []byte // numbered's buffer
}

// script runs the prompt's lines in order. It returns a stop reason set by
// /stop, or an error that fails the turn.
func (t *run) script(prompt string) (stop string, err error) {
	for _, line := range strings.Split(prompt, "\n") {
		if t.ctx.Err() != nil {
			return "", nil
		}
		directive, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		arg = strings.TrimSpace(arg)
		switch directive {
		case "":
			continue
		case "/tokens":
			n, err := strconv.Atoi(arg)
			if err != nil || n < 0 {
				return "", fmt.Errorf("%w: mock: /tokens wants a count, got %q", backends.ErrFailed, arg)
			}
			for i := 1; i <= n && t.ctx.Err() == nil; i++ {
				t.numbered(i)
			}
			t.lines++
		case "/think":
			t.sink.Thinking(arg)
		case "/progress":
			t.sink.Progress(arg)
		case "/tool":
			if err := t.tool(arg); err != nil {
				return "", err
			}
		case "/calltool":
			if err := t.callTool(arg); err != nil {
				return "", err
			}
		case "/sleep":
			ms, err := strconv.Atoi(arg)
			if err != nil || ms < 0 {
				return "", fmt.Errorf("%w: mock: /sleep wants milliseconds, got %q", backends.ErrFailed, arg)
			}
			timer := time.NewTimer(time.Duration(ms) * time.Millisecond)
			select {
			case <-timer.C:
			case <-t.ctx.Done():
				timer.Stop()
			}
		case "/stop":
			if arg == "" {
				arg = backends.StopEndTurn
			}
			return arg, nil
		case "/fail":
			if arg == "" {
				arg = "scripted failure"
			}
			return "", fmt.Errorf("%w: %s", backends.ErrFailed, arg)
		default:
			t.plain(line)
		}
	}
	return "", nil
}

// plain streams a line back one word per token.
func (t *run) plain(line string) {
	for i, w := range strings.Fields(line) {
		if t.ctx.Err() != nil {
			return
		}
		t.token(w, i == 0)
	}
	t.lines++
}

// token sends one word. The first word of a line is preceded by a newline
// when text was already sent; every other word by a space.
func (t *run) token(word string, firstOfLine bool) {
	switch {
	case t.tokens == 0:
	case firstOfLine && t.lines > 0:
		word = "\n" + word
	default:
		word = " " + word
	}
	t.sink.Token(word)
	t.tokens++
}

// numbered sends the i-th token of /tokens, "tok<i>", as token does, in
// one allocation: the benchmarks stream millions of them.
func (t *run) numbered(i int) {
	b := t.scratch[:0]
	switch {
	case t.tokens == 0:
	case i == 1 && t.lines > 0:
		b = append(b, '\n')
	default:
		b = append(b, ' ')
	}
	b = strconv.AppendInt(append(b, "tok"...), int64(i), 10)
	t.scratch = b
	t.sink.Token(string(b))
	t.tokens++
}

// splitToolArg splits "NAME JSON" and checks the JSON.
func splitToolArg(directive, arg string) (string, json.RawMessage, error) {
	name, input, _ := strings.Cut(arg, " ")
	input = strings.TrimSpace(input)
	if input == "" {
		input = "{}"
	}
	if name == "" || !json.Valid([]byte(input)) {
		return "", nil, fmt.Errorf("%w: mock: %s wants NAME JSON, got %q", backends.ErrFailed, directive, arg)
	}
	return name, json.RawMessage(input), nil
}

func (t *run) nextToolUseID() string {
	t.toolUses++
	return fmt.Sprintf("toolu_mock_%d", t.toolUses)
}

// tool plays an agent that asks before it runs a tool.
func (t *run) tool(arg string) error {
	name, input, err := splitToolArg("/tool", arg)
	if err != nil {
		return err
	}
	id := t.nextToolUseID()
	t.sink.ToolUse(backends.ToolUse{ID: id, Name: name, Input: input, Kind: kindOf(name), Title: name})
	// What "always" adds: Bash(ls:*) for a command, else the exact input
	// (none when the input has no canonical form).
	rule, _ := permissions.For(name, input)
	p := t.sink.AskPermission(backends.PermissionRequest{ToolName: name, ToolInput: input, ToolUseID: id, Rule: rule.String()})
	select {
	case d := <-p.Decision:
		if t.ctx.Err() != nil {
			return nil // the turn was cancelled; its requests are void
		}
		if !d.Allow {
			reason := d.Reason
			if reason == "" {
				reason = "denied"
			}
			t.sink.ToolResult(backends.ToolResult{ID: id, Name: name, Summary: name + " denied: " + reason, IsError: true})
			return nil
		}
		t.sink.ToolResult(backends.ToolResult{ID: id, Name: name, Summary: name + " ran (mock result)"})
	case <-t.ctx.Done():
		// The session withdraws the request when the turn ends; the tool
		// never runs.
	}
	return nil
}

// callTool plays an agent calling a tool the editor declared and runs.
func (t *run) callTool(arg string) error {
	name, input, err := splitToolArg("/calltool", arg)
	if err != nil {
		return err
	}
	id := t.nextToolUseID()
	t.sink.ToolUse(backends.ToolUse{ID: id, Name: name, Input: input, Kind: backends.KindOther, Title: name})
	out, err := t.sink.CallTool(t.ctx, backends.ToolCall{ToolUseID: id, Name: name, Arguments: input})
	if t.ctx.Err() != nil {
		return nil
	}
	if err != nil {
		t.sink.ToolResult(backends.ToolResult{ID: id, Name: name, Summary: name + " failed: " + err.Error(), IsError: true})
		return nil
	}
	t.sink.ToolResult(backends.ToolResult{ID: id, Name: name, Summary: name + ": " + firstLine(out.Content), IsError: out.IsError})
	return nil
}

// kindOf guesses a tool's kind from its name, as a dialect would show it.
func kindOf(name string) string {
	switch strings.ToLower(name) {
	case "bash", "shell", "exec":
		return backends.KindExecute
	case "read", "cat":
		return backends.KindRead
	case "edit", "write":
		return backends.KindEdit
	}
	return backends.KindOther
}

// firstLine is the first line of s, cut to 80 runes.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if r := []rune(s); len(r) > 80 {
		s = string(r[:79]) + "…"
	}
	return s
}
