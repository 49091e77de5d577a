package rpc

import (
	"encoding/json"
	"unicode/utf8"
)

// members are the top-level members of a message that JSON-RPC gives a
// meaning to, each the raw JSON of its value exactly as json.RawMessage
// would hold it (no white space around it), or nil when absent. Other
// members are skipped.
//
// They are slices of the body, not copies: that is what spares a message
// the map and the copies of encoding/json. Each is capped at its own end
// (a full slice expression), so an append to one allocates rather than
// writing over the rest of the body.
type members struct {
	jsonrpc, id, method, params, result, error []byte
}

// scan reads the top-level members of body, which must be a JSON object
// that json.Valid has accepted: it checks no syntax of its own, only that
// it never reads past the end. Names are matched after JSON unescaping and
// exactly, as the keys of a map decode are ("\u006dethod" is "method";
// "Method" is not), and a repeated member's last value wins, as it would
// in a map. It reports false if body is not such an object after all.
func (ms *members) scan(body []byte) bool {
	i := skipSpace(body, 1)
	if i < len(body) && body[i] == '}' {
		return true
	}
	for i < len(body) && body[i] == '"' {
		nameEnd, ok := stringEnd(body, i)
		if !ok {
			return false
		}
		name := body[i+1 : nameEnd-1]
		i = skipSpace(body, nameEnd)
		if i >= len(body) || body[i] != ':' {
			return false
		}
		i = skipSpace(body, i+1)
		end, ok := valueEnd(body, i)
		if !ok {
			return false
		}
		if slot := ms.slot(name); slot != nil {
			*slot = body[i:end:end]
		}
		i = skipSpace(body, end)
		if i >= len(body) {
			return false
		}
		switch body[i] {
		case '}':
			return true
		case ',':
			i = skipSpace(body, i+1)
		default:
			return false
		}
	}
	return false
}

// slot returns where the member with the raw (still escaped) name goes, or
// nil for a member JSON-RPC does not define.
func (ms *members) slot(raw []byte) *[]byte {
	name := raw
	var buf [len("jsonrpc")]byte
	for _, c := range raw {
		if c == '\\' {
			var ok bool
			if name, ok = unescapeName(raw, &buf); !ok {
				return nil
			}
			break
		}
	}
	switch string(name) {
	case "jsonrpc":
		return &ms.jsonrpc
	case "id":
		return &ms.id
	case "method":
		return &ms.method
	case "params":
		return &ms.params
	case "result":
		return &ms.result
	case "error":
		return &ms.error
	}
	return nil
}

// unescapeName unescapes a member name written with escapes into buf. It
// reports false for a name that cannot be one JSON-RPC defines: longer
// than buf, or holding anything not printable ASCII (a non-ASCII rune, a
// surrogate, a control character), which are all in none of them.
func unescapeName(raw []byte, buf *[len("jsonrpc")]byte) ([]byte, bool) {
	n := 0
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c >= utf8.RuneSelf || c < ' ':
			return nil, false
		case c != '\\':
			i++
		case i+1 >= len(raw):
			return nil, false
		case raw[i+1] == '"' || raw[i+1] == '\\' || raw[i+1] == '/':
			c = raw[i+1]
			i += 2
		case raw[i+1] == 'u' && i+6 <= len(raw):
			r, ok := hex4(raw[i+2 : i+6])
			if !ok || r < ' ' || r >= utf8.RuneSelf {
				return nil, false
			}
			c = byte(r)
			i += 6
		default: // \b \f \n \r \t, or not an escape at all
			return nil, false
		}
		if n == len(buf) {
			return nil, false
		}
		buf[n] = c
		n++
	}
	return buf[:n], true
}

// hex4 decodes the four hex digits of a \u escape.
func hex4(h []byte) (rune, bool) {
	var r rune
	for _, c := range h {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// stringEnd returns the index just past the JSON string starting at b[i].
func stringEnd(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++ // the escaped byte; a \u's digits are skipped as plain bytes
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

// valueEnd returns the index just past the JSON value starting at b[i]:
// a string, an object or array (brackets counted outside strings), or a
// literal, which ends where white space or the enclosing object's , or }
// begins.
func valueEnd(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, ok := stringEnd(b, j)
				if !ok {
					return 0, false
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, true
				}
			}
		}
		return 0, false
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\r' && b[j] != '\n' {
		j++
	}
	return j, j > i
}

// plainString returns the content of raw when raw is a JSON string that
// needs no unescaping (no escapes, valid UTF-8), which is what ids and
// method names nearly always are: its content is then the decoded string
// as encoding/json would give it, and needs no decoder.
func plainString(raw []byte) ([]byte, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return nil, false
	}
	s := raw[1 : len(raw)-1]
	ascii := true
	for _, c := range s {
		switch {
		case c < ' ' || c == '"' || c == '\\':
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return s, ascii || utf8.Valid(s)
}

// unquoteString decodes raw, a JSON string, as json.Unmarshal into a
// string would: without a decoder when plainString can, else with one
// (escapes, broken UTF-8, which it replaces). It reports false for what is
// not a JSON string (null among them, which json.Unmarshal would take as
// an empty string: to a caller wanting a non-empty one it is the same).
func unquoteString(raw []byte) (string, bool) {
	if s, ok := plainString(raw); ok {
		return string(s), true
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}
