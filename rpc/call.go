package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
)

// call is an outgoing request waiting for its answer. done has room for
// exactly one outcome: whoever removes the call from Conn.calls sends it.
type call struct {
	method string
	done   chan callOutcome
}

type callOutcome struct {
	result json.RawMessage
	err    error
}

// Call sends a request to the peer and waits for its answer, ctx, or the
// end of the connection; result (a pointer, or nil) receives the answer's
// result. An error answer is returned as an *Error with the peer's code and
// message. When ctx ends first, the peer is told to stop
// (Options.CancelMethod) and the call is forgotten at once: a late answer
// is dropped. Once the peer's input has ended no answer can come, so Call
// fails at once with ErrInputEnded.
func (c *Conn) Call(ctx context.Context, method string, params, result any) error {
	cl := &call{method: method, done: make(chan callOutcome, 1)}
	c.mu.Lock()
	if c.callErr != nil {
		err := c.callErr
		c.mu.Unlock()
		return fmt.Errorf("%s: %w", method, err)
	}
	c.nextCall++
	// String ids of our own never collide with the peer's numbers, and
	// tell a reader of a trace who asked.
	id := strconv.AppendQuote(nil, "tether-"+strconv.FormatUint(c.nextCall, 10))
	key, _ := idKey(id)
	c.calls[key] = cl
	c.mu.Unlock()

	body, err := appendRequest(make([]byte, 0, 256), id, method, params)
	if err == nil {
		err = c.send(body)
	}
	if err != nil {
		c.forget(key)
		return fmt.Errorf("sending %s: %w", method, err)
	}
	select {
	case out := <-cl.done:
		if out.err != nil {
			return fmt.Errorf("%s: %w", method, out.err)
		}
		if result != nil {
			if err := json.Unmarshal(out.result, result); err != nil {
				return fmt.Errorf("decoding the answer to %s: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		if c.forget(key) && c.opts.CancelMethod != "" {
			if err := c.Notify(c.opts.CancelMethod, map[string]json.RawMessage{c.opts.CancelParam: id}); err != nil {
				c.log.Debug("cancelling a call", "method", method, "err", err)
			}
		}
		return context.Cause(ctx)
	}
}

// forget removes a pending call; it reports whether it was still pending.
func (c *Conn) forget(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.calls[key]
	delete(c.calls, key)
	return ok
}

// deliver hands a response to the call waiting for it.
func (c *Conn) deliver(m *incoming) {
	c.mu.Lock()
	cl, ok := c.calls[m.key]
	delete(c.calls, m.key)
	c.mu.Unlock()
	if !ok {
		c.log.Debug("response to no pending request (cancelled, or never sent); dropped", "id", string(m.id))
		return
	}
	if m.err != nil {
		cl.done <- callOutcome{err: m.err}
		return
	}
	cl.done <- callOutcome{result: m.result}
}

// failCalls fails every pending call, and every later one, with err.
func (c *Conn) failCalls(err error) {
	c.mu.Lock()
	if c.callErr == nil {
		c.callErr = err
	}
	calls := c.calls
	c.calls = make(map[string]*call)
	c.mu.Unlock()
	for _, cl := range calls {
		cl.done <- callOutcome{err: err}
	}
}

// appendValue appends v's JSON encoding, without HTML escaping (editors
// show the text as it is) and without a trailing newline.
func appendValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case Appender:
		return v.AppendJSON(dst)
	case json.RawMessage:
		if len(v) == 0 {
			return append(dst, "null"...), nil
		}
		return append(dst, v...), nil
	}
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil
}
