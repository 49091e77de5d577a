package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

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
	usage    usage
	hasUsage bool
}

// toolCall is one tool call, accumulated from its fragments.
type toolCall struct {
	id   string
	name string
	args strings.Builder
}

// streamError is an error event inside a stream that had started well.
type streamError struct {
	Message string
}

func (e *streamError) Error() string { return "error event in the stream: " + e.Message }

// stream sends one request and reads its response to the end, passing
// text and reasoning to sink as they arrive. It runs on the goroutine of
// Query and starts none of its own: the body is read on this goroutine,
// and cancelling ctx aborts the HTTP request and so the read.
//
// The error is the client's (an *APIError, a transport error), the body's
// (a connection that broke), a *streamError, or a chunk that is not JSON;
// a stream that ended without a finish_reason is reported by the caller,
// which knows what was received.
func stream(ctx context.Context, c *client, req *chatRequest, watchdog time.Duration, sink backends.Sink) (*reply, error) {
	r := &reply{}
	body, err := json.Marshal(req)
	if err != nil {
		return r, fmt.Errorf("encoding the request: %w", err)
	}
	// The idle watchdog aborts a stream that goes silent. It is stopped
	// while a chunk is handed to the sink, so a slow editor never makes a
	// healthy server look stalled.
	// Until the response's headers arrive, the transport's
	// ResponseHeaderTimeout is the watchdog.
	sctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	res, err := c.streamChat(sctx, body)
	if err != nil {
		return r, err
	}
	defer res.Body.Close()
	idle := time.AfterFunc(watchdog, func() { abort(errStalled) })
	defer idle.Stop()
	err = r.read(newSSEReader(res.Body), idle, watchdog, sink)
	if ctx.Err() == nil && errors.Is(context.Cause(sctx), errStalled) {
		return r, errStalled
	}
	return r, err
}

// read reads the events of a response until [DONE], an error event or the
// end of the body, which it reports as nil.
func (r *reply) read(events *sseReader, idle *time.Timer, watchdog time.Duration, sink backends.Sink) error {
	chunks := newChunkDecoder()
	byIndex := make(map[int64]*toolCall)
	for {
		data, err := events.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the stream: %w", err)
		}
		idle.Stop()
		if bytes.HasPrefix(data, []byte("[DONE]")) {
			return nil
		}
		ch, err := chunks.decode(data)
		if err != nil {
			return fmt.Errorf("decoding a stream event: %w: %s", err, cut(string(data), 200))
		}
		if ch.Error != nil && string(ch.Error) != "null" {
			msg, _, _, _ := errorObject(data)
			if msg == "" {
				msg = string(ch.Error)
			}
			return &streamError{Message: msg}
		}
		r.chunks++
		if ch.Usage != nil {
			r.usage, r.hasUsage = *ch.Usage, true
		}
		// Only choice 0 exists: the request never asks for n > 1. Some
		// servers send "choices": null in the usage chunk; ranging over
		// the empty slice handles that too.
		for i := range ch.Choices {
			choice := &ch.Choices[i]
			if choice.Index != 0 {
				continue
			}
			r.delta(&choice.Delta, byIndex, sink)
			if choice.FinishReason != "" {
				r.finish = choice.FinishReason
			}
		}
		idle.Reset(watchdog)
	}
}

// errStalled is a stream that went without data for the watchdog period.
var errStalled = errors.New("stream stalled")

// delta applies one delta of choice 0.
func (r *reply) delta(d *delta, byIndex map[int64]*toolCall, sink backends.Sink) {
	for _, text := range [...]lenientString{d.ReasoningContent, d.Reasoning} {
		if text != "" {
			sink.Thinking(string(text))
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
	for i := range d.ToolCalls {
		frag := &d.ToolCalls[i]
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
