package claude

import (
	"bytes"
	"encoding/json"
)

// message is one line of the CLI's stdout. The CLI writes many types; the
// fields of all the ones Tether reads are merged here and the rest is
// ignored, so a new field or type upstream never breaks decoding.
//
// The fields of the hot line, a stream_event with a delta, are values, not
// pointers: the stdout reader's fast path (lineDecoder) fills them without
// allocating anything but the delta's text. It falls back to the full
// decode for a line with any other field of message, so a field added here
// is decoded (slowly) from the start; teach the fast path about it only if
// it becomes hot.
type message struct {
	Type      string `json:"type"`
	Subtype   string `json:"subtype"`
	SessionID string `json:"session_id"`

	// stream_event (with --include-partial-messages); the zero value
	// when the line has none.
	Event streamEvent `json:"event"`

	// assistant, user
	Message *apiMessage `json:"message"`
	// ParentToolUseID is the Task tool call whose sub-agent wrote the
	// message; empty (null in the line) on the main thread.
	ParentToolUseID string          `json:"parent_tool_use_id"`
	ToolUseResult   json.RawMessage `json:"tool_use_result"`

	// system/init
	Model         string   `json:"model"`
	SlashCommands []string `json:"slash_commands"`
	// system/status ("compacting", "requesting" or null)
	Status string `json:"status"`
	// system/api_retry: the API failed and the CLI will retry it.
	Attempt      int  `json:"attempt"`
	MaxRetries   int  `json:"max_retries"`
	RetryDelayMS int  `json:"retry_delay_ms"`
	ErrorStatus  *int `json:"error_status"`
	// Error is an API failure's kind ("authentication_failed",
	// "rate_limit", ...), on api_retry and on the synthetic assistant
	// frame the CLI makes of a failed request.
	Error string `json:"error"`

	// result
	IsError      bool     `json:"is_error"`
	Result       string   `json:"result"`
	StopReason   string   `json:"stop_reason"`
	NumTurns     int      `json:"num_turns"`
	TotalCostUSD float64  `json:"total_cost_usd"`
	Usage        *usage   `json:"usage"`
	Errors       []string `json:"errors"`
	// ModelUsage is the process's usage per model, with each model's
	// context window.
	ModelUsage map[string]struct {
		ContextWindow int64 `json:"contextWindow"`
	} `json:"modelUsage"`

	// control_request (CLI → Tether), control_cancel_request
	RequestID string          `json:"request_id"`
	Request   json.RawMessage `json:"request"`
	// control_response (answer to Tether's request)
	Response *controlResponse `json:"response"`
}

// Message types and subtypes Tether acts on.
const (
	typeSystem         = "system"
	typeStreamEvent    = "stream_event"
	typeAssistant      = "assistant"
	typeUser           = "user"
	typeResult         = "result"
	typeControlRequest = "control_request"
	typeControlResp    = "control_response"
	typeControlCancel  = "control_cancel_request"
	// typeLongLine is Tether's own: a stdout line skipped for its size.
	typeLongLine = "tether_long_line"

	subtypeInit = "init"
)

// streamEvent is a raw Messages API streaming event passed through by the
// CLI. Only the fields of the events Tether acts on are kept.
type streamEvent struct {
	Type string `json:"type"`
	// Message is message_start's.
	Message eventMessage `json:"message"`
	// Delta is content_block_delta's (message_delta's has none of these
	// fields).
	Delta streamDelta `json:"delta"`
}

// eventMessage is the message of a message_start event.
type eventMessage struct {
	ID string `json:"id"`
}

// streamDelta is the delta of a content_block_delta event: text_delta,
// thinking_delta, input_json_delta (whose partial_json no one reads yet),
// signature_delta, citations_delta.
type streamDelta struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	Thinking string `json:"thinking"`
}

// apiMessage is the message of an assistant or user frame.
type apiMessage struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Content json.RawMessage
	Usage   *usage
}

// UnmarshalJSON keeps content raw: it is a string in user frames Tether
// wrote, and a list of blocks otherwise.
func (m *apiMessage) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID      string          `json:"id"`
		Model   string          `json:"model"`
		Content json.RawMessage `json:"content"`
		Usage   *usage          `json:"usage"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = apiMessage{ID: raw.ID, Model: raw.Model, Content: raw.Content, Usage: raw.Usage}
	return nil
}

// blocks decodes the content blocks; a string content (or none) has none.
func (m *apiMessage) blocks() []contentBlock {
	if m == nil || len(m.Content) == 0 || m.Content[0] != '[' {
		return nil
	}
	var blocks []contentBlock
	if err := json.Unmarshal(m.Content, &blocks); err != nil {
		return nil
	}
	return blocks
}

// contentBlock is one Messages API content block.
type contentBlock struct {
	Type string `json:"type"`
	// text
	Text string `json:"text"`
	// thinking
	Thinking string `json:"thinking"`
	// tool_use
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
	// tool_result
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

// resultText is a tool_result's content as text: a string, or the text
// blocks of a list joined.
func (b contentBlock) resultText() string {
	if len(b.Content) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(b.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(b.Content, &parts) != nil {
		return ""
	}
	var out []string
	for _, p := range parts {
		if p.Type == "text" {
			out = append(out, p.Text)
		}
	}
	return joinLines(out)
}

// usage is the token usage of a result.
type usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
}

// decodeLine decodes one stdout line in full, with encoding/json; the
// stdout reader's lineDecoder does the same faster for the hot lines. ok is
// false for a line that is not a JSON object (some CLI builds print debug
// text on stdout); an error means a line that looked like JSON and was not.
func decodeLine(line []byte) (m message, ok bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return message{}, false, nil
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return message{}, false, err
	}
	return m, true, nil
}

// handleLine runs on the supervisor's stdout reader, for each line in
// order; line is reused after it returns (the decoder copies what it
// keeps). It skips what is not a JSON object, answers control requests
// that no turn handles, and hands the rest to msgs until the process is
// being stopped, after which it only drains.
func (p *process) handleLine(line []byte) {
	dec := &p.dec
	m, ok, err := dec.decode(line)
	switch {
	case err != nil:
		p.log.Warn("claude wrote a line that is not valid JSON; skipped", "err", err, "line", truncate(string(line), 200))
		return
	case !ok:
		if len(bytes.TrimSpace(line)) > 0 {
			p.log.Debug("claude wrote a non-JSON line; skipped", "line", truncate(string(line), 200))
		}
		return
	}
	if m.Type == typeControlRequest && !handledInTurn(m) {
		// Answer at once: the CLI blocks its turn until it has a reply.
		p.refuseControlRequest(m)
		return
	}
	select {
	case p.msgs <- m:
	case <-p.stopping:
	}
}
