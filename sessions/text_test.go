package sessions

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTextKeepsPiecesWholeInBlocksThatGrow(t *testing.T) {
	var pieces []string
	for i := range 50_000 {
		pieces = append(pieces, strings.Repeat("x", i%13)+" ")
	}
	text := TextOf(pieces...)
	want := strings.Join(pieces, "")
	assert.Equal(t, want, text.String())
	assert.Equal(t, len(want), text.Len())

	var joined strings.Builder
	capacity := 0
	for i, b := range text.Blocks() {
		joined.Write(b)
		capacity += cap(b)
		assert.LessOrEqual(t, cap(b), textBlockMax, "block %d", i)
		if i == 0 {
			assert.Equal(t, textBlockMin, cap(b), "a short text costs little")
		}
	}
	assert.Equal(t, want, joined.String())
	assert.Less(t, capacity, len(want)+len(want)/50+2*textBlockMax, "the blocks hold the text, not twice it")

	// Pieces are not split over blocks: each block ends where a piece does.
	for _, b := range text.Blocks() {
		assert.Equal(t, byte(' '), b[len(b)-1])
	}
}

func TestTextPieceLargerThanABlock(t *testing.T) {
	big := strings.Repeat("y", 3*textBlockMax)
	text := TextOf("a", big, "b")
	assert.Equal(t, "a"+big+"b", text.String())
	assert.Equal(t, 3*textBlockMax+2, text.Len())
	assert.Empty(t, TextOf().String())
}
