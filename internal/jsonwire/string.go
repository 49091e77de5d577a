// Package jsonwire appends JSON to byte slices without reflection, byte for
// byte as encoding/json writes it (with SetEscapeHTML(false)), so a hot
// path such as Tether's token notifications can encode into a buffer it
// reuses and allocate nothing.
//
// Only what encoding/json cannot do without reflection or an allocation is
// here; numbers are strconv.AppendInt and friends.
package jsonwire

import (
	"unicode/utf8"
)

// AppendString appends s to dst as a JSON string literal and returns the
// extended slice, exactly as encoding/json's Encoder with
// SetEscapeHTML(false) writes s as a string (without its newline):
//
//   - '"' and '\\' are escaped with a backslash;
//   - the control characters \b, \f, \n, \r and \t are written so, the
//     other bytes below 0x20 as \u00XX (lowercase hex);
//   - each byte of invalid UTF-8 becomes \ufffd;
//   - U+2028 and U+2029, valid JSON but line ends to JavaScript, are
//     written \u2028 and \u2029;
//   - everything else, DEL and '<', '>', '&' included, is copied as is.
//
// s may be a string or a byte slice; either is taken as text (a []byte is
// not base64-encoded as encoding/json would). It allocates only when dst
// lacks room.
func AppendString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	dst = AppendStringContents(dst, s)
	return append(dst, '"')
}

// AppendStringContents appends what AppendString appends between the
// quotes. Contents appended one after the other make the contents of the
// strings' concatenation, except where a UTF-8 sequence is split between
// two of them: each of its bytes is then invalid UTF-8 and becomes \ufffd.
func AppendStringContents[S ~string | ~[]byte](dst []byte, s S) []byte {
	start := 0 // s[start:i] is plain and not yet appended
	for i := 0; i < len(s); {
		c := s[i]
		if plainByte[c] {
			// A run of plain ASCII: eight bytes at a time, then one at a
			// time.
			i++
			for i+8 <= len(s) && plainWord(load64(s, i)) {
				i += 8
			}
			for i < len(s) && plainByte[s[i]] {
				i++
			}
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			dst = appendEscaped(dst, c)
			i++
			start = i
			continue
		}
		switch size := runeLen(s, i); {
		case size == 0:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
		case size == 3 && c == 0xe2 && s[i+1] == 0x80 && s[i+2]&^1 == 0xa8:
			// U+2028 (e2 80 a8) or U+2029 (e2 80 a9)
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', '8'+s[i+2]&1)
			i += 3
			start = i
		default:
			i += size
		}
	}
	return append(dst, s[start:]...)
}

// appendEscaped appends the escape of c, an ASCII byte that is not plain.
func appendEscaped(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
}

const hex = "0123456789abcdef"

// runeLen is the length of the valid UTF-8 encoding of a rune at s[i], a
// byte of 0x80 or above, or 0 when the bytes there are not one; then
// utf8.DecodeRune would say (RuneError, 1). Valid means what utf8 says:
// shortest form, no surrogates, nothing above U+10FFFF.
func runeLen[S ~string | ~[]byte](s S, i int) int {
	n := len(s) - i
	switch c := s[i]; {
	case c < 0xc2: // a continuation byte, or the start of an overlong form
		return 0
	case c < 0xe0:
		if n >= 2 && continuation(s[i+1]) {
			return 2
		}
	case c < 0xf0:
		lo, hi := byte(0x80), byte(0xbf)
		switch c {
		case 0xe0:
			lo = 0xa0 // shorter forms are overlong
		case 0xed:
			hi = 0x9f // above are the surrogates
		}
		if n >= 3 && lo <= s[i+1] && s[i+1] <= hi && continuation(s[i+2]) {
			return 3
		}
	case c < 0xf5:
		lo, hi := byte(0x80), byte(0xbf)
		switch c {
		case 0xf0:
			lo = 0x90 // shorter forms are overlong
		case 0xf4:
			hi = 0x8f // above is beyond U+10FFFF
		}
		if n >= 4 && lo <= s[i+1] && s[i+1] <= hi && continuation(s[i+2]) && continuation(s[i+3]) {
			return 4
		}
	}
	return 0
}

func continuation(b byte) bool { return b&0xc0 == 0x80 }

// plainByte is true for the bytes a JSON string holds as themselves and
// that are ASCII: 0x20 to 0x7f except '"' and '\\'.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// plainWord reports whether the eight bytes of x are all plainByte. When no
// byte has its top bit set, subtracting 0x20 from every byte sets a top bit
// exactly when some byte is below 0x20; after an xor with '"' (or '\\') in
// every byte, subtracting 1 does so exactly when some byte was '"' ('\\').
func plainWord(x uint64) bool {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	return (x|(x-0x20*ones)|((x^'"'*ones)-ones)|((x^'\\'*ones)-ones))&tops == 0
}

// load64 reads s[i:i+8] as a little-endian word; the compiler makes it one
// load.
func load64[S ~string | ~[]byte](s S, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// Contents appends the contents of one JSON string given in pieces, such as
// a long text kept in blocks: exactly the contents of the pieces'
// concatenation, even where a piece ends inside a UTF-8 sequence (the
// sequence's start is held back and joined to the next piece's first
// bytes). The zero value is ready; call Append for each piece in order,
// then End once.
type Contents struct {
	held  [utf8.UTFMax]byte // the start of a sequence a piece ended in
	nheld int
}

// Append appends the contents of piece, holding back an unfinished UTF-8
// sequence at its end.
func (c *Contents) Append(dst, piece []byte) []byte {
	if c.nheld > 0 {
		// Complete the held sequence with the piece's continuation bytes,
		// as far as it can be completed; the whole is then one rune, or
		// bytes that are invalid one by one either way.
		var joined [2 * utf8.UTFMax]byte
		n := copy(joined[:], c.held[:c.nheld])
		k := 0
		for k < len(piece) && n < utf8.UTFMax && continuation(piece[k]) {
			joined[n] = piece[k]
			n++
			k++
		}
		piece = piece[k:]
		c.nheld = 0
		if len(piece) == 0 && n < utf8.UTFMax && !utf8.FullRune(joined[:n]) {
			// Still unfinished: the piece was all continuation bytes.
			c.nheld = copy(c.held[:], joined[:n])
			return dst
		}
		dst = AppendStringContents(dst, joined[:n])
	}
	cut := len(piece) - unfinished(piece)
	c.nheld = copy(c.held[:], piece[cut:])
	return AppendStringContents(dst, piece[:cut])
}

// End appends what is held back: at the very end, an unfinished sequence
// is invalid.
func (c *Contents) End(dst []byte) []byte {
	dst = AppendStringContents(dst, c.held[:c.nheld])
	c.nheld = 0
	return dst
}

// unfinished is the length of the UTF-8 sequence that b ends inside of: the
// bytes from its last lead byte, when that announces more bytes than
// follow it. 0 when b ends at a boundary.
func unfinished(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if continuation(b[i]) {
			continue
		}
		if !utf8.FullRune(b[i:]) {
			return len(b) - i
		}
		return 0
	}
	return 0
}
