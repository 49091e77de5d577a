package openai

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/tether-dev/tether/backends"
)

// reply is what one streamed model response amounts to: the text the user
// saw, the tool calls the model asked for, why it stopped and what it cost.
type reply struct {
	text     strings.Builder
	calls    []*toolCall
	chunks   int    // chunks received
	finish   string // finish_reason of choice 0; "" if the stream never said
	refusal  bool
	usage    openai.CompletionUsage
	hasUsage bool
}

// toolCall is one tool call, accumulated from its fragments.
type toolCall struct {
	id   string
	name string
	args strings.Builder
}

// stream sends one request and reads its response to the end, passing
// text and reasoning to sink as they arrive. It runs on the goroutine of
// Query and starts none of its own: the SDK reads the body on this
// goroutine, and cancelling ctx aborts the HTTP request and so the read.
//
// The error is the SDK's (API status, transport, a stream error event);
// a stream that ended without a finish_reason is reported by the caller,
// which knows what was received.
func stream(ctx context.Context, client *openai.Client, params openai.ChatCompletionNewParams, watchdog time.Duration, sink backends.Sink) (*reply, error) {
	// The idle watchdog aborts a stream that goes silent. It is stopped
	// while a chunk is handed to the sink, so a slow editor never makes a
	// healthy server look stalled.
	// Until the response's headers arrive, the transport's
	// ResponseHeaderTimeout is the watchdog.
	sctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	s := client.Chat.Completions.NewStreaming(sctx, params)
	defer s.Close()
	idle := time.AfterFunc(watchdog, func() { abort(errStalled) })
	defer idle.Stop()
	r := &reply{}
	byIndex := make(map[int64]*toolCall)
	for s.Next() {
		idle.Stop()
		chunk := s.Current()
		r.chunks++
		if chunk.JSON.Usage.Valid() {
			r.usage, r.hasUsage = chunk.Usage, true
		}
		// Only choice 0 exists: the request never asks for n > 1. Some
		// servers send "choices": null in the usage chunk; ranging over
		// the nil slice handles that too.
		for _, choice := range chunk.Choices {
			if choice.Index != 0 {
				continue
			}
			r.delta(choice.Delta, byIndex, sink)
			if choice.FinishReason != "" {
				r.finish = choice.FinishReason
			}
		}
		idle.Reset(watchdog)
	}
	if ctx.Err() == nil && errors.Is(context.Cause(sctx), errStalled) {
		return r, errStalled
	}
	return r, s.Err()
}

// errStalled is a stream that went without data for the watchdog period.
var errStalled = errors.New("stream stalled")

// delta applies one delta of choice 0.
func (r *reply) delta(d openai.ChatCompletionChunkChoiceDelta, byIndex map[int64]*toolCall, sink backends.Sink) {
	// Reasoning is not part of the OpenAI schema: DeepSeek and vLLM send
	// reasoning_content, Ollama and OpenRouter send reasoning.
	for _, key := range [...]string{"reasoning_content", "reasoning"} {
		if f, ok := d.JSON.ExtraFields[key]; ok {
			if text := rawJSONString(f.Raw()); text != "" {
				sink.Thinking(text)
			}
		}
	}
	if d.Content != "" {
		r.text.WriteString(d.Content)
		sink.Token(d.Content)
	}
	if d.Refusal != "" {
		r.refusal = true
		r.text.WriteString(d.Refusal)
		sink.Token(d.Refusal)
	}
	for _, frag := range d.ToolCalls {
		call := byIndex[frag.Index]
		// A fragment with a new id at a known index starts another call:
		// servers that send whole calls sometimes leave every index 0.
		if call == nil || (frag.ID != "" && call.id != "" && frag.ID != call.id) {
			call = &toolCall{}
			byIndex[frag.Index] = call
			r.calls = append(r.calls, call)
		}
		if frag.ID != "" {
			call.id = frag.ID
		}
		if frag.Function.Name != "" {
			call.name = frag.Function.Name
		}
		call.args.WriteString(frag.Function.Arguments)
	}
}

// arguments are the call's arguments as JSON, for the editor and the
// model: "{}" for none, the text itself when it is a JSON object, else the
// text as a JSON string (valid reports which).
func (c *toolCall) arguments() (args json.RawMessage, valid bool) {
	s := strings.TrimSpace(c.args.String())
	if s == "" {
		return json.RawMessage("{}"), true
	}
	if strings.HasPrefix(s, "{") && json.Valid([]byte(s)) {
		return json.RawMessage(s), true
	}
	quoted, _ := json.Marshal(s)
	return quoted, false
}
