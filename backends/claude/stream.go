package claude

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// message is one line of the CLI's stdout. The CLI writes many types; the
// fields of all the ones Tether reads are merged here and the rest is
// ignored, so a new field or type upstream never breaks decoding.
type message struct {
	Type      string `json:"type"`
	Subtype   string `json:"subtype"`
	SessionID string `json:"session_id"`

	// stream_event (with --include-partial-messages)
	Event *streamEvent `json:"event"`

	// assistant, user
	Message         *apiMessage     `json:"message"`
	ParentToolUseID *string         `json:"parent_tool_use_id"`
	ToolUseResult   json.RawMessage `json:"tool_use_result"`

	// system/init
	Model string `json:"model"`

	// result
	IsError      bool     `json:"is_error"`
	Result       string   `json:"result"`
	StopReason   string   `json:"stop_reason"`
	NumTurns     int      `json:"num_turns"`
	TotalCostUSD float64  `json:"total_cost_usd"`
	Usage        *usage   `json:"usage"`
	Errors       []string `json:"errors"`

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

	subtypeInit = "init"
)

// streamEvent is a raw Messages API streaming event passed through by the
// CLI.
type streamEvent struct {
	Type    string `json:"type"`
	Message *struct {
		ID string `json:"id"`
	} `json:"message"`
	Delta *struct {
		Type     string `json:"type"`
		Text     string `json:"text"`
		Thinking string `json:"thinking"`
	} `json:"delta"`
}

// apiMessage is the message of an assistant or user frame.
type apiMessage struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Content json.RawMessage
}

// UnmarshalJSON keeps content raw: it is a string in user frames Tether
// wrote, and a list of blocks otherwise.
func (m *apiMessage) UnmarshalJSON(b []byte) error {
	var raw struct {
		ID      string          `json:"id"`
		Model   string          `json:"model"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = apiMessage{ID: raw.ID, Model: raw.Model, Content: raw.Content}
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

// decodeLine decodes one stdout line. ok is false for a line that is not a
// JSON object (some CLI builds print debug text on stdout); an error means
// a line that looked like JSON and was not.
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

// readStdout is the stdout reader goroutine (see process). It reads lines of
// any length, skips what is not a JSON object, answers control requests that
// no turn handles, and hands the rest to msgs until stop is called, after
// which it only drains. It closes msgs at the end of stdout.
func (p *process) readStdout(r io.Reader) {
	defer close(p.msgs)
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			p.handleLine(line)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.log.Warn("reading claude stdout", "err", err)
			}
			return
		}
	}
}

func (p *process) handleLine(line []byte) {
	m, ok, err := decodeLine(line)
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
	case <-p.closing:
	}
}
