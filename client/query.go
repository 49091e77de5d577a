package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/tether-dev/tether/protocol"
)

// Event is one notification of a query, as Tether sent it. Method says which
// it is, and exactly one of the typed fields is set accordingly; Params is
// the notification's params as they were on the wire (for logging, or for
// passing on as they are).
type Event struct {
	Method string
	Params json.RawMessage

	Token               *protocol.TextParams                // session/token
	Thinking            *protocol.TextParams                // session/thinking
	ToolUse             *protocol.ToolUseParams             // session/toolUse
	ToolResult          *protocol.ToolResultParams          // session/toolResult
	Status              *protocol.StatusParams              // session/status
	PermissionRequest   *protocol.PermissionRequestParams   // permission/request
	PermissionCancelled *protocol.PermissionCancelledParams // permission/cancelled
}

// Query runs one turn of a session (session/query) and returns its result
// when the turn ends. The first query of an unknown SessionID creates the
// session with the options in params.
//
// onEvent, when not nil, is called with every notification of the query,
// on Query's own goroutine, one at a time and in the order Tether sent
// them; every call has returned when Query returns. The token texts
// concatenate to the result's Text.
//
// Cancelling ctx sends $/cancelRequest for this query; Tether stops it and
// answers, and Query then returns an error wrapping ctx.Err() (so
// errors.Is(err, context.Canceled) holds). If the turn had ended before the
// cancel reached Tether, its result is returned as usual. A query stopped
// by Cancel (session/cancel) is not an error: it returns a result with
// StopReason "cancelled". Tether's errors are *Error values (a failed turn
// is CodeBackendFailed); a lost connection is ErrClosed.
func (c *Client) Query(ctx context.Context, params protocol.QueryParams, onEvent func(Event)) (*protocol.QueryResult, error) {
	method := protocol.MethodSessionQuery
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	id := c.id()
	q := &queryState{wake: make(chan struct{}, 1)}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", method, ErrClosed)
	}
	// Registered before the request is sent: its first notification may
	// be read before DispatchCall returns.
	c.queries[id] = q
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.queries, id)
		c.mu.Unlock()
	}()

	w, err := c.conn.DispatchCall(ctx, method, params, jsonrpc2.PickID(id))
	if err != nil {
		return nil, callError(method, err)
	}
	// The waiter goroutine belongs to this call: it ends when the answer
	// arrives or the connection closes, and every path below receives
	// from answered before returning.
	var res protocol.QueryResult
	answered := make(chan error, 1)
	go func() { answered <- w.Wait(context.Background(), &res) }()

	ctxDone := ctx.Done()
	cancelled := false
	for {
		select {
		case <-q.wake:
			c.deliver(q, onEvent)
		case <-ctxDone:
			ctxDone, cancelled = nil, true
			// Sent on a context of its own: ctx is over, and the cancel
			// must still go out. Notify returns once it is written.
			err := c.conn.Notify(context.WithoutCancel(ctx), protocol.MethodCancelRequest, protocol.CancelRequestParams{ID: rawID(id)})
			if err != nil {
				c.log.Debug("could not send $/cancelRequest", "id", id, "err", err)
			}
		case err := <-answered:
			// Every notification of the query came before its answer,
			// and the read loop queued them before it read the answer.
			c.deliver(q, onEvent)
			if err == nil {
				return &res, nil
			}
			var je *jsonrpc2.Error
			if cancelled && errors.As(err, &je) && je.Code == CodeRequestCancelled {
				return nil, fmt.Errorf("%s: session %q: %w", method, params.SessionID, ctx.Err())
			}
			return nil, fmt.Errorf("session %q: %w", params.SessionID, callError(method, err))
		}
	}
}

// queryState is the queue between the read loop, which appends what belongs
// to one running Query, and that Query's goroutine, which takes it out.
// It is unbounded so that the read loop never waits for a host callback.
type queryState struct {
	mu    sync.Mutex
	items []queued
	wake  chan struct{} // 1-buffered: something was appended
}

// queued is one thing for a Query to hand on, in wire order: an event for
// its callback, a handler to start (a permission request, a tool call), or
// both.
type queued struct {
	event *Event
	start func()
}

func (q *queryState) push(it queued) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// deliver hands everything queued so far to the callback and starts the
// handlers, in order.
func (c *Client) deliver(q *queryState, onEvent func(Event)) {
	q.mu.Lock()
	items := q.items
	q.items = nil
	q.mu.Unlock()
	for _, it := range items {
		if it.event != nil && onEvent != nil {
			onEvent(*it.event)
		}
		if it.start != nil {
			c.goHandler(it.start)
		}
	}
}

// route queues it for the running Query whose id is queryID. Something that
// belongs to no running Query (the closed status of a cleanup, a request of
// a query this client did not send) has its handler started at once and
// its event dropped.
func (c *Client) route(queryID json.RawMessage, it queued) {
	var q *queryState
	if len(queryID) > 0 {
		var id jsonrpc2.ID
		if err := json.Unmarshal(queryID, &id); err == nil {
			c.mu.Lock()
			q = c.queries[id]
			c.mu.Unlock()
		}
	}
	if q != nil {
		q.push(it)
		return
	}
	if it.start != nil {
		c.goHandler(it.start)
	}
}
