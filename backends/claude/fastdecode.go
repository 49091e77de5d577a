package claude

import (
	"bytes"
	"reflect"
	"strings"

	"github.com/tether-dev/tether/internal/jsonwire"
)

// lineDecoder decodes the CLI's stdout lines. Nearly every line of a turn
// is a stream_event with a delta, so those take a fast path: a small
// scanner over the line's bytes that fills message without reflection and
// without allocating anything but the delta's text. Every other line, and
// every line the scanner is not sure of, goes to the full decode
// (decodeLine), whose result the fast path must equal field for field
// (FuzzLineDecoder checks it).
//
// The fast path takes a line when it is one JSON object whose keys are
// type, session_id, parent_tool_use_id, event and keys message has no
// field for (uuid, ttft_ms, ...); event's keys are type, delta and keys
// streamEvent does not have (index, usage, ...); delta's are type, text,
// thinking and keys streamDelta does not have. The values of the keys it
// reads must be strings (parent_tool_use_id may be null), event and delta
// objects, and no key may repeat or match one of these by case only; what
// it skips must be valid JSON. Everything else falls back.
//
// The stdout reader owns its decoder; it is not safe for concurrent use.
type lineDecoder struct {
	// sessionID and parentID are the last session_id and non-empty
	// parent_tool_use_id seen. They repeat on every line, so a line that
	// has the same value gets this string, not a new one.
	sessionID string
	parentID  string
	// scan is the fast path's scanner, kept for its Scratch, which holds a
	// string value while its escapes are undone, before it becomes a Go
	// string.
	scan jsonwire.Scanner
}

// scanner is the fast path's scanner over one line, with what it decodes
// into the lineDecoder's types.
type scanner struct {
	*jsonwire.Scanner
	d *lineDecoder
}

// maxKeptScratch bounds the scratch buffer kept between lines; a rare huge
// escaped delta does not pin its size.
const maxKeptScratch = 64 << 10

// decode decodes one line, with decodeLine's results: ok is false for a
// line that is not a JSON object, err is set for one that looked like JSON
// and was not.
func (d *lineDecoder) decode(line []byte) (m message, ok bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return message{}, false, nil
	}
	if d.decodeHot(line, &m) {
		return m, true, nil
	}
	m, ok, err = decodeLine(line)
	if ok {
		m.SessionID = remember(&d.sessionID, m.SessionID)
		m.ParentToolUseID = remember(&d.parentID, m.ParentToolUseID)
	}
	return m, ok, err
}

// remember returns the string kept in *last when it equals s, and s
// otherwise, which it keeps unless it is empty.
func remember(last *string, s string) string {
	if s == *last {
		return *last
	}
	if s != "" {
		*last = s
	}
	return s
}

// The keys of message, streamEvent and streamDelta as encoding/json matches
// them: a key that is none of these, even ignoring case, is ignored by the
// full decode and skipped by the fast path.
var (
	messageKeys = jsonKeys(reflect.TypeFor[message]())
	eventKeys   = jsonKeys(reflect.TypeFor[streamEvent]())
	deltaKeys   = jsonKeys(reflect.TypeFor[streamDelta]())
)

// jsonKeys lists the JSON names of struct type t's fields.
func jsonKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported() && !f.Anonymous:
			continue
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			keys = append(keys, jsonKeys(f.Type)...)
			continue
		case name == "":
			name = f.Name
		}
		keys = append(keys, name)
	}
	return keys
}

// matchesKey reports whether encoding/json would decode key (plain ASCII)
// into one of the fields keys names: it compares names ignoring ASCII case.
func matchesKey(key []byte, keys []string) bool {
	for _, k := range keys {
		if len(k) == len(key) && equalFoldASCII(key, k) {
			return true
		}
	}
	return false
}

func equalFoldASCII(b []byte, s string) bool {
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Bits for the keys an object has had, to refuse repeats.
const (
	keyType = 1 << iota
	keySession
	keyParent
	keyEvent
	keyDelta
	keyText
	keyThinking
)

// decodeHot decodes line (trimmed, starting with '{') into m, which is the
// zero message, when it is a line the fast path takes. It reports whether
// it did; when not, m holds junk.
func (d *lineDecoder) decodeHot(line []byte, m *message) bool {
	d.scan.B, d.scan.I, d.scan.Bad = line, 0, false
	s := scanner{&d.scan, d}
	seen := 0
	for more := s.Enter(); more; more = s.More() {
		key := s.Key()
		if s.Bad {
			return false
		}
		var bit int
		switch string(key) {
		case "type":
			bit = keyType
			m.Type = s.name()
		case "session_id":
			bit = keySession
			m.SessionID = s.recall(&d.sessionID)
		case "parent_tool_use_id":
			bit = keyParent
			if !s.Null() {
				m.ParentToolUseID = s.recall(&d.parentID)
			}
		case "event":
			bit = keyEvent
			s.event(&m.Event)
		default:
			if matchesKey(key, messageKeys) {
				return false
			}
			s.Skip(0)
		}
		if s.Bad || seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	return s.AtEnd()
}

// event decodes the value of a stream_event's event.
func (s *scanner) event(ev *streamEvent) {
	seen := 0
	for more := s.Enter(); more; more = s.More() {
		key := s.Key()
		if s.Bad {
			return
		}
		var bit int
		switch string(key) {
		case "type":
			bit = keyType
			ev.Type = s.name()
		case "delta":
			bit = keyDelta
			s.delta(&ev.Delta)
		default:
			if matchesKey(key, eventKeys) { // message: message_start is rare
				s.Fail()
				return
			}
			s.Skip(1)
		}
		if s.Bad || seen&bit != 0 {
			s.Fail()
			return
		}
		seen |= bit
	}
}

// delta decodes the value of an event's delta.
func (s *scanner) delta(dl *streamDelta) {
	seen := 0
	for more := s.Enter(); more; more = s.More() {
		key := s.Key()
		if s.Bad {
			return
		}
		var bit int
		switch string(key) {
		case "type":
			bit = keyType
			dl.Type = s.name()
		case "text":
			bit = keyText
			dl.Text = s.text()
		case "thinking":
			bit = keyThinking
			dl.Thinking = s.text()
		default:
			if matchesKey(key, deltaKeys) {
				s.Fail()
				return
			}
			s.Skip(2)
		}
		if s.Bad || seen&bit != 0 {
			s.Fail()
			return
		}
		seen |= bit
	}
}

// text reads a string value as a new Go string: the one allocation of a hot
// line.
func (s *scanner) text() string {
	v := string(s.Str())
	if cap(s.Scratch) > maxKeptScratch {
		s.Scratch = nil
	}
	return v
}

// recall reads a string value; when it equals *last it returns that
// string rather than a new one, else it remembers the new one there.
func (s *scanner) recall(last *string) string {
	v := s.Str()
	if string(v) == *last {
		return *last
	}
	return remember(last, string(v))
}

// name reads a string that is most likely one of the names the CLI uses
// for types, and returns the constant for it without allocating.
func (s *scanner) name() string {
	v := s.Str()
	switch string(v) {
	case typeStreamEvent:
		return typeStreamEvent
	case "content_block_delta":
		return "content_block_delta"
	case "text_delta":
		return "text_delta"
	case "thinking_delta":
		return "thinking_delta"
	case "input_json_delta":
		return "input_json_delta"
	case "signature_delta":
		return "signature_delta"
	case "content_block_start":
		return "content_block_start"
	case "content_block_stop":
		return "content_block_stop"
	case "message_delta":
		return "message_delta"
	case "message_stop":
		return "message_stop"
	}
	return string(v)
}
