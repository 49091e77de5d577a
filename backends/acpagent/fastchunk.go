package acpagent

import (
	"encoding/json"
	"unicode/utf8"
)

// The chunk fast path. An agent streams its answer as one session/update
// per delta, thousands a turn, each of this shape (members in any order):
//
//	{"sessionId":"…","update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"…"}}}
//
// chunkOf reads that with one pass over the bytes and no reflection;
// encoding/json takes two passes (validation, then decoding) per
// Unmarshal, and the general path needs two Unmarshals. Anything else, or
// anything surprising, reports !ok and goes the general way, which is
// then also what reports a malformed message.

// chunk is what chunkOf reads.
type chunk struct {
	sessionID string
	thought   bool // agent_thought_chunk, else agent_message_chunk
	text      string
}

// chunkOf reads a text chunk's params; ok is false for anything else.
func chunkOf(params []byte) (c chunk, ok bool) {
	s := jscan{b: params}
	var kind, typ []byte
	var text string
	var gotText bool
	s.object(func(key []byte) {
		switch string(key) {
		case "sessionId":
			c.sessionID = s.plainString()
		case "update":
			s.object(func(key []byte) {
				switch string(key) {
				case "sessionUpdate":
					kind = s.rawString()
				case "content":
					s.object(func(key []byte) {
						switch string(key) {
						case "type":
							typ = s.rawString()
						case "text":
							text, gotText = s.stringValue(), true
						default:
							s.skip(0)
						}
					})
				default:
					s.skip(0)
				}
			})
		default:
			s.skip(0)
		}
	})
	s.ws()
	if s.bad || s.i != len(s.b) || c.sessionID == "" || !gotText || string(typ) != "text" {
		return chunk{}, false
	}
	switch string(kind) {
	case "agent_message_chunk":
	case "agent_thought_chunk":
		c.thought = true
	default:
		return chunk{}, false
	}
	c.text = text
	return c, true
}

// jscan reads JSON from b at i. Any surprise sets bad; its results then
// mean nothing.
type jscan struct {
	b   []byte
	i   int
	bad bool
}

// maxDepth bounds the nesting skip follows; deeper is a surprise.
const maxDepth = 32

func (s *jscan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next is the next byte after white space, 0 at the end.
func (s *jscan) next() byte {
	s.ws()
	if s.bad || s.i >= len(s.b) {
		s.bad = true
		return 0
	}
	return s.b[s.i]
}

// object reads an object, calling member with each key, positioned at its
// value, which member must read (or skip).
func (s *jscan) object(member func(key []byte)) {
	if s.next() != '{' {
		s.bad = true
		return
	}
	s.i++
	if s.next() == '}' {
		s.i++
		return
	}
	for !s.bad {
		key := s.rawString()
		if s.next() != ':' {
			s.bad = true
			return
		}
		s.i++
		member(key)
		switch s.next() {
		case ',':
			s.i++
		case '}':
			s.i++
			return
		default:
			s.bad = true
		}
	}
}

// rawString reads a string without escapes and returns its bytes; an
// escape is a surprise (keys and the enum values here never have one).
func (s *jscan) rawString() []byte {
	raw, escaped := s.str()
	if escaped {
		s.bad = true
	}
	return raw
}

// plainString is rawString as a string.
func (s *jscan) plainString() string { return string(s.rawString()) }

// stringValue reads a string, undoing its escapes as encoding/json does.
func (s *jscan) stringValue() string {
	start := s.i
	raw, escaped := s.str()
	if s.bad {
		return ""
	}
	if !escaped {
		return string(raw)
	}
	var out string
	if err := json.Unmarshal(s.b[start:s.i], &out); err != nil {
		s.bad = true
	}
	return out
}

// str reads a string: its bytes between the quotes, and whether it has
// escapes. Control characters and invalid UTF-8 are surprises.
func (s *jscan) str() (raw []byte, escaped bool) {
	if s.next() != '"' {
		s.bad = true
		return nil, false
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			if !escaped && !utf8.Valid(raw) {
				s.bad = true
			}
			return raw, escaped
		case c == '\\':
			escaped = true
			s.i += 2
		case c < ' ':
			s.bad = true
			return nil, false
		default:
			s.i++
		}
	}
	s.bad = true
	return nil, false
}

// skip reads past any value.
func (s *jscan) skip(depth int) {
	if depth > maxDepth {
		s.bad = true
		return
	}
	switch c := s.next(); {
	case c == '{':
		s.object(func([]byte) { s.skip(depth + 1) })
	case c == '[':
		s.i++
		if s.next() == ']' {
			s.i++
			return
		}
		for !s.bad {
			s.skip(depth + 1)
			switch s.next() {
			case ',':
				s.i++
			case ']':
				s.i++
				return
			default:
				s.bad = true
			}
		}
	case c == '"':
		s.str()
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		start := s.i
		for s.i < len(s.b) && isNumberByte(s.b[s.i]) {
			s.i++
		}
		if !json.Valid(s.b[start:s.i]) {
			s.bad = true
		}
	default:
		s.bad = true
	}
}

func (s *jscan) literal(lit string) {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		s.bad = true
		return
	}
	s.i += len(lit)
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}
