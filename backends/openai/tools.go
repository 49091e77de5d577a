package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/tether-dev/tether/backends"
)

// toolParams turns the tools the editor declared into the request's tools.
// A tool without parameters takes an empty object; parameters that are not
// a JSON object are the client's mistake and fail the session's start.
func toolParams(tools []backends.Tool) ([]tool, error) {
	out := make([]tool, 0, len(tools))
	for _, t := range tools {
		params := json.RawMessage(`{"type":"object","properties":{}}`)
		if raw := bytes.TrimSpace(t.Parameters); len(raw) > 0 && string(raw) != "null" {
			if raw[0] != '{' || !json.Valid(raw) {
				return nil, fmt.Errorf("tool %q: parameters must be a JSON Schema object, got %.80s", t.Name, raw)
			}
			params = raw
		}
		out = append(out, tool{Type: "function", Function: functionDef{Name: t.Name, Description: t.Description, Parameters: params}})
	}
	return out, nil
}

// toolOutcome is what one tool call produced: the tool message for the
// model, and the one-line summary for the editor.
type toolOutcome struct {
	content string
	summary string
	isError bool
}

// runTools runs the calls of one model response in order, from Query's
// goroutine, and appends one tool message per call to the history, so the
// history stays a valid conversation whatever happens. It reports whether
// the turn was cancelled meanwhile; calls not yet run then get a tool
// message saying so, and the editor hears nothing more.
func (c *conn) runTools(ctx context.Context, calls []*toolCall, sink backends.Sink) (cancelled bool) {
	for _, call := range calls {
		if ctx.Err() != nil {
			c.appendToolMessage(call.id, "Not run: the user interrupted the turn.")
			continue
		}
		out, ok := c.runTool(ctx, call, sink)
		if !ok {
			c.appendToolMessage(call.id, "Interrupted: the user cancelled the turn while the tool ran.")
			continue
		}
		c.appendToolMessage(call.id, out.content)
		sink.ToolResult(backends.ToolResult{ID: call.id, Name: call.name, Summary: out.summary, IsError: out.isError})
	}
	return ctx.Err() != nil
}

// runTool runs one call. Calls the model got wrong (a tool nobody declared,
// arguments that are not a JSON object) and calls the editor failed go
// back to the model as errors it can act on; ok is false only when ctx
// ended while the editor ran the tool.
func (c *conn) runTool(ctx context.Context, call *toolCall, sink backends.Sink) (out toolOutcome, ok bool) {
	args, valid := call.arguments()
	switch {
	case !c.declared[call.name]:
		c.log.Debug("model called an undeclared tool", "tool", call.name)
		return toolOutcome{
			content: fmt.Sprintf("Error: there is no tool named %q. %s", call.name, c.toolList()),
			summary: call.name + ": not a declared tool",
			isError: true,
		}, true
	case !valid:
		c.log.Debug("model sent tool arguments that are not a JSON object", "tool", call.name)
		return toolOutcome{
			content: fmt.Sprintf("Error: the arguments of %s are not a valid JSON object: %s\nCall the tool again with a JSON object that matches its parameters.",
				call.name, cut(call.args.String(), 200)),
			summary: call.name + ": arguments are not valid JSON",
			isError: true,
		}, true
	}
	res, err := sink.CallTool(ctx, backends.ToolCall{ToolUseID: call.id, Name: call.name, Arguments: args})
	if ctx.Err() != nil {
		return toolOutcome{}, false
	}
	if err != nil {
		c.log.Debug("tool call failed", "tool", call.name, "err", err)
		return toolOutcome{
			content: "Error: the tool call failed: " + err.Error(),
			summary: call.name + " failed: " + firstLine(err.Error()),
			isError: true,
		}, true
	}
	content := res.Content
	if strings.TrimSpace(content) == "" {
		content = "(no output)"
	}
	// Chat Completions has no error flag on tool messages: say it in words.
	if res.IsError {
		content = "Error: " + content
	}
	return toolOutcome{content: content, summary: call.name + ": " + firstLine(res.Content), isError: res.IsError}, true
}

// toolList tells the model which tools exist, after it called one that
// does not.
func (c *conn) toolList() string {
	if len(c.declared) == 0 {
		return "No tools are available."
	}
	names := make([]string, 0, len(c.declared))
	for n := range c.declared {
		names = append(names, n)
	}
	sort.Strings(names)
	return "Available tools: " + strings.Join(names, ", ") + "."
}

func (c *conn) appendToolMessage(id, content string) {
	c.history = append(c.history, toolMessage(content, id))
}

// assistantMessage is the model's reply as it goes into the history: its
// text, and its tool calls with the arguments as sent, except arguments
// that are not a JSON object, which become {} (servers such as Ollama
// reject a history they cannot parse; the tool message that answers the
// call quotes what the model sent).
func assistantMessage(text string, calls []*toolCall) message {
	m := message{Role: roleAssistant}
	if text != "" || len(calls) == 0 {
		m.Content = textContent(text)
	}
	for _, call := range calls {
		args, valid := call.arguments()
		if !valid {
			args = json.RawMessage("{}")
		}
		m.ToolCalls = append(m.ToolCalls, toolCallParam{
			ID:       call.id,
			Type:     "function",
			Function: functionCall{Name: call.name, Arguments: string(args)},
		})
	}
	return m
}

// firstLine is the first non-empty line of s, cut to 80 runes.
func firstLine(s string) string {
	s = strings.TrimSpace(s)
	s, _, _ = strings.Cut(s, "\n")
	return cut(s, 80)
}

// cut shortens s to at most n runes, marking the cut.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
