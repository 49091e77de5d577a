package supervisor

import (
	"bytes"
	"errors"
	"io"
	"os"
)

// lineBufSize is the line buffer's usual size; it grows for a longer line
// (up to MaxLine+1) and shrinks back once a much longer one has passed.
const lineBufSize = 64 << 10

// readStdout is the stdout reader goroutine.
func (p *Process) readStdout() {
	defer p.wg.Done()
	err := readLines(p.stdout, p.cfg.MaxLine, p.cfg.OnLine, p.longLine)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = ErrOutputHeld
		p.log.Warn("stdout still held open after the process exited; no longer read", "name", p.name, "pid", p.pid, "wait", p.cfg.WaitDelay)
	case err != nil:
		p.log.Warn("reading stdout", "name", p.name, "pid", p.pid, "err", err)
	}
	p.stdout.f.Close()
	if p.cfg.OnStdoutEnd != nil {
		p.cfg.OnStdoutEnd(err)
	}
}

func (p *Process) longLine(size int64) {
	p.log.Warn("stdout line above the size limit; skipped", "name", p.name, "pid", p.pid, "size", size, "max", p.cfg.MaxLine)
	if p.cfg.OnLongLine != nil {
		p.cfg.OnLongLine(size)
	}
}

// readLines reads r until EOF or an error and calls line with each line,
// without its '\n', in a buffer that is reused once line returns. A final
// line without '\n' is delivered too. A line longer than max is never held
// whole: it is read on in buffer-sized chunks, dropped, and its size given
// to long. It returns nil at EOF, and otherwise the read error.
func readLines(r io.Reader, max int, line func([]byte), long func(int64)) error {
	size := min(lineBufSize, max+1)
	buf := make([]byte, size)
	start, end := 0, 0 // buf[start:end] is read and not yet handed on
	scanned := 0       // buf[start:scanned] has no '\n'
	skipping := false  // dropping a line longer than max
	var skipped int64  // bytes of that line dropped so far
	var readErr error
	for {
		for {
			i := bytes.IndexByte(buf[scanned:end], '\n')
			if i < 0 {
				scanned = end
				break
			}
			nl := scanned + i
			if skipping {
				long(skipped + int64(nl-start))
				skipping, skipped = false, 0
			} else {
				line(buf[start:nl])
			}
			start, scanned = nl+1, nl+1
		}
		// What is left is part of one line.
		if !skipping && end-start > max {
			skipping = true
		}
		if skipping {
			skipped += int64(end - start)
			start, end, scanned = 0, 0, 0
		}
		if readErr != nil {
			switch {
			case skipping:
				long(skipped)
			case end > start:
				line(buf[start:end])
			}
			if readErr == io.EOF {
				return nil
			}
			return readErr
		}
		if start > 0 {
			n := copy(buf, buf[start:end])
			scanned -= start
			start, end = 0, n
		}
		switch {
		case len(buf) > 4*size && end < size:
			// A long line has passed; give its memory back.
			small := make([]byte, size)
			copy(small, buf[:end])
			buf = small
		case end == len(buf):
			// Not full of max yet (that would be skipping), so it can grow.
			bigger := make([]byte, min(2*len(buf), max+1))
			copy(bigger, buf[:end])
			buf = bigger
		}
		n, err := r.Read(buf[end:])
		end += n
		readErr = err
	}
}
