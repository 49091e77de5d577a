package acpagent

import (
	"unicode/utf8"

	"github.com/tether-dev/tether/internal/jsonwire"
)

// The chunk fast path. An agent streams its answer as one session/update
// per delta, thousands a turn, each of this shape (members in any order):
//
//	{"sessionId":"…","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"…"}}}
//
// chunkOf reads that with one pass over the bytes and no reflection
// (jsonwire.Scanner); encoding/json takes two passes (validation, then
// decoding) per Unmarshal, and the general path needs two Unmarshals. Anything else, or
// anything surprising, reports !ok and goes the general way, which is
// then also what reports a malformed message.

// chunk is what chunkOf reads.
type chunk struct {
	sessionID string
	thought   bool // agent_thought_chunk, else agent_message_chunk
	text      string
}

// chunkOf reads a text chunk's params; ok is false for anything else. Keys
// are matched exactly, as ACP names them (a key in another case is skipped,
// and the chunk then lacks that member); text with invalid UTF-8 is left to
// the general path.
func chunkOf(params []byte) (c chunk, ok bool) {
	s := jsonwire.Scanner{B: params}
	var kind, typ string
	var gotText bool
	for more := s.Enter(); more; more = s.More() {
		switch string(s.Key()) {
		case "sessionId":
			c.sessionID = string(s.Str())
		case "update":
			for more := s.Enter(); more; more = s.More() {
				switch string(s.Key()) {
				case "sessionUpdate":
					kind = name(s.Str())
				case "content":
					for more := s.Enter(); more; more = s.More() {
						switch string(s.Key()) {
						case "type":
							typ = name(s.Str())
						case "text":
							start := s.I
							c.text, gotText = string(s.Str()), true
							if !utf8.Valid(s.B[start:s.I]) {
								s.Fail()
							}
						default:
							s.Skip(2)
						}
					}
				default:
					s.Skip(1)
				}
			}
		default:
			s.Skip(0)
		}
	}
	if !s.AtEnd() || c.sessionID == "" || !gotText || typ != "text" {
		return chunk{}, false
	}
	switch kind {
	case "agent_message_chunk":
	case "agent_thought_chunk":
		c.thought = true
	default:
		return chunk{}, false
	}
	return c, true
}

// name returns the constant for the names chunkOf compares, without
// allocating; any other name is "".
func name(v []byte) string {
	switch string(v) {
	case "agent_message_chunk":
		return "agent_message_chunk"
	case "agent_thought_chunk":
		return "agent_thought_chunk"
	case "text":
		return "text"
	}
	return ""
}
