package ask

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tether-dev/tether/protocol"
)

// spinnerTick is how often the spinner turns and its clock advances.
const spinnerTick = 100 * time.Millisecond

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

// spinner shows on a terminal's stderr that the turn is running while no
// text has streamed yet: a turning frame, what the agent is doing (the
// latest status and its detail) and the time since the question was sent:
//
//	⠹ API unreachable, retry 3 of 10 in 8 s: connection refused · 12s
//
// It is drawn on the cursor's line, which is always a fresh one (it runs
// only before the text starts, and every stderr line ends itself), and
// erased before anything else is written to the terminal. It ends for good
// when the text starts or the turn ends. askOutput owns it: every method
// is called with askOutput.mu held, and askOutput's ticking goroutine
// redraws it.
type spinner struct {
	w     io.Writer
	width int // the terminal's columns; the spinner's line must not wrap
	start time.Time

	status, detail string // the latest session/status
	cancelling     bool   // interrupted: the turn is being cancelled
	frame          int
	shown          bool // drawn and not erased
	held           bool // a question is on screen: draw nothing until it is answered
	done           bool // the text started or the turn ended
}

func newSpinner(w io.Writer, width int, start time.Time) *spinner {
	if width <= 0 {
		width = 80
	}
	return &spinner{w: w, width: width, start: start}
}

// set records the latest status.
func (s *spinner) set(status, detail string) {
	s.status, s.detail = status, detail
}

// label says what the agent is doing, as the Neovim plugin's indicator
// says it.
func (s *spinner) label() string {
	switch {
	case s.cancelling:
		return "cancelling…"
	case s.status == "":
		return "sending…" // Tether has not said anything about the turn yet
	case s.status == protocol.StatusStarting && s.detail != "":
		return "starting " + s.detail
	case s.status == protocol.StatusWaitingPermission:
		return "waiting for permission"
	case s.detail != "":
		return s.detail // busy, with something to say: a retry, a compaction
	}
	return "thinking…"
}

// draw shows the spinner's next frame at now.
func (s *spinner) draw(now time.Time) {
	if s.done || s.held {
		return
	}
	tail := " · " + elapsed(now.Sub(s.start))
	label := s.label()
	// One column is left free: a line that fills the terminal moves the
	// cursor to the next one, and \r would no longer reach it.
	if room := s.width - 1 - 2 - utf8.RuneCountInString(tail); utf8.RuneCountInString(label) > room {
		label = cutRunes(label, max(room-1, 0)) + "…"
	}
	fmt.Fprintf(s.w, "\r\x1b[K%s %s%s", spinnerFrames[s.frame%len(spinnerFrames)], label, tail)
	s.frame++
	s.shown = true
}

// erase removes the spinner's line, leaving the cursor at its start.
func (s *spinner) erase() {
	if s.shown {
		fmt.Fprint(s.w, "\r\x1b[K")
		s.shown = false
	}
}

// stop erases the spinner for good.
func (s *spinner) stop() {
	s.erase()
	s.done = true
}

// elapsed formats a duration as the spinner shows it: 0s, 42s, 3m05s.
func elapsed(d time.Duration) string {
	sec := int(d / time.Second)
	if sec < 60 {
		return fmt.Sprintf("%ds", sec)
	}
	return fmt.Sprintf("%dm%02ds", sec/60, sec%60)
}

func cutRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return strings.TrimRight(s[:i], " ")
		}
		n--
	}
	return s
}
