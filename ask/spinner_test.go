package ask

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestSpinnerDraw(t *testing.T) {
	start := time.Unix(1000, 0)
	var b bytes.Buffer
	s := newSpinner(&b, 40, start)
	frame := func(at time.Duration) string {
		b.Reset()
		s.draw(start.Add(at))
		return b.String()
	}

	assert.Equal(t, "\r\x1b[K⠋ sending… · 0s", frame(0), "before any status")
	s.set("starting", "claude")
	assert.Equal(t, "\r\x1b[K⠙ starting claude · 1s", frame(1500*time.Millisecond))
	s.set("busy", "")
	assert.Equal(t, "\r\x1b[K⠹ thinking… · 1m05s", frame(65*time.Second))

	s.set("busy", "API unreachable, retry 3 of 10 in 8 s: connection refused")
	got := frame(3 * time.Second)
	assert.Equal(t, "\r\x1b[K⠸ API unreachable, retry 3 of 10… · 3s", got, "a long detail is cut to the terminal's width")
	assert.LessOrEqual(t, utf8.RuneCountInString(strings.TrimPrefix(got, "\r\x1b[K")), 39, "one column is left free")

	s.cancelling = true
	assert.Contains(t, frame(4*time.Second), "cancelling… · 4s")

	b.Reset()
	s.erase()
	assert.Equal(t, "\r\x1b[K", b.String(), "erase clears the line it drew")
	b.Reset()
	s.erase()
	assert.Empty(t, b.String(), "and nothing when nothing is drawn")

	s.held = true
	assert.Empty(t, frame(5*time.Second), "nothing while a question is on screen")
	s.held = false
	s.stop()
	assert.Empty(t, frame(6*time.Second), "nothing once stopped")
}
