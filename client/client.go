// Package client is the Go client of Tether, for host apps that embed an AI
// coding agent: it runs a Tether (a child process it spawns, or any
// connection you hand it) and speaks protocol.md to it, with the message
// types of package protocol.
//
// A Client is one connection to one Tether, safe for concurrent use: several
// Query calls, on different sessions or the same one, may run at once.
// [Spawn] starts the binary and owns the process; [Connect] speaks over a
// connection you own (pipes to an in-process server, a socket).
//
// Events: [Client.Query] takes a callback that it calls on its own
// goroutine, one event at a time in the order Tether sent them, and returns
// only after the last one. The caller needs no goroutine or channel of its
// own, cannot miss the end of the stream, and may call the Client (Cancel,
// List) from the callback. Events wait in an unbounded queue while the
// callback runs, so a slow callback slows nobody else down.
//
// Requests from Tether: permission/request goes to [Options.Permission] and
// tool/call to [Options.Tool]. Each runs on a goroutine the Client starts
// and waits for (Close waits for all of them), after the events before it
// have been handed to Query's callback, with a context that ends when
// Tether withdraws the request or the Client closes. A host that installs
// no permission handler denies every request; one that installs no tool
// handler answers every tool/call with an error.
//
// Goroutines: jsonrpc2's read loop, which only decodes and queues, never
// blocks on the host; one per handler call; for Spawn, one waiting for the
// process. Close ends and waits for all of them.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/tether-dev/tether/protocol"
)

// DefaultCloseTimeout bounds Close's graceful part when Options.CloseTimeout
// is zero.
const DefaultCloseTimeout = 10 * time.Second

// Options configure a Client. The zero value is usable: it denies every
// permission request and fails every tool/call.
type Options struct {
	// Permission answers permission/request. nil denies every request.
	Permission PermissionHandler
	// Tool runs the tools the host declared in a session's Tools
	// (tool/call). nil answers every call with an error.
	Tool ToolHandler
	// Log receives the client's own diagnostics (a late answer dropped, a
	// failed reply). nil discards them.
	Log *slog.Logger
	// CloseTimeout bounds how long Close waits for shutdown and, with
	// Spawn, for the process to exit, before it stops the process with
	// SIGTERM and then SIGKILL. Zero means DefaultCloseTimeout.
	CloseTimeout time.Duration
}

// Decision is a host's answer to a permission request.
type Decision struct {
	Allow bool
	// Remember, with Allow, allows the tool for the rest of the session
	// without asking again.
	Remember bool
	// Reason, with a deny, is told to the agent.
	Reason string
}

// PermissionHandler decides whether the agent may use a tool. ctx ends
// when Tether withdraws the request (the query was cancelled, the turn
// ended, the session closed) or the Client closes; the answer is then not
// sent, so a handler that prompts a user should give up when ctx ends.
type PermissionHandler func(ctx context.Context, req protocol.PermissionRequestParams) Decision

// ToolHandler runs a tool the host declared, for tool/call. An error is sent
// as a JSON-RPC error, which Tether reports to the agent as a failed tool.
// ctx ends when Tether no longer needs the answer ($/cancelRequest) or the
// Client closes.
type ToolHandler func(ctx context.Context, call protocol.ToolCallParams) (protocol.ToolCallResult, error)

// Client is one connection to one Tether. See the package documentation for
// who owns which goroutine.
type Client struct {
	opts   Options
	log    *slog.Logger
	conn   *jsonrpc2.Conn
	nextID atomic.Uint64
	proc   *process // the spawned Tether; nil after Connect

	// ctx is the parent of every handler's context; cancel ends it at Close.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	closing  bool                               // Close started: no new handler goroutine
	handlers sync.WaitGroup                     // permission and tool handler goroutines
	queries  map[jsonrpc2.ID]*queryState        // running Query calls by request id
	perms    map[string]context.CancelFunc      // pending permission requests by requestId
	calls    map[jsonrpc2.ID]context.CancelFunc // pending tool/call requests by id

	closeOnce sync.Once
	closeErr  error
}

// Connect speaks to a Tether over rwc, which the Client then owns: Close
// closes it. Tether's framing is detected from what the client sends
// (Content-Length); see [Duplex] for joining two pipes.
func Connect(rwc io.ReadWriteCloser, opts Options) *Client {
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = DefaultCloseTimeout
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Client{
		opts:    opts,
		log:     log,
		ctx:     ctx,
		cancel:  cancel,
		queries: make(map[jsonrpc2.ID]*queryState),
		perms:   make(map[string]context.CancelFunc),
		calls:   make(map[jsonrpc2.ID]context.CancelFunc),
	}
	stream := jsonrpc2.NewBufferedStream(rwc, jsonrpc2.VSCodeObjectCodec{})
	c.conn = jsonrpc2.NewConn(context.Background(), stream, dispatcher{c}, jsonrpc2.SetLogger(jsonrpcLogger{log}))
	return c
}

// Duplex joins a read end and a write end into one io.ReadWriteCloser for
// Connect. Close closes w first, so that the other side sees the end of its
// input, then r.
func Duplex(r io.ReadCloser, w io.WriteCloser) io.ReadWriteCloser {
	return duplex{r, w}
}

type duplex struct {
	io.ReadCloser
	w io.WriteCloser
}

func (d duplex) Write(p []byte) (int, error) { return d.w.Write(p) }

func (d duplex) Close() error {
	return errors.Join(d.w.Close(), d.ReadCloser.Close())
}

// Done is closed when the connection has ended: after Close, or when Tether
// exited or closed its output.
func (c *Client) Done() <-chan struct{} { return c.conn.DisconnectNotify() }

// id picks the id of the next request. The Client picks every id itself
// (never jsonrpc2's counter), so that Query knows its id before sending,
// to route the query's notifications and to cancel it. 0 is skipped:
// jsonrpc2 takes it for "unset".
func (c *Client) id() jsonrpc2.ID { return jsonrpc2.ID{Num: c.nextID.Add(1)} }

// call sends a request and waits for its answer.
func (c *Client) call(ctx context.Context, method string, params, result any) error {
	return callError(method, c.conn.Call(ctx, method, params, result, jsonrpc2.PickID(c.id())))
}

// Initialize tells Tether who the client is and returns what Tether offers:
// its version and which backends are available here. It is optional.
func (c *Client) Initialize(ctx context.Context, params protocol.InitializeParams) (*protocol.InitializeResult, error) {
	var res protocol.InitializeResult
	if err := c.call(ctx, protocol.MethodInitialize, params, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// Cancel stops the session's running query and its queued ones
// (session/cancel); each of them returns with stopReason "cancelled". It
// returns how many were stopped.
func (c *Client) Cancel(ctx context.Context, sessionID string) (int, error) {
	var res protocol.CancelResult
	err := c.call(ctx, protocol.MethodSessionCancel, protocol.SessionParams{SessionID: sessionID}, &res)
	return res.Cancelled, err
}

// Cleanup ends a session and stops its backend (session/cleanup). It
// reports false for an unknown session.
func (c *Client) Cleanup(ctx context.Context, sessionID string) (bool, error) {
	var res protocol.CleanupResult
	err := c.call(ctx, protocol.MethodSessionCleanup, protocol.SessionParams{SessionID: sessionID}, &res)
	return res.Closed, err
}

// List returns the live sessions, oldest first (session/list).
func (c *Client) List(ctx context.Context) ([]protocol.SessionInfo, error) {
	var res protocol.ListResult
	if err := c.call(ctx, protocol.MethodSessionList, nil, &res); err != nil {
		return nil, err
	}
	return res.Sessions, nil
}

// Close ends the connection, politely first: shutdown (every query is
// cancelled, every session closed and its backend stopped), then exit. It
// then closes the connection and, after Spawn, waits for the process to
// exit, stopping it with SIGTERM and then SIGKILL if it has not within
// Options.CloseTimeout. Whatever happens, the process has been waited for,
// and every goroutine of the Client has ended, when Close returns. Running
// Query calls return: cancelled, or with ErrClosed.
//
// The error reports a failed shutdown or a process that did not exit with
// 0. Later calls return the same error.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.close() })
	return c.closeErr
}

func (c *Client) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.CloseTimeout)
	defer cancel()
	var errs []error
	err := c.call(ctx, protocol.MethodShutdown, nil, nil)
	switch {
	case err == nil:
		if err := c.conn.Notify(ctx, protocol.MethodExit, nil); err != nil && !errors.Is(err, jsonrpc2.ErrClosed) {
			errs = append(errs, fmt.Errorf("exit: %w", err))
		}
	case errors.Is(err, ErrClosed):
		// Tether is gone already; what is left is to wait for it.
	default:
		errs = append(errs, err)
	}

	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.cancel() // every handler's context
	if c.proc != nil {
		// After exit, Tether exits by itself, and its output ends: wait
		// for that before closing our ends, so nothing it wrote is lost.
		errs = append(errs, c.proc.stop(ctx, c.opts.CloseTimeout))
	}
	if err := c.conn.Close(); err != nil && !errors.Is(err, jsonrpc2.ErrClosed) {
		errs = append(errs, fmt.Errorf("closing the connection: %w", err))
	}
	c.handlers.Wait()
	return errors.Join(errs...)
}

// goHandler runs f on a goroutine that Close waits for, unless Close has
// started, in which case f is not run: its answer could not be sent.
func (c *Client) goHandler(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		f()
	}()
}

// rawID is id as JSON, for $/cancelRequest.
func rawID(id jsonrpc2.ID) json.RawMessage {
	b, _ := json.Marshal(id) // an ID always marshals
	return b
}

// jsonrpcLogger sends jsonrpc2's own messages to the client's log.
type jsonrpcLogger struct{ log *slog.Logger }

func (l jsonrpcLogger) Printf(format string, v ...any) {
	l.log.Debug(fmt.Sprintf(format, v...))
}
