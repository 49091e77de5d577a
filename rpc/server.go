// Package rpc is Tether's transport: the framing on stdin/stdout, the
// sourcegraph/jsonrpc2 connection, dispatch of incoming messages to the
// handlers registered for them, request cancellation, and the mapping of
// errors to JSON-RPC codes. It is the only package that knows jsonrpc2.
package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/sessions"
)

// Request is an incoming request or notification as a handler sees it.
type Request struct {
	// ID is the request's id as it was on the wire; nil for notifications.
	ID     json.RawMessage
	Method string
	Params json.RawMessage

	reply func(result any, err error)
}

// Reply answers the request. The first call wins; later ones, and any call
// for a notification, do nothing. It may be called from any goroutine, and
// must be called exactly once for every request: a handler that cannot
// answer at once hands Reply on to whoever will.
func (r *Request) Reply(result any, err error) {
	if r.reply != nil {
		r.reply(result, err)
	}
}

// Handler handles one method. It runs on jsonrpc2's read loop and must not
// block: it decodes, validates, hands the work on and returns. ctx ends when
// the request is cancelled ($/cancelRequest, cause ErrRequestCancelled) or
// the connection closes.
type Handler func(ctx context.Context, req *Request)

// Server dispatches incoming messages to handlers, and is the client-facing
// end for sessions: it implements sessions.Client.
//
// Goroutines: jsonrpc2's read loop, started by Start and ended by Close or
// the peer; Done is closed once it has ended. Handlers run on that loop. A
// watcher, also started by Start, cancels the requests in flight when the
// connection ends; Close waits for it.
type Server struct {
	log     *slog.Logger
	methods map[string]Handler
	ctx     context.Context // cancelled when the connection ends
	cancel  context.CancelCauseFunc
	// conn is stored by Start and by the dispatcher before it runs a
	// handler: jsonrpc2 starts reading inside NewConn, so a request may be
	// handled, and its session notify, before Start's store is seen.
	conn     atomic.Pointer[jsonrpc2.Conn]
	watcher  chan struct{} // closed when the watcher has ended
	mu       sync.Mutex
	inflight map[jsonrpc2.ID]context.CancelCauseFunc
}

var _ sessions.Client = (*Server)(nil)

// NewServer returns a Server with no methods registered.
func NewServer(log *slog.Logger) *Server {
	ctx, cancel := context.WithCancelCause(context.Background())
	return &Server{
		log:      log,
		methods:  make(map[string]Handler),
		ctx:      ctx,
		cancel:   cancel,
		inflight: make(map[jsonrpc2.ID]context.CancelCauseFunc),
	}
}

// Register sets the handler of a method. Call it before Start.
func (s *Server) Register(method string, h Handler) { s.methods[method] = h }

// Start serves the stream. trace, when set, logs every message.
func (s *Server) Start(stream *Stream, trace bool) {
	opts := []jsonrpc2.ConnOpt{jsonrpc2.SetLogger(logger{s.log})}
	if trace {
		opts = append(opts, jsonrpc2.LogMessages(logger{s.log}))
	}
	conn := jsonrpc2.NewConn(context.Background(), stream, dispatcher{s}, opts...)
	s.conn.Store(conn)
	s.watcher = make(chan struct{})
	go func() {
		defer close(s.watcher)
		<-conn.DisconnectNotify()
		s.cancel(errConnClosed)
	}()
}

// Done is closed when the connection has ended: the peer closed it, a frame
// header was broken, or Close was called.
func (s *Server) Done() <-chan struct{} { return s.conn.Load().DisconnectNotify() }

// Close ends the connection and waits for the watcher.
func (s *Server) Close() error {
	err := s.conn.Load().Close()
	<-s.watcher
	if errors.Is(err, jsonrpc2.ErrClosed) {
		return nil
	}
	return err
}

// Notify implements sessions.Client.
func (s *Server) Notify(ctx context.Context, method string, params any) error {
	return s.conn.Load().Notify(ctx, method, params)
}

// Call implements sessions.Client. The request gets a string id of its own
// so that, when ctx ends first, the client can be told to stop with
// $/cancelRequest.
func (s *Server) Call(ctx context.Context, method string, params, result any) error {
	id := jsonrpc2.ID{Str: uuid.NewString(), IsString: true}
	conn := s.conn.Load()
	err := conn.Call(ctx, method, params, result, jsonrpc2.PickID(id))
	if ctx.Err() != nil {
		if err := conn.Notify(context.Background(), protocol.MethodCancelRequest, protocol.CancelRequestParams{ID: json.RawMessage(`"` + id.Str + `"`)}); err != nil {
			s.log.Debug("cancelling call", "method", method, "err", err)
		}
		return context.Cause(ctx)
	}
	var werr *jsonrpc2.Error
	if errors.As(err, &werr) {
		return fmt.Errorf("client answered %s with error %d: %s", method, werr.Code, werr.Message)
	}
	return err
}

// dispatcher is the jsonrpc2.Handler of a Server. It is a separate type so
// that Server's method set stays Tether's own.
type dispatcher struct{ s *Server }

// Handle runs on jsonrpc2's read loop, in wire order.
func (d dispatcher) Handle(_ context.Context, conn *jsonrpc2.Conn, r *jsonrpc2.Request) {
	s := d.s
	s.conn.Store(conn)
	if r.Notif {
		s.handleNotification(r)
		return
	}
	id := r.ID
	s.mu.Lock()
	_, dup := s.inflight[id]
	ctx, cancel := context.WithCancelCause(s.ctx)
	if !dup {
		s.inflight[id] = cancel
	}
	s.mu.Unlock()
	if dup {
		cancel(nil)
		s.replyError(conn, id, &jsonrpc2.Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("invalid request: id %s is already in use by a request in flight", id)})
		return
	}

	rawID, _ := json.Marshal(id)
	var once sync.Once
	req := &Request{ID: rawID, Method: r.Method, Params: rawParams(r.Params)}
	req.reply = func(result any, err error) {
		once.Do(func() {
			s.mu.Lock()
			delete(s.inflight, id)
			s.mu.Unlock()
			cancel(nil)
			if err != nil {
				s.replyError(conn, id, wireError(err))
				return
			}
			if err := conn.Reply(context.Background(), id, result); err != nil {
				s.log.Debug("reply", "id", id, "err", err)
			}
		})
	}
	h, ok := s.methods[r.Method]
	if !ok {
		req.Reply(nil, fmt.Errorf("%w: %s", errMethodNotFound, r.Method))
		return
	}
	s.invoke(ctx, h, req)
}

// invoke runs a handler; a panic becomes -32603 and a log line with the
// stack, and the connection and every session stay up.
func (s *Server) invoke(ctx context.Context, h Handler, req *Request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in handler", "method", req.Method, "panic", p, "stack", string(debug.Stack()))
			req.Reply(nil, fmt.Errorf("internal error in %s: %v", req.Method, p))
		}
	}()
	h(ctx, req)
}

func (s *Server) handleNotification(r *jsonrpc2.Request) {
	if r.Method == protocol.MethodCancelRequest {
		var p struct {
			ID jsonrpc2.ID `json:"id"`
		}
		if r.Params == nil || json.Unmarshal(*r.Params, &p) != nil {
			s.log.Warn("ignoring $/cancelRequest without a valid id")
			return
		}
		s.mu.Lock()
		cancel := s.inflight[p.ID]
		s.mu.Unlock()
		if cancel != nil {
			cancel(ErrRequestCancelled)
		}
		return
	}
	h, ok := s.methods[r.Method]
	if !ok {
		s.log.Debug("ignoring notification", "method", r.Method)
		return
	}
	s.invoke(s.ctx, h, &Request{Method: r.Method, Params: rawParams(r.Params)})
}

func (s *Server) replyError(conn *jsonrpc2.Conn, id jsonrpc2.ID, e *jsonrpc2.Error) {
	if err := conn.ReplyWithError(context.Background(), id, e); err != nil {
		s.log.Debug("reply", "id", id, "err", err)
	}
}

func rawParams(p *json.RawMessage) json.RawMessage {
	if p == nil {
		return nil
	}
	return *p
}

// logger adapts slog to jsonrpc2's Logger.
type logger struct{ l *slog.Logger }

func (l logger) Printf(format string, v ...any) {
	l.l.Debug(fmt.Sprintf(format, v...), "source", "jsonrpc2")
}
