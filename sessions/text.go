package sessions

import "strings"

// Text is a turn's text, kept in the blocks it was written into as it
// streamed: growing it never copies what it holds (a 2,000,000-token turn
// holds its 20 MB once, not the several copies a doubling buffer makes on
// the way), and a dialect writes the reply from the blocks (Blocks) rather
// than from one string made for the purpose. Blocks start small, so a
// short turn's text costs about its length, and grow to textBlockMax.
//
// A Text is written by its turn only; once in a TurnResult it no longer
// changes, and may be read from any goroutine.
type Text struct {
	blocks [][]byte
	n      int
}

const (
	textBlockMin = 256
	textBlockMax = 64 << 10
)

// TextOf returns a Text of pieces written one after the other, as a turn
// writes its tokens (for tests, and for dialects that make results of
// their own).
func TextOf(pieces ...string) Text {
	var t Text
	for _, s := range pieces {
		t.write(s)
	}
	return t
}

// write appends s. A piece of text is never split over two blocks unless
// it is larger than a block.
func (t *Text) write(s string) {
	if s == "" {
		return
	}
	t.n += len(s)
	if k := len(t.blocks); k > 0 && cap(t.blocks[k-1])-len(t.blocks[k-1]) >= len(s) {
		t.blocks[k-1] = append(t.blocks[k-1], s...)
		return
	}
	size := textBlockMin
	if k := len(t.blocks); k > 0 {
		size = min(2*cap(t.blocks[k-1]), textBlockMax)
	}
	t.blocks = append(t.blocks, append(make([]byte, 0, max(size, len(s))), s...))
}

// Len is the text's length in bytes.
func (t Text) Len() int { return t.n }

// String is the whole text, as one string made now.
func (t Text) String() string {
	var b strings.Builder
	b.Grow(t.n)
	for _, block := range t.blocks {
		b.Write(block)
	}
	return b.String()
}

// Since is the text from byte offset off to its end, as one string made
// now: only that part is copied.
func (t Text) Since(off int) string {
	var b strings.Builder
	b.Grow(t.n - off)
	for _, block := range t.blocks {
		if off >= len(block) {
			off -= len(block)
			continue
		}
		b.Write(block[off:])
		off = 0
	}
	return b.String()
}

// Blocks is the text in its blocks, in order; their concatenation is the
// text. They must not be modified. A block may end inside a UTF-8
// sequence when the backend streamed one split in two.
func (t Text) Blocks() [][]byte { return t.blocks }
