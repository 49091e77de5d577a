package rpc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Framing is how messages are delimited on the byte stream.
type Framing int32

const (
	// FramingAuto detects the framing from the first bytes the client sends
	// and answers in the same.
	FramingAuto Framing = iota
	// FramingLSP is a Content-Length header, a blank line and the body, as
	// vscode-jsonrpc, Neovim's vim.lsp.rpc and Emacs' jsonrpc.el speak it.
	FramingLSP
	// FramingNDJSON is one JSON value per line, as shell pipes and ACP
	// speak it.
	FramingNDJSON
)

// ParseFraming parses the --framing flag.
func ParseFraming(s string) (Framing, error) {
	switch s {
	case "auto", "":
		return FramingAuto, nil
	case "lsp":
		return FramingLSP, nil
	case "ndjson":
		return FramingNDJSON, nil
	}
	return 0, fmt.Errorf("unknown framing %q (want auto, lsp or ndjson)", s)
}

// ErrBrokenFrame means a frame header could not be read: the stream is out
// of step and the connection ends. It is the only bad input that does.
var ErrBrokenFrame = errors.New("broken frame header")

// DefaultMaxMessageSize bounds one incoming message (--max-message-size).
const DefaultMaxMessageSize = 64 << 20

// TooLargeError is a message above the size limit. It was read past and
// dropped without being held in memory; the stream reads on.
type TooLargeError struct {
	Size  int64 // the announced size, or what was read before giving up on a line
	Limit int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("message of %d bytes is over the limit of %d bytes (--max-message-size); skipped", e.Size, e.Limit)
}

// Stream frames messages on a byte stream: it reads one message body at a
// time, and tells the connection's writer (writer.go), its only writer,
// which framing the peer uses.
//
// Read is called by one goroutine (the connection's read loop).
type Stream struct {
	r       *bufio.Reader
	w       io.Writer
	c       io.Closer
	framing atomic.Int32
	maxSize int
	log     *slog.Logger

	line []byte // NDJSON line being assembled, reused

	writeFailed chan struct{} // closed when a write fails: nobody reads any more
	failOnce    sync.Once
	closeOnce   sync.Once
}

// NewStream returns a Stream reading from r and writing to w. Close closes c
// (the reading end; Tether never closes its stdout). maxSize bounds one
// incoming message; 0 means DefaultMaxMessageSize.
func NewStream(r io.Reader, w io.Writer, c io.Closer, f Framing, maxSize int, log *slog.Logger) *Stream {
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	s := &Stream{
		r: bufio.NewReaderSize(r, 64<<10), w: w, c: c, maxSize: maxSize, log: log,
		writeFailed: make(chan struct{}),
	}
	s.framing.Store(int32(f))
	return s
}

// WriteFailed is closed when a write has failed: nobody reads the answers.
func (s *Stream) WriteFailed() <-chan struct{} { return s.writeFailed }

// Framing reports the framing in use; FramingAuto until the first message
// has been read.
func (s *Stream) Framing() Framing { return Framing(s.framing.Load()) }

// Read returns the next message body, with white space around it removed.
// The body is the caller's to keep. Errors: io.EOF at the end of input; a
// *TooLargeError for a message that was skipped (read on after it);
// ErrBrokenFrame when no message boundary can be trusted any more.
func (s *Stream) Read() ([]byte, error) {
	for {
		if s.Framing() == FramingAuto {
			f, err := s.detect()
			if err != nil {
				return nil, err
			}
			s.framing.Store(int32(f))
		}
		var body []byte
		var err error
		if s.Framing() == FramingNDJSON {
			body, err = s.readLine()
		} else {
			body, err = s.readLSP()
		}
		if err != nil {
			return nil, err
		}
		if body = bytes.TrimSpace(body); len(body) == 0 {
			continue // a blank line between NDJSON messages, or an empty frame
		}
		return bytes.Clone(body), nil
	}
}

// detect peeks past leading white space: JSON starts with { or [, an LSP
// frame with a header name.
func (s *Stream) detect() (Framing, error) {
	for {
		b, err := s.r.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			s.r.ReadByte()
		case '{', '[':
			return FramingNDJSON, nil
		default:
			return FramingLSP, nil
		}
	}
}

// readLine reads one NDJSON line. A line over the limit is read to its end
// and dropped, so memory stays bounded whatever the client sends.
func (s *Stream) readLine() ([]byte, error) {
	s.line = s.line[:0]
	skipped := int64(0)
	for {
		chunk, err := s.r.ReadSlice('\n')
		switch {
		case skipped > 0:
			skipped += int64(len(chunk))
		case len(s.line)+len(chunk) > s.maxSize:
			skipped = int64(len(s.line) + len(chunk))
			s.line = s.line[:0]
		default:
			s.line = append(s.line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if skipped > 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
			return nil, &TooLargeError{Size: skipped, Limit: s.maxSize}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(bytes.TrimSpace(s.line)) > 0 {
				return s.line, nil // a last line without newline still counts
			}
			return nil, err
		}
		return s.line, nil
	}
}

// readLSP reads one Content-Length frame. Header names are matched without
// regard to case and lines may end in CRLF or LF, as lenient as the clients
// in the wild need; anything else wrong with the header is ErrBrokenFrame.
// A body over the limit is discarded in chunks, never allocated.
func (s *Stream) readLSP() ([]byte, error) {
	length := int64(-1)
	for lines := 0; ; lines++ {
		line, err := s.r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && lines == 0 && len(line) == 0 {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%w: %v", ErrBrokenFrame, err)
		}
		text := strings.TrimRight(string(line), "\r\n")
		if text == "" {
			if lines == 0 {
				lines-- // blank lines between frames
				continue
			}
			break
		}
		name, value, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("%w: %q is not a header", ErrBrokenFrame, text)
		}
		if strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%w: bad Content-Length %q", ErrBrokenFrame, value)
			}
			length = n
		}
	}
	if length < 0 {
		return nil, fmt.Errorf("%w: no Content-Length", ErrBrokenFrame)
	}
	if length > int64(s.maxSize) {
		if _, err := io.CopyN(io.Discard, s.r, length); err != nil {
			return nil, fmt.Errorf("%w: body shorter than Content-Length: %v", ErrBrokenFrame, err)
		}
		return nil, &TooLargeError{Size: length, Limit: s.maxSize}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(s.r, body); err != nil {
		return nil, fmt.Errorf("%w: body shorter than Content-Length: %v", ErrBrokenFrame, err)
	}
	return body, nil
}

// write writes b, framed messages, and remembers a failure.
func (s *Stream) write(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		s.failOnce.Do(func() { close(s.writeFailed) })
		return err
	}
	return nil
}

// Close closes the reading end, which ends a Read in progress where the
// reader supports that (pipes, files).
func (s *Stream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		if s.c != nil {
			err = s.c.Close()
		}
	})
	return err
}
