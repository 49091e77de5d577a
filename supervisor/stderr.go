package supervisor

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"unicode/utf8"
)

// readStderr is the stderr reader goroutine: it keeps the tail and logs
// lines until EOF (or ErrOutputHeld, as for stdout).
func (p *Process) readStderr() {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := p.stderr.Read(buf)
		p.tail.write(buf[:n])
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
			case errors.Is(err, os.ErrDeadlineExceeded):
				p.log.Warn("stderr still held open after the process exited; no longer read", "name", p.name, "pid", p.pid)
			default:
				p.log.Warn("reading stderr", "name", p.name, "pid", p.pid, "err", err)
			}
			p.stderr.f.Close()
			return
		}
	}
}

// maxLoggedLine bounds a stderr line in the debug log.
const maxLoggedLine = 1 << 10

// stderrTail keeps the last size bytes of stderr and logs each complete
// line at debug level. The stderr reader is its only writer; String may be
// called from anywhere.
type stderrTail struct {
	size  int
	name  string
	log   *slog.Logger
	debug bool

	mu      sync.Mutex
	buf     []byte // the tail is its last size bytes; trimmed when 2*size
	partial []byte // an unfinished line, for the log (bounded)
}

func newStderrTail(size int, name string, log *slog.Logger) *stderrTail {
	return &stderrTail{
		size:  size,
		name:  name,
		log:   log,
		debug: log.Enabled(context.Background(), slog.LevelDebug),
	}
}

func (t *stderrTail) write(b []byte) {
	if len(b) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(b) >= t.size {
		t.buf = append(t.buf[:0], b[len(b)-t.size:]...)
	} else {
		if len(t.buf)+len(b) > 2*t.size {
			t.buf = append(t.buf[:0], t.buf[len(t.buf)-(t.size-len(b)):]...)
		}
		t.buf = append(t.buf, b...)
	}
	if !t.debug {
		return
	}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			t.partial = appendBounded(t.partial, b)
			return
		}
		t.partial = appendBounded(t.partial, b[:i])
		t.log.Debug("stderr", "name", t.name, "line", truncate(validUTF8(t.partial), maxLoggedLine))
		t.partial = t.partial[:0]
		b = b[i+1:]
	}
}

// appendBounded appends what fits of b below 4*maxLoggedLine.
func appendBounded(dst, b []byte) []byte {
	room := 4*maxLoggedLine - len(dst)
	if room <= 0 {
		return dst
	}
	return append(dst, b[:min(room, len(b))]...)
}

// String is the kept tail, starting on a rune boundary.
func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > t.size {
		b = b[len(b)-t.size:]
	}
	for i := 0; i < len(b) && i < utf8.UTFMax; i++ {
		if utf8.RuneStart(b[i]) {
			b = b[i:]
			break
		}
	}
	return validUTF8(b)
}

func validUTF8(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
