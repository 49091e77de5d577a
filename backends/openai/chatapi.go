package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The wire types of the Chat Completions API, cut down to what the backend
// sends and reads. Messages are also what the session store keeps (see
// conn.load and conn.save), so their JSON must stay what
// testdata/history-v1.json holds: the shape the openai-go SDK wrote before
// these types replaced it, which is also the shape the API accepts.

// chatRequest is the body of POST {baseURL}/chat/completions.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []message     `json:"messages"`
	Tools         []tool        `json:"tools,omitempty"`
	Stream        bool          `json:"stream"`
	StreamOptions streamOptions `json:"stream_options"`
}

type streamOptions struct {
	// IncludeUsage asks for a last chunk with the request's token usage.
	IncludeUsage bool `json:"include_usage"`
}

// tool is a function the model may call.
type tool struct {
	Type     string      `json:"type"` // always "function"
	Function functionDef `json:"function"`
}

type functionDef struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Parameters is a JSON Schema object, passed on as the editor wrote it.
	Parameters json.RawMessage `json:"parameters"`
}

// Message roles.
const (
	roleSystem    = "system"
	roleDeveloper = "developer"
	roleUser      = "user"
	roleAssistant = "assistant"
	roleTool      = "tool"
)

// message is one message of the conversation, of any role: which fields
// are set depends on the role, as in the API.
type message struct {
	Role string `json:"role"`
	// Content is absent in an assistant message that only calls tools.
	Content    content         `json:"content,omitzero"`
	ToolCalls  []toolCallParam `json:"tool_calls,omitempty"` // assistant
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

// errNotAMessage is stored JSON that is not a chat message.
var errNotAMessage = errors.New("not a chat message")

// UnmarshalJSON decodes a message and checks it has a role the API knows,
// so that a corrupt store fails the session's start rather than its first
// request.
func (m *message) UnmarshalJSON(data []byte) error {
	type plain message // without this method
	var p plain
	if err := json.Unmarshal(data, &p); err != nil {
		return err
	}
	switch p.Role {
	case roleSystem, roleDeveloper, roleUser, roleAssistant, roleTool:
	default:
		return fmt.Errorf("%w: role %q", errNotAMessage, p.Role)
	}
	*m = message(p)
	return nil
}

// content is a message's content: a string, or a list of parts (text and
// images) in a user message.
type content struct {
	set   bool // false: the message has no content field
	text  string
	parts []contentPart // when non-nil, the content is these parts
}

func textContent(s string) content { return content{set: true, text: s} }

func partsContent(p []contentPart) content {
	if p == nil {
		p = []contentPart{}
	}
	return content{set: true, parts: p}
}

// IsZero reports whether the content is absent, for omitzero.
func (c content) IsZero() bool { return !c.set }

func (c content) MarshalJSON() ([]byte, error) {
	if c.parts != nil {
		return json.Marshal(c.parts)
	}
	return json.Marshal(c.text)
}

func (c *content) UnmarshalJSON(data []byte) error {
	switch data = bytes.TrimSpace(data); {
	case bytes.Equal(data, []byte("null")):
		*c = content{}
		return nil
	case len(data) > 0 && data[0] == '[':
		var p []contentPart
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("content parts: %w", err)
		}
		*c = partsContent(p)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("content is neither a string nor a list of parts: %w", err)
	}
	*c = textContent(s)
	return nil
}

// contentPart is one part of a user message: text, or an image by URL
// (a data: URL for an image the editor sent inline).
type contentPart struct {
	Type     string    `json:"type"` // "text" or "image_url"
	Text     string    `json:"text"`
	ImageURL *imageURL `json:"image_url,omitempty"`
}

type imageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// MarshalJSON writes a text part with its text and an image part without
// one, as the API wants them.
func (p contentPart) MarshalJSON() ([]byte, error) {
	if p.Type == "text" {
		return json.Marshal(struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{p.Type, p.Text})
	}
	return json.Marshal(struct {
		Type     string    `json:"type"`
		ImageURL *imageURL `json:"image_url,omitempty"`
	}{p.Type, p.ImageURL})
}

// toolCallParam is a tool call of an assistant message in the history.
type toolCallParam struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // always "function"
	Function functionCall `json:"function"`
}

type functionCall struct {
	Name string `json:"name"`
	// Arguments is the JSON object of the arguments, as text.
	Arguments string `json:"arguments"`
}

func systemMessage(text string) message {
	return message{Role: roleSystem, Content: textContent(text)}
}

func toolMessage(text, callID string) message {
	return message{Role: roleTool, Content: textContent(text), ToolCallID: callID}
}

// chunk is one event of a streamed response: a chat.completion.chunk, the
// usage chunk, or an error. Only the fields the backend uses are decoded.
type chunk struct {
	Choices []choice `json:"choices"`
	Usage   *usage   `json:"usage"`
	// Error is set on an error event: some servers report a failure
	// inside a stream that started well.
	Error json.RawMessage `json:"error"`
}

type choice struct {
	Index        int64  `json:"index"`
	Delta        delta  `json:"delta"`
	FinishReason string `json:"finish_reason"`
}

type delta struct {
	Content string `json:"content"`
	Refusal string `json:"refusal"`
	// Reasoning is not part of the OpenAI schema: DeepSeek and vLLM send
	// reasoning_content, Ollama and OpenRouter send reasoning.
	ReasoningContent lenientString  `json:"reasoning_content"`
	Reasoning        lenientString  `json:"reasoning"`
	ToolCalls        []toolCallFrag `json:"tool_calls"`
}

// toolCallFrag is a fragment of a streamed tool call: the first of a call
// carries its id and name, the rest pieces of its arguments.
type toolCallFrag struct {
	Index    int64  `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type usage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

// chunkDecoder decodes the events of one stream into one reused chunk,
// so that a token costs no allocation but its text: json.Unmarshal would
// make new decoding state for every event, and encoding/json does not zero
// the reused elements of a slice, which decode does.
type chunkDecoder struct {
	src   eventData
	dec   *json.Decoder // reads src; keeps its state from event to event
	chunk chunk
}

func newChunkDecoder() *chunkDecoder {
	d := &chunkDecoder{}
	d.dec = json.NewDecoder(&d.src)
	return d
}

// decode decodes one event's data. The chunk is valid until the next call.
func (d *chunkDecoder) decode(data []byte) (*chunk, error) {
	c := &d.chunk
	clear(c.Choices[:cap(c.Choices)])
	*c = chunk{Choices: c.Choices[:0]}
	d.src.data = data
	if err := d.dec.Decode(c); err != nil {
		return nil, err
	}
	return c, nil
}

// eventData feeds the data of the current event to the json.Decoder. A
// chunk is one JSON object, which the decoder reads to its end and no
// further; wanting more than the event has means the object is cut off.
type eventData struct{ data []byte }

func (e *eventData) Read(p []byte) (int, error) {
	if len(e.data) == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, e.data)
	e.data = e.data[n:]
	return n, nil
}

// lenientString is a string field that servers outside the schema may
// fill with anything: a value that is not a JSON string reads as "".
type lenientString string

func (s *lenientString) UnmarshalJSON(data []byte) error {
	if len(data) == 0 || data[0] != '"' {
		*s = ""
		return nil
	}
	var v string
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*s = lenientString(v)
	return nil
}
