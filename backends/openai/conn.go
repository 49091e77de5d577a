package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/tether-dev/tether/backends"
)

// Markers appended to a partial assistant message kept in the history, so
// the model knows on the next query that its reply was cut short.
const (
	markCancelled = "[interrupted by the user]"
	markBroken    = "[interrupted: the connection to the model broke off]"
)

// conn is one session's conversation. The session's actor owns it: Query
// runs on one goroutine at a time and Close once after the last Query, so
// nothing here is locked. It starts no goroutines; the client and its
// http.Client belong to the Backend and are shared.
type conn struct {
	b        *Backend
	opts     backends.Options
	tools    []tool
	declared map[string]bool // names of the tools the editor declared
	maxTurns int
	log      *slog.Logger

	// history is the whole conversation, sent with every request. Query
	// keeps it valid for the API whatever happens: every assistant tool
	// call is followed by its tool message.
	history []message
	calls   int // tool calls seen, to name those a server sent without id
	closed  bool
}

var _ backends.Conn = (*conn)(nil)

// errTruncated is a stream that ended without a finish_reason: the server
// went away, or is not speaking the streaming API.
var errTruncated = errors.New("stream ended before the model finished")

// Query implements [backends.Conn]: it adds the prompt to the history and
// asks the model until it stops calling tools, at most maxTurns times.
func (c *conn) Query(ctx context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	res := backends.Result{StopReason: backends.StopEndTurn}
	if c.closed {
		return res, fmt.Errorf("%w: openai: the session's connection is closed", backends.ErrFailed)
	}
	before := len(c.history)
	// Whatever of this turn stays in the history is stored when it ends.
	defer c.save(before)
	c.history = append(c.history, userMessage(turn.Prompt))
	model := c.b.modelFor(c.opts, turn)

	for round := 1; ; round++ {
		r, err := stream(ctx, c.b.client, c.request(model), c.b.cfg.Watchdog, sink)
		res.NumTurns = round
		addUsage(&res.Usage, r)
		if ctx.Err() != nil {
			// Abandoned tool calls are dropped: they never ran.
			c.keepPartial(r.text.String(), markCancelled)
			res.StopReason = backends.StopCancelled
			return res, nil
		}
		if err != nil && r.finish != "" {
			// The reply is complete; only the usage chunk or [DONE] is
			// missing. Failing the turn would throw away a whole answer.
			c.log.Warn("stream ended badly after the model finished; keeping the reply", "err", err)
			err = nil
		}
		if err == nil && r.finish == "" {
			err = errTruncated
		}
		if err != nil {
			if round == 1 && r.text.Len() == 0 {
				// Nothing of this query reached the user: forget the
				// prompt, so that asking again does not repeat it.
				c.history = c.history[:before]
			} else {
				c.keepPartial(r.text.String(), markBroken)
			}
			return res, c.b.failure(err, model, r)
		}

		// Every call needs an id of its own, to pair it with its tool
		// message; some local servers send none, or the same one twice.
		seen := make(map[string]bool, len(r.calls))
		for _, call := range r.calls {
			c.calls++
			if call.id == "" || seen[call.id] {
				call.id = fmt.Sprintf("call_tether_%d", c.calls)
			}
			seen[call.id] = true
		}
		c.history = append(c.history, assistantMessage(r.text.String(), r.calls))
		if len(r.calls) == 0 {
			res.StopReason = stopReason(r)
			return res, nil
		}
		for _, call := range r.calls {
			args, _ := call.arguments()
			sink.ToolUse(backends.ToolUse{ID: call.id, Name: call.name, Input: args, Kind: backends.KindOther, Title: call.name})
		}
		if c.runTools(ctx, r.calls, sink) {
			res.StopReason = backends.StopCancelled
			return res, nil
		}
		if round >= c.maxTurns {
			// The tool results stay in the history: the next query's
			// request carries them.
			res.StopReason = backends.StopMaxTurns
			return res, nil
		}
	}
}

// request is the request for the current history.
func (c *conn) request(model string) *chatRequest {
	return &chatRequest{
		Model:         model,
		Messages:      c.history,
		Tools:         c.tools,
		Stream:        true,
		StreamOptions: streamOptions{IncludeUsage: true},
	}
}

// keepPartial keeps the text of a reply that was cut short, marked as
// such; an empty one leaves no trace.
func (c *conn) keepPartial(text, mark string) {
	if text == "" {
		return
	}
	c.history = append(c.history, assistantMessage(text+"\n\n"+mark, nil))
}

// load appends the session's stored conversation (Options.History) to the
// history, after the system prompt.
func (c *conn) load() error {
	if c.opts.History == nil {
		return nil
	}
	msgs, err := c.opts.History.Load()
	if err != nil {
		return fmt.Errorf("loading the session's stored conversation: %w", err)
	}
	for i, raw := range msgs {
		var m message
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("the session's stored conversation: message %d is not a chat message: %w", i+1, err)
		}
		c.history = append(c.history, m)
	}
	if len(msgs) > 0 {
		c.log.Info("continuing a stored conversation", "messages", len(msgs))
	}
	return nil
}

// save stores the messages the history gained from index from on: those
// of the turn that ended. A store that fails is logged and does not fail
// the turn: the conversation goes on from memory, and only a later
// restart misses the turn.
func (c *conn) save(from int) {
	if c.opts.History == nil || from >= len(c.history) {
		return
	}
	msgs := make([]json.RawMessage, 0, len(c.history)-from)
	for _, m := range c.history[from:] {
		raw, err := json.Marshal(m)
		if err != nil {
			c.log.Error("storing the turn's messages: encoding one failed", "err", err)
			return
		}
		msgs = append(msgs, raw)
	}
	if err := c.opts.History.Append(msgs...); err != nil {
		c.log.Error("storing the turn's messages failed; the session goes on from memory, but after a restart it will not remember this turn", "err", err)
	}
}

// Close implements [backends.Conn]. It drops the history; there is nothing
// to stop, since the conn has no goroutines and the HTTP client is shared.
func (c *conn) Close(context.Context) error {
	c.history = nil
	c.closed = true
	return nil
}

// stopReason maps the finish_reason of the last response.
func stopReason(r *reply) string {
	switch {
	case r.refusal, r.finish == "content_filter":
		return backends.StopRefusal
	case r.finish == "length":
		return backends.StopMaxTokens
	}
	return backends.StopEndTurn
}

// addUsage adds one response's usage to the turn's.
func addUsage(u *backends.Usage, r *reply) {
	if r == nil || !r.hasUsage {
		return
	}
	u.InputTokens += r.usage.PromptTokens
	u.OutputTokens += r.usage.CompletionTokens
	u.CacheReadTokens += r.usage.PromptTokensDetails.CachedTokens
}

// userMessage is a prompt as a user message: plain text, or text and image
// parts when it carries images (models without vision answer 400, which
// names the problem).
func userMessage(prompt []backends.Content) message {
	if !backends.HasImages(prompt) {
		return message{Role: roleUser, Content: textContent(backends.PromptText(prompt))}
	}
	var parts []contentPart
	if text := backends.PromptText(prompt); text != "" {
		parts = append(parts, contentPart{Type: "text", Text: text})
	}
	for _, c := range prompt {
		if c.Type != backends.ContentImage {
			continue
		}
		url := c.URI
		if c.Data != "" {
			url = "data:" + c.MimeType + ";base64," + c.Data
		}
		parts = append(parts, contentPart{Type: "image_url", ImageURL: &imageURL{URL: url}})
	}
	return message{Role: roleUser, Content: partsContent(parts)}
}
