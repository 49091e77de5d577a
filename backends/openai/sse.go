package openai

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxEventSize bounds one line and one event's data. A chunk is small, but
// a server that sends a whole tool call at once may put a large file's
// content in one event; this is the bound the openai-go SDK had.
const maxEventSize = 32 << 20

// errEventTooLarge is an event or a line over maxEventSize.
var errEventTooLarge = errors.New("server-sent event too large")

// sseReader reads the data of server-sent events (text/event-stream) from
// a response body, following the parts of the format the Chat Completions
// API and compatible servers use: "data:" lines, several of which make one
// event's data joined by newlines; comments (lines starting with ":");
// "event:", "id:" and "retry:" lines, which carry nothing the backend uses;
// LF or CRLF line ends; an event ends at a blank line.
//
// It reuses its buffers: the data next returns is valid until the next
// call, so reading a token allocates nothing.
type sseReader struct {
	br   *bufio.Reader
	line []byte // a line longer than br's buffer, assembled
	data []byte // the current event's data
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{br: bufio.NewReaderSize(r, 16<<10)}
}

// next returns the data of the next event that has data. At the end of the
// body it returns io.EOF; an event the body ends in the middle of, without
// its blank line, is dropped, as the format says. Any other error is the
// body's (a connection that broke, a cancelled request).
func (s *sseReader) next() ([]byte, error) {
	s.data = s.data[:0]
	hasData := false
	for {
		line, err := s.readLine()
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			if hasData {
				return s.data, nil
			}
			continue // a blank line after an event without data
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		// A line without a colon is a field of that name with no value;
		// a line that starts with one has no name and is a comment.
		if string(name) != "data" {
			continue
		}
		if hasData {
			s.data = append(s.data, '\n')
		}
		if len(s.data)+len(value) > maxEventSize {
			return nil, fmt.Errorf("%w: over %d bytes of data", errEventTooLarge, maxEventSize)
		}
		s.data = append(s.data, value...)
		hasData = true
	}
}

// readLine returns the next line without its line end. The last line of a
// body that does not end in a newline is returned too; after it, io.EOF.
func (s *sseReader) readLine() ([]byte, error) {
	line, err := s.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// Longer than the buffer: assemble it in s.line.
		s.line = append(s.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = s.br.ReadSlice('\n')
			if len(s.line)+len(line) > maxEventSize {
				return nil, fmt.Errorf("%w: a line over %d bytes", errEventTooLarge, maxEventSize)
			}
			s.line = append(s.line, line...)
		}
		line = s.line
	}
	if err != nil && (!errors.Is(err, io.EOF) || len(line) == 0) {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}
