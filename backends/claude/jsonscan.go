package claude

import (
	"bytes"
	"encoding/binary"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON scanner under lineDecoder's fast path: it reads the JSON of one
// line, checks what it skips is valid, and undoes escapes the way
// encoding/json does.

// scanner reads JSON from b at i. Any surprise sets bad, after which its
// results mean nothing and the caller falls back to the full decode.
type scanner struct {
	b   []byte
	i   int
	d   *lineDecoder
	bad bool
}

// maxSkipDepth is how deep the fast path follows nested values it skips;
// deeper lines (which no CLI writes) fall back.
const maxSkipDepth = 32

func (s *scanner) fail() { s.bad = true }

// ws skips JSON whitespace.
func (s *scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return // the usual case: the CLI writes none
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// enter reads the '{' that starts an object and reports whether a member
// follows (false for {}).
func (s *scanner) enter() bool {
	s.ws()
	if s.bad || s.i >= len(s.b) || s.b[s.i] != '{' {
		s.fail()
		return false
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return false
	}
	return true
}

// more reads what follows an object member: a ',' and another member
// (true), or the '}' that ends the object (false).
func (s *scanner) more() bool {
	s.ws()
	if s.bad || s.i >= len(s.b) {
		s.fail()
		return false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		s.ws()
		return true
	case '}':
		s.i++
		return false
	}
	s.fail()
	return false
}

// key reads a member's key and its ':'. A key with an escape or a
// non-ASCII byte could be any field under encoding/json's folding, so it
// makes the line fall back.
func (s *scanner) key() []byte {
	raw, escaped, nonASCII := s.scanString()
	if escaped || nonASCII {
		s.fail()
	}
	s.colon()
	return raw
}

func (s *scanner) colon() {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		s.fail()
		return
	}
	s.i++
	s.ws()
}

// null reads a null, if that is what comes next.
func (s *scanner) null() bool {
	if bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += len("null")
		return true
	}
	return false
}

// str reads a string and returns its value as encoding/json decodes it:
// escapes undone, and each byte of invalid UTF-8 replaced by U+FFFD. The
// result is the line's own bytes when nothing needs changing, else the
// decoder's scratch buffer; either is valid only until the next str.
func (s *scanner) str() []byte {
	raw, escaped, nonASCII := s.scanString()
	if s.bad {
		return nil
	}
	if !escaped && (!nonASCII || utf8.Valid(raw)) {
		return raw
	}
	s.d.scratch = unquote(s.d.scratch[:0], raw)
	return s.d.scratch
}

// plainStringByte is true for the bytes that stand for themselves in a JSON
// string and are ASCII.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainWord reports whether the 8 bytes of x are all plainStringByte: no
// byte is below 0x20, '"', '\\' or above 0x7f. Once no byte has its top bit
// set, subtracting 0x20 (or 1 after xor with '"' or '\\') from each byte
// sets a top bit exactly when some byte is below 0x20 (is '"', is '\\').
func plainWord(x uint64) bool {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	return (x|(x-0x20*ones)|((x^'"'*ones)-ones)|((x^'\\'*ones)-ones))&tops == 0
}

// scanString reads a JSON string and returns the bytes between its quotes,
// whether it has escapes and whether it has bytes beyond ASCII. It checks
// the string is valid JSON: every escape is one JSON has, no control
// character appears raw. Invalid UTF-8 is valid JSON to encoding/json.
func (s *scanner) scanString() (raw []byte, escaped, nonASCII bool) {
	if s.bad || s.i >= len(s.b) || s.b[s.i] != '"' {
		s.fail()
		return nil, false, false
	}
	b := s.b
	start := s.i + 1
	for i := start; ; {
		for i+8 <= len(b) && plainWord(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		for i < len(b) && plainStringByte[b[i]] {
			i++
		}
		if i >= len(b) {
			s.fail()
			return nil, false, false
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return b[start:i], escaped, nonASCII
		case c == '\\':
			escaped = true
			if i+1 >= len(b) {
				s.fail()
				return nil, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || hex4(b[i+2:i+6]) < 0 {
					s.fail()
					return nil, false, false
				}
				i += 6
			default:
				s.fail()
				return nil, false, false
			}
		case c < 0x20:
			s.fail()
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

// skip reads any JSON value, checking it is valid, at nesting depth.
func (s *scanner) skip(depth int) {
	if s.bad || s.i >= len(s.b) || depth > maxSkipDepth {
		s.fail()
		return
	}
	switch c := s.b[s.i]; {
	case c == '"':
		s.scanString()
	case c == '{':
		for more := s.enter(); more; more = s.more() {
			s.scanString()
			s.colon()
			s.skip(depth + 1)
			if s.bad {
				return
			}
		}
	case c == '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return
		}
		for {
			s.skip(depth + 1)
			s.ws()
			if s.bad || s.i >= len(s.b) {
				s.fail()
				return
			}
			switch s.b[s.i] {
			case ',':
				s.i++
				s.ws()
			case ']':
				s.i++
				return
			default:
				s.fail()
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
		s.fail()
	}
}

func (s *scanner) literal(lit string) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
		s.fail()
		return
	}
	s.i += len(lit)
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		s.fail()
		return
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			s.fail()
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
			s.fail()
			return
		}
		i = j
	}
	s.i = i
}

// digits returns the index after the run of digits at i.
func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}
