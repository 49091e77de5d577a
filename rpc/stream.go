package rpc

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sourcegraph/jsonrpc2"
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
	// FramingNDJSON is one JSON value per line, as shell pipes speak it.
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

// maxFrame bounds a Content-Length, so a corrupt header cannot make Tether
// allocate without limit.
const maxFrame = 1 << 30

// Stream is the jsonrpc2.ObjectStream Tether serves on. Unlike the streams
// of sourcegraph/jsonrpc2, which close the connection on any bad message, it
// answers a body that is not JSON with -32700 and a JSON value that is not a
// JSON-RPC message with -32600 (both with id null), and reads on. Only a
// broken frame header, after which no message boundary can be trusted, ends
// it.
//
// ReadObject is called by jsonrpc2's read loop alone. WriteObject may be
// called from any goroutine: each message is written with one Write under a
// mutex, so messages never interleave.
type Stream struct {
	r       *bufio.Reader
	w       io.Writer
	c       io.Closer
	framing atomic.Int32
	log     *slog.Logger

	wmu sync.Mutex
	buf bytes.Buffer  // the body, reused by WriteObject under wmu
	enc *json.Encoder // writes into buf; HTML characters left as they are
	out bytes.Buffer  // header and body, written with one Write

	inputEnded  chan struct{} // closed at the end of input
	writeFailed chan struct{} // closed when a write fails: nobody reads any more
	failOnce    sync.Once
	closed      chan struct{} // closed by Close
	closeOnce   sync.Once
}

var _ jsonrpc2.ObjectStream = (*Stream)(nil)

// NewStream returns a Stream reading from r and writing to w. Close closes c
// (the reading end; Tether never closes its stdout).
func NewStream(r io.Reader, w io.Writer, c io.Closer, f Framing, log *slog.Logger) *Stream {
	s := &Stream{
		r: bufio.NewReaderSize(r, 64<<10), w: w, c: c, log: log,
		inputEnded:  make(chan struct{}),
		writeFailed: make(chan struct{}),
		closed:      make(chan struct{}),
	}
	s.enc = json.NewEncoder(&s.buf)
	s.enc.SetEscapeHTML(false)
	s.framing.Store(int32(f))
	return s
}

// InputEnded is closed when the client's input has ended. The connection
// stays open for writing, so that what the client asked for can still be
// answered, until Close.
func (s *Stream) InputEnded() <-chan struct{} { return s.inputEnded }

// WriteFailed is closed when a write has failed: nobody reads the answers.
func (s *Stream) WriteFailed() <-chan struct{} { return s.writeFailed }

// Framing reports the framing in use; FramingAuto until the first message
// has been read.
func (s *Stream) Framing() Framing { return Framing(s.framing.Load()) }

// ReadObject implements jsonrpc2.ObjectStream. At the end of input it
// closes InputEnded and waits for Close before it returns io.EOF, because
// jsonrpc2 closes the whole connection, writing side too, when a read fails.
func (s *Stream) ReadObject(v any) error {
	for {
		body, err := s.readFrame()
		if errors.Is(err, io.EOF) {
			close(s.inputEnded)
			<-s.closed
			return io.EOF
		}
		if err != nil {
			return err
		}
		if body == nil {
			continue // a blank line between NDJSON messages
		}
		if code, msg := check(body); code != 0 {
			s.log.Warn("bad message", "code", code, "err", msg)
			if err := s.writeNullIDError(code, msg); err != nil {
				return err
			}
			continue
		}
		return json.Unmarshal(body, v)
	}
}

// readFrame returns the next message's bytes, or nil for an empty line.
func (s *Stream) readFrame() ([]byte, error) {
	if s.Framing() == FramingAuto {
		f, err := s.detect()
		if err != nil {
			return nil, err
		}
		s.framing.Store(int32(f))
	}
	if s.Framing() == FramingNDJSON {
		line, err := s.r.ReadBytes('\n')
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			return line, nil // a last line without newline still counts
		}
		return nil, err
	}
	return s.readLSP()
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

// readLSP reads one Content-Length frame. Header names are matched without
// regard to case and lines may end in CRLF or LF, as lenient as the clients
// in the wild need; anything else wrong with the header is ErrBrokenFrame.
func (s *Stream) readLSP() ([]byte, error) {
	length := -1
	for lines := 0; ; lines++ {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if err == io.EOF && lines == 0 && line == "" {
				return nil, io.EOF
			}
			return nil, fmt.Errorf("%w: %v", ErrBrokenFrame, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if lines == 0 {
				lines-- // blank lines between frames
				continue
			}
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: %q is not a header", ErrBrokenFrame, line)
		}
		if strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			n, err := strconv.Atoi(strings.TrimSpace(value))
			if err != nil || n < 0 || n > maxFrame {
				return nil, fmt.Errorf("%w: bad Content-Length %q", ErrBrokenFrame, value)
			}
			length = n
		}
	}
	if length < 0 {
		return nil, fmt.Errorf("%w: no Content-Length", ErrBrokenFrame)
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(s.r, body); err != nil {
		return nil, fmt.Errorf("%w: body shorter than Content-Length: %v", ErrBrokenFrame, err)
	}
	return body, nil
}

// envelope is what check needs of a message to tell whether jsonrpc2 can
// take it. Fields are raw so that absence (nil) and null differ.
type envelope struct {
	JSONRPC json.RawMessage `json:"jsonrpc"`
	Method  json.RawMessage `json:"method"`
	ID      json.RawMessage `json:"id"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

// check returns 0 for a message jsonrpc2 can take, else the code and
// message to answer it with. It rejects everything on which jsonrpc2 would
// close the connection or misbehave (batches, fractional, negative or
// object ids, id null).
func check(body []byte) (int64, string) {
	if !json.Valid(body) {
		return CodeParseError, "parse error: the message is not valid JSON"
	}
	switch body[0] {
	case '[':
		return CodeInvalidRequest, "invalid request: batches are not supported; send one message at a time"
	case '{':
	default:
		return CodeInvalidRequest, "invalid request: a message must be a JSON object"
	}
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return CodeInvalidRequest, "invalid request: " + err.Error()
	}
	if string(e.JSONRPC) != `"2.0"` {
		return CodeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`
	}
	if e.ID != nil && !validID(e.ID) {
		return CodeInvalidRequest, "invalid request: id must be a string or a non-negative integer"
	}
	switch {
	case e.Method != nil:
		var m string
		if json.Unmarshal(e.Method, &m) != nil || m == "" {
			return CodeInvalidRequest, "invalid request: method must be a non-empty string"
		}
		// null params are taken as absent: clients send them for methods
		// without params (LSP's shutdown).
		if e.Params != nil && e.Params[0] != '{' && e.Params[0] != '[' && e.Params[0] != 'n' {
			return CodeInvalidRequest, "invalid request: params must be an object or an array"
		}
	case e.Result != nil || e.Error != nil:
		if e.ID == nil {
			return CodeInvalidRequest, "invalid request: a response needs an id"
		}
	default:
		return CodeInvalidRequest, "invalid request: a message needs a method, or a result or error"
	}
	return 0, ""
}

func validID(id json.RawMessage) bool {
	switch id[0] {
	case '"':
		return true
	case 'n': // null: jsonrpc2 would take the request for a notification
		return false
	}
	_, err := strconv.ParseUint(string(id), 10, 64)
	return err == nil
}

// nullIDError is an error response to a message whose id is unknown.
type nullIDError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      *struct{}       `json:"id"`
	Error   *jsonrpc2.Error `json:"error"`
}

func (s *Stream) writeNullIDError(code int64, msg string) error {
	return s.WriteObject(nullIDError{JSONRPC: "2.0", Error: &jsonrpc2.Error{Code: code, Message: msg}})
}

// WriteObject implements jsonrpc2.ObjectStream.
func (s *Stream) WriteObject(v any) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.buf.Reset()
	if err := s.enc.Encode(v); err != nil {
		return err
	}
	body := s.buf.Bytes() // ends with the newline NDJSON wants
	if s.Framing() != FramingNDJSON {
		body = body[:len(body)-1]
		s.out.Reset()
		s.out.WriteString("Content-Length: ")
		s.out.WriteString(strconv.Itoa(len(body)))
		s.out.WriteString("\r\n\r\n")
		s.out.Write(body)
		body = s.out.Bytes()
	}
	if _, err := s.w.Write(body); err != nil {
		s.failOnce.Do(func() { close(s.writeFailed) })
		return err
	}
	return nil
}

// Close implements jsonrpc2.ObjectStream.
func (s *Stream) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	if s.c == nil {
		return nil
	}
	return s.c.Close()
}
