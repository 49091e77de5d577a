// Package rpc is the JSON-RPC 2.0 layer every wire dialect of Tether runs
// on: framing (stream.go), decoding and checking messages (message.go),
// dispatch of requests and notifications to registered handlers, requests
// from Tether to the peer, cancellation both ways, and the code-carrying
// error type (errors.go). It knows no dialect and no domain package: method
// names, params and the mapping of domain errors to codes belong to the
// dialect packages under handlers/.
//
// Bad input never ends a connection: every message that is not valid
// JSON-RPC is answered with an error and skipped. Only a broken frame
// header, after which no message boundary can be trusted, ends it.
package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
)

// Handler handles one method. It runs on the connection's read loop and
// must not block: it decodes, validates, hands the work on and returns.
// ctx ends when the request is cancelled (cause ErrRequestCancelled) or the
// connection is closed (cause ErrClosed).
type Handler func(ctx context.Context, req *Request)

// Options configure a Conn.
type Options struct {
	// CancelMethod is the notification that cancels a request, in both
	// directions, and CancelParam the member of its params that holds the
	// request's id: "$/cancelRequest" and "id" in Tether's protocol (as in
	// LSP), "$/cancel_request" and "requestId" in ACP. Empty: no
	// cancellation.
	CancelMethod, CancelParam string
	// MapError turns a handler's error into the *Error the peer gets. Nil,
	// or a nil result, leaves it to the defaults: an *Error (or one
	// wrapped) as it is, ErrMethodNotFound and cancellations their codes,
	// anything else CodeInternalError.
	MapError func(error) *Error
	// Trace logs every message in and out at debug level.
	Trace bool
	// OnReplyProblem, when set, is told of a request answered twice, or
	// still unanswered when the connection is closed: a check for tests
	// that every request is answered exactly once.
	OnReplyProblem func(method, problem string)
}

// Conn is one JSON-RPC 2.0 connection over a Stream.
//
// Goroutines, both started by Start and ended by Close:
//   - the read loop: it reads until the input ends or breaks (InputEnded,
//     Broken) and runs the handlers, in wire order. Close closes the
//     reading end and waits for it.
//   - the writer (writer.go): it writes what every sender has queued, in
//     order, many messages per write. Close lets it write what is queued
//     and waits for it; only a write that never returns (a peer that
//     neither reads nor closes) makes Close give up after a few seconds,
//     and the writer then ends when that write does.
//
// Handlers hand long work to goroutines of their own owners; Call, Notify,
// Send and Reply may be used from any goroutine, and so may an Outbox from
// one goroutine at a time. Senders encode on their own goroutines; none
// waits for the peer to read unless the messages already waiting are over
// a limit (see writer).
type Conn struct {
	stream  *Stream
	w       *writer
	sent    *Outbox // Send's, shared by its callers
	log     *slog.Logger
	opts    Options
	methods map[string]Handler

	ctx    context.Context // parent of every request's context
	cancel context.CancelCauseFunc

	mu       sync.Mutex
	inflight map[string]*Request // incoming requests not yet answered, by id key
	calls    map[string]*call    // outgoing requests not yet answered, by id key
	callErr  error               // set when no call can be answered any more
	nextCall uint64
	closed   bool

	inputEnded chan struct{} // closed when the peer's input ended cleanly
	broken     chan struct{} // closed when the input broke (readErr says how)
	readErr    error
	readDone   chan struct{}
	closeOnce  sync.Once
}

// NewConn returns a connection over stream with no methods registered.
func NewConn(stream *Stream, log *slog.Logger, opts Options) *Conn {
	ctx, cancel := context.WithCancelCause(context.Background())
	w := newWriter(stream, log, opts.Trace)
	return &Conn{
		stream:     stream,
		w:          w,
		sent:       &Outbox{w: w},
		log:        log,
		opts:       opts,
		methods:    make(map[string]Handler),
		ctx:        ctx,
		cancel:     cancel,
		inflight:   make(map[string]*Request),
		calls:      make(map[string]*call),
		inputEnded: make(chan struct{}),
		broken:     make(chan struct{}),
		readDone:   make(chan struct{}),
	}
}

// Register sets the handler of a method. Call it before Start.
func (c *Conn) Register(method string, h Handler) { c.methods[method] = h }

// Start starts the read loop and the writer.
func (c *Conn) Start() {
	c.w.start()
	go c.readLoop()
}

// InputEnded is closed when the peer's input has ended cleanly. The
// connection stays open for writing, so what the peer asked can still be
// answered, but Calls fail from then on with ErrInputEnded: no answer can
// come.
func (c *Conn) InputEnded() <-chan struct{} { return c.inputEnded }

// Broken is closed when the input broke (a bad frame header, a read error);
// Err says how. Calls fail as after InputEnded.
func (c *Conn) Broken() <-chan struct{} { return c.broken }

// Err is why the input broke, once Broken is closed.
func (c *Conn) Err() error {
	select {
	case <-c.broken:
		return c.readErr
	default:
		return nil
	}
}

// WriteFailed is closed when a write has failed: nobody reads any more.
func (c *Conn) WriteFailed() <-chan struct{} { return c.stream.WriteFailed() }

// Framing is the framing the connection speaks.
func (c *Conn) Framing() Framing { return c.stream.Framing() }

// Close cancels every request's context, fails every Call, closes the
// reading end and waits for the read loop, then writes what is queued and
// waits for the writer (see Conn). Nothing is written after Close. It is
// idempotent.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.cancel(ErrClosed)
		c.failCalls(ErrClosed)
		err = c.stream.Close()
		<-c.readDone
		if !c.w.stop(stuckWriteWait) {
			c.log.Warn("a write to the peer has not returned; closing without waiting for it", "waited", stuckWriteWait)
		}
		if c.opts.OnReplyProblem != nil {
			c.mu.Lock()
			for _, r := range c.inflight {
				c.opts.OnReplyProblem(r.Method, "never answered (id "+string(r.ID)+")")
			}
			c.mu.Unlock()
		}
	})
	return err
}

func (c *Conn) readLoop() {
	defer close(c.readDone)
	for {
		body, err := c.stream.Read()
		var tooLarge *TooLargeError
		switch {
		case err == nil:
		case errors.As(err, &tooLarge):
			c.log.Warn("message too large; skipped", "size", tooLarge.Size, "limit", tooLarge.Limit)
			c.writeError(nil, &Error{Code: CodeInvalidRequest, Message: "invalid request: " + tooLarge.Error()})
			continue
		case errors.Is(err, io.EOF):
			c.failCalls(ErrInputEnded)
			close(c.inputEnded)
			return
		default:
			c.mu.Lock()
			closed := c.closed
			c.mu.Unlock()
			if !closed {
				c.readErr = err
				c.failCalls(fmt.Errorf("%w: %w", ErrInputEnded, err))
				close(c.broken)
			}
			return
		}
		if c.opts.Trace {
			c.log.Debug("<- message", "body", string(body))
		}
		m, bad := decodeMessage(body)
		if bad != nil {
			c.log.Warn("bad message; answered and skipped", "code", bad.code, "err", bad.msg)
			c.writeError(bad.id, &Error{Code: bad.code, Message: bad.msg})
			continue
		}
		c.dispatch(m)
	}
}

func (c *Conn) dispatch(m *incoming) {
	switch {
	case m.isResponse():
		c.deliver(m)
	case !m.isRequest():
		c.notification(m)
	default:
		c.request(m)
	}
}

func (c *Conn) notification(m *incoming) {
	if c.opts.CancelMethod != "" && m.method == c.opts.CancelMethod {
		c.cancelRequest(m.params)
		return
	}
	h, ok := c.methods[m.method]
	if !ok {
		c.log.Debug("ignoring notification", "method", m.method)
		return
	}
	c.invoke(c.ctx, h, &Request{Method: m.method, Params: m.params, conn: c})
}

func (c *Conn) cancelRequest(params json.RawMessage) {
	var p map[string]json.RawMessage
	if json.Unmarshal(params, &p) != nil {
		c.log.Warn("ignoring " + c.opts.CancelMethod + " without params")
		return
	}
	raw := p[c.opts.CancelParam]
	key, ok := "", len(raw) > 0
	if ok {
		key, ok = idKey(raw)
	}
	if !ok {
		c.log.Warn("ignoring "+c.opts.CancelMethod+" without a valid id", "param", c.opts.CancelParam)
		return
	}
	c.mu.Lock()
	r := c.inflight[key]
	c.mu.Unlock()
	if r != nil {
		r.cancel(ErrRequestCancelled)
	}
}

func (c *Conn) request(m *incoming) {
	ctx, cancel := context.WithCancelCause(c.ctx)
	r := &Request{ID: m.id, Method: m.method, Params: m.params, conn: c, key: m.key, cancel: cancel}
	c.mu.Lock()
	_, dup := c.inflight[m.key]
	if !dup {
		c.inflight[m.key] = r
	}
	c.mu.Unlock()
	if dup {
		// Answering with the id would hand the error to the client's
		// first request of that id, whose real answer it then drops.
		cancel(nil)
		c.log.Warn("request id already in flight; answered with id null", "id", string(m.id), "method", m.method)
		c.writeError(nil, &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("invalid request: id %s is already in use by a request in flight", m.id)})
		return
	}
	h, ok := c.methods[m.method]
	if !ok {
		r.Reply(nil, fmt.Errorf("%w: %s", ErrMethodNotFound, m.method))
		return
	}
	c.invoke(ctx, h, r)
}

// invoke runs a handler; a panic becomes CodeInternalError and a log line
// with the stack, and the connection stays up.
func (c *Conn) invoke(ctx context.Context, h Handler, r *Request) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("panic in handler", "method", r.Method, "panic", p, "stack", string(debug.Stack()))
			r.Reply(nil, &Error{Code: CodeInternalError, Message: fmt.Sprintf("internal error in %s: %v", r.Method, p)})
		}
	}()
	h(ctx, r)
}

// Request is an incoming request or notification as a handler sees it.
type Request struct {
	// ID is the request's id exactly as it was on the wire; nil for
	// notifications.
	ID     json.RawMessage
	Method string
	Params json.RawMessage

	conn   *Conn
	key    string
	cancel context.CancelCauseFunc
	once   sync.Once
}

// IsNotification reports whether the message has no id: it gets no answer.
func (r *Request) IsNotification() bool { return r.ID == nil }

// Reply answers the request with result (err nil) or err. The first call
// wins; later ones are reported to Options.OnReplyProblem. It may be called
// from any goroutine, and must be called exactly once for every request: a
// handler that cannot answer at once hands Reply on to whoever will. For a
// notification it does nothing. A result that implements [Appender] is
// appended directly, without an intermediate copy.
func (r *Request) Reply(result any, err error) {
	if r.ID == nil {
		return
	}
	first := false
	r.once.Do(func() {
		first = true
		c := r.conn
		c.mu.Lock()
		delete(c.inflight, r.key)
		c.mu.Unlock()
		r.cancel(nil)
		if err != nil {
			c.writeError(r.ID, c.mapError(err))
			return
		}
		c.writeResult(r.ID, result)
	})
	if !first && r.conn.opts.OnReplyProblem != nil {
		r.conn.opts.OnReplyProblem(r.Method, "answered twice (id "+string(r.ID)+")")
	}
}

func (c *Conn) mapError(err error) *Error {
	if c.opts.MapError != nil {
		if e := c.opts.MapError(err); e != nil {
			return e
		}
	}
	return asError(err)
}

// Appender is a value that appends its own JSON encoding to a buffer: big
// results (a long turn's text) are written without being copied first.
type Appender interface {
	AppendJSON(dst []byte) ([]byte, error)
}

func (c *Conn) writeResult(id json.RawMessage, result any) {
	body := append(make([]byte, 0, 256), `{"jsonrpc":"2.0","id":`...)
	body = append(body, id...)
	body = append(body, `,"result":`...)
	if s, ok := result.(Streamer); ok {
		if err := c.w.sendMessage(body, s); err != nil {
			c.log.Debug("write", "err", err)
		}
		return
	}
	body, err := appendValue(body, result)
	if err != nil {
		c.log.Error("encoding a result", "id", string(id), "err", err)
		c.writeError(id, &Error{Code: CodeInternalError, Message: "internal error: encoding the result: " + err.Error()})
		return
	}
	c.send(append(body, '}'))
}

func (c *Conn) writeError(id json.RawMessage, e *Error) {
	body := append(make([]byte, 0, 128), `{"jsonrpc":"2.0","id":`...)
	if id == nil {
		body = append(body, "null"...)
	} else {
		body = append(body, id...)
	}
	body = append(body, `,"error":`...)
	body, _ = appendValue(body, e) // an *Error always encodes
	c.send(append(body, '}'))
}

// Notify sends a notification.
func (c *Conn) Notify(method string, params any) error {
	body, err := appendRequest(make([]byte, 0, 128), nil, method, params)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", method, err)
	}
	return c.send(body)
}

// Send sends one message body that the caller encoded itself, copied into
// an outbox that every caller of Send shares; body is not retained. Like
// an Outbox's, its messages go out after every message sent on the
// connection before them, and a reply goes out after them. A producer of
// many messages (a session's text chunks) does better with its own
// Outbox: texts merge when the peer does not keep up, and no lock is
// shared with other producers.
func (c *Conn) Send(body []byte) error {
	if err := c.sent.Send(body); err != nil {
		c.log.Debug("write", "err", err)
		return err
	}
	return nil
}

// send queues body, which is kept until written, after everything sent
// before it.
func (c *Conn) send(body []byte) error {
	if err := c.w.sendMessage(body, nil); err != nil {
		c.log.Debug("write", "err", err)
		return err
	}
	return nil
}

// appendRequest appends a request (id not nil) or a notification.
func appendRequest(dst, id []byte, method string, params any) ([]byte, error) {
	dst = append(dst, `{"jsonrpc":"2.0",`...)
	if id != nil {
		dst = append(dst, `"id":`...)
		dst = append(dst, id...)
		dst = append(dst, ',')
	}
	dst = append(dst, `"method":`...)
	dst, err := appendValue(dst, method)
	if err != nil {
		return nil, err
	}
	if params != nil {
		dst = append(dst, `,"params":`...)
		if dst, err = appendValue(dst, params); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}
