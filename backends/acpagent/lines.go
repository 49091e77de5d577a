package acpagent

import (
	"bytes"
	"io"
	"sync/atomic"

	"github.com/tether-dev/tether/supervisor"
)

// lineFeed carries the agent's stdout, which the supervisor's stdout reader
// hands over line by line, to the rpc connection's read loop, which reads
// a byte stream: through an io.Pipe, one Write per line (the line and its
// '\n' in one reused buffer), so the pipe's hand-off is the only hop and
// the reader's back-pressure reaches the agent (a blocked Write stops the
// supervisor reading its stdout).
//
// A line that is not a JSON object is not passed on: it cannot be ACP, and
// rpc would answer it with a parse error the agent did not ask for. It is
// counted and reported (badLine), as is a line the supervisor dropped for
// its size.
//
// line and long run on the supervisor's stdout reader goroutine; end runs
// once after them, on the same goroutine.
type lineFeed struct {
	pr  *io.PipeReader
	pw  *io.PipeWriter
	buf []byte

	// badLine is told of each line that was not passed on: its start, or
	// its size when it was too long to keep.
	badLine func(start []byte, size int64)
	skipped atomic.Int64
}

func newLineFeed(badLine func([]byte, int64)) *lineFeed {
	pr, pw := io.Pipe()
	return &lineFeed{pr: pr, pw: pw, badLine: badLine}
}

// line is supervisor.Config.OnLine.
func (f *lineFeed) line(l []byte) {
	trimmed := bytes.TrimSpace(l)
	if len(trimmed) == 0 {
		return
	}
	if trimmed[0] != '{' || trimmed[len(trimmed)-1] != '}' {
		f.skipped.Add(1)
		f.badLine(trimmed[:min(len(trimmed), 200)], int64(len(l)))
		return
	}
	f.buf = append(append(f.buf[:0], l...), '\n')
	// An error means the reading end was closed: the connection is gone
	// and nothing more is wanted.
	_, _ = f.pw.Write(f.buf)
	if cap(f.buf) > 1<<20 {
		f.buf = nil // a huge line passed; do not keep its buffer
	}
}

// long is supervisor.Config.OnLongLine: the line was dropped.
func (f *lineFeed) long(size int64) {
	f.skipped.Add(1)
	f.badLine(nil, size)
}

// end is supervisor.Config.OnStdoutEnd: the reader sees EOF (err nil) or
// the read error.
func (f *lineFeed) end(err error) { f.pw.CloseWithError(err) }

// Read and Close make the feed the rpc stream's input.
func (f *lineFeed) Read(p []byte) (int, error) { return f.pr.Read(p) }
func (f *lineFeed) Close() error               { return f.pr.Close() }

// stdinWriter is the rpc stream's output: each message, already framed
// with its '\n', goes to the agent's stdin in one write.
type stdinWriter struct{ sp *supervisor.Process }

func (w stdinWriter) Write(b []byte) (int, error) {
	if err := w.sp.Send(b); err != nil {
		return 0, err
	}
	return len(b), nil
}
