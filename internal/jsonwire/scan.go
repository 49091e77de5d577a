package jsonwire

import (
	"bytes"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Scanner reads JSON in one pass, without reflection: a hot path reads the
// few members it needs and skips the rest, checking that what it skips is
// valid JSON, and undoes string escapes as encoding/json does. It never
// reports a syntax error of its own: any surprise sets Bad, after which
// its results mean nothing and the caller falls back to encoding/json,
// which then also says what was wrong.
//
// The claude backend reads the CLI's stream-json lines with it, and the
// acp backend an agent's text chunks.
type Scanner struct {
	B   []byte // the JSON
	I   int    // where the next read starts
	Bad bool   // something was not as expected
	// Scratch holds a string Str had to decode; it is reused by the next
	// one, so a caller scanning many values keeps it across them.
	Scratch []byte
}

// maxSkipDepth is how deep Skip follows nested values; deeper ones (which
// the hot paths never meet) are a surprise.
const maxSkipDepth = 32

// Fail marks the scan as failed: a caller's own surprise.
func (s *Scanner) Fail() { s.Bad = true }

// WS skips JSON white space.
func (s *Scanner) WS() {
	if s.I < len(s.B) && s.B[s.I] > ' ' {
		return // the usual case: machine-written JSON has none
	}
	for s.I < len(s.B) {
		switch s.B[s.I] {
		case ' ', '\t', '\n', '\r':
			s.I++
		default:
			return
		}
	}
}

// AtEnd reports whether the scan went well and nothing but white space
// follows.
func (s *Scanner) AtEnd() bool {
	s.WS()
	return !s.Bad && s.I == len(s.B)
}

// Enter reads the '{' that starts an object and reports whether a member
// follows (false for {}).
func (s *Scanner) Enter() bool {
	s.WS()
	if s.Bad || s.I >= len(s.B) || s.B[s.I] != '{' {
		s.Fail()
		return false
	}
	s.I++
	s.WS()
	if s.I < len(s.B) && s.B[s.I] == '}' {
		s.I++
		return false
	}
	return true
}

// More reads what follows an object member: a ',' and another member
// (true), or the '}' that ends the object (false).
func (s *Scanner) More() bool {
	s.WS()
	if s.Bad || s.I >= len(s.B) {
		s.Fail()
		return false
	}
	switch s.B[s.I] {
	case ',':
		s.I++
		s.WS()
		return true
	case '}':
		s.I++
		return false
	}
	s.Fail()
	return false
}

// Key reads a member's key and its ':', and returns the key's bytes. A key
// with an escape or a byte beyond ASCII is a surprise: the callers compare
// keys byte for byte, and such a key could be any name once decoded (or,
// to encoding/json, case-folded).
func (s *Scanner) Key() []byte {
	raw, escaped, nonASCII := s.scanString()
	if escaped || nonASCII {
		s.Fail()
	}
	s.colon()
	return raw
}

func (s *Scanner) colon() {
	s.WS()
	if s.I >= len(s.B) || s.B[s.I] != ':' {
		s.Fail()
		return
	}
	s.I++
	s.WS()
}

// Null reads a null, if that is what comes next.
func (s *Scanner) Null() bool {
	if bytes.HasPrefix(s.B[s.I:], []byte("null")) {
		s.I += len("null")
		return true
	}
	return false
}

// Str reads a string and returns its value as encoding/json decodes it:
// escapes undone, and each byte of invalid UTF-8 replaced by U+FFFD. The
// result is the scanned JSON's own bytes when nothing needs changing, else
// Scratch; either is valid only until the next Str.
func (s *Scanner) Str() []byte {
	raw, escaped, nonASCII := s.scanString()
	if s.Bad {
		return nil
	}
	if !escaped && (!nonASCII || utf8.Valid(raw)) {
		return raw
	}
	s.Scratch = unquote(s.Scratch[:0], raw)
	return s.Scratch
}

// scanString reads a JSON string and returns the bytes between its quotes,
// whether it has escapes and whether it has bytes beyond ASCII. It checks
// the string is valid JSON: every escape is one JSON has, no control
// character appears raw. Invalid UTF-8 is valid JSON to encoding/json.
func (s *Scanner) scanString() (raw []byte, escaped, nonASCII bool) {
	if s.Bad || s.I >= len(s.B) || s.B[s.I] != '"' {
		s.Fail()
		return nil, false, false
	}
	b := s.B
	start := s.I + 1
	for i := start; ; {
		for i+8 <= len(b) && plainWord(load64(b, i)) {
			i += 8
		}
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if i >= len(b) {
			s.Fail()
			return nil, false, false
		}
		switch c := b[i]; {
		case c == '"':
			s.I = i + 1
			return b[start:i], escaped, nonASCII
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				s.Fail()
				return nil, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || hex4(b[i+2:i+6]) < 0 {
					s.Fail()
					return nil, false, false
				}
				i += 6
			default:
				s.Fail()
				return nil, false, false
			}
		case c < 0x20:
			s.Fail()
			return nil, false, false
		default:
			nonASCII = true
			i++
		}
	}
}

// hex4 is the value of four hex digits, or -1.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unquote appends the value of raw, the checked contents of a JSON string,
// to dst the way encoding/json decodes it: a \u escape of a lone surrogate,
// or of a high surrogate not followed by a \u escape of a low one, is
// U+FFFD (and the escape after it is read on its own); each byte of invalid
// UTF-8 is U+FFFD.
func unquote(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '\\':
			switch e := raw[i+1]; e {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(raw[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					next := rune(-1)
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						next = hex4(raw[i+2:])
					}
					if pair := utf16.DecodeRune(r, next); pair != unicode.ReplacementChar {
						dst = utf8.AppendRune(dst, pair)
						i += 6
						continue
					}
					r = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, e)
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRune(raw[i:])
			dst = utf8.AppendRune(dst, r)
			i += n
		}
	}
	return dst
}

// Skip reads any JSON value, checking it is valid; depth is how deep in
// the document the value is, which Skip bounds.
func (s *Scanner) Skip(depth int) {
	if s.Bad || s.I >= len(s.B) || depth > maxSkipDepth {
		s.Fail()
		return
	}
	switch c := s.B[s.I]; {
	case c == '"':
		s.scanString()
	case c == '{':
		for more := s.Enter(); more; more = s.More() {
			s.scanString()
			s.colon()
			s.Skip(depth + 1)
			if s.Bad {
				return
			}
		}
	case c == '[':
		s.I++
		s.WS()
		if s.I < len(s.B) && s.B[s.I] == ']' {
			s.I++
			return
		}
		for {
			s.Skip(depth + 1)
			s.WS()
			if s.Bad || s.I >= len(s.B) {
				s.Fail()
				return
			}
			switch s.B[s.I] {
			case ',':
				s.I++
				s.WS()
			case ']':
				s.I++
				return
			default:
				s.Fail()
				return
			}
		}
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		s.number()
	default:
		s.Fail()
	}
}

func (s *Scanner) literal(lit string) {
	if !bytes.HasPrefix(s.B[s.I:], []byte(lit)) {
		s.Fail()
		return
	}
	s.I += len(lit)
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *Scanner) number() {
	b, i := s.B, s.I
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		s.Fail()
		return
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			s.Fail()
			return
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			s.Fail()
			return
		}
		i = j
	}
	s.I = i
}

// digits returns the index after the run of digits at i.
func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
