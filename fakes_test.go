package main

import (
	"context"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
)

func mockBackend() backends.Backend { return mock.Backend{} }

// panicBackend is a backend with a bug: it panics when asked whether it is
// available, which initialize does from a handler.
type panicBackend struct{}

func (panicBackend) Name() string              { return "broken" }
func (panicBackend) Available() (bool, string) { panic("broken backend") }
func (panicBackend) Open(context.Context, backends.Options) (backends.Conn, error) {
	panic("broken backend")
}

// gateBackend asks permission for one tool per query and reports the
// decision it got, and whether it was closed, on channels the test reads.
type gateBackend struct {
	decisions chan backends.Decision
	closed    chan struct{}
}

func newGateBackend() *gateBackend {
	return &gateBackend{decisions: make(chan backends.Decision, 16), closed: make(chan struct{}, 16)}
}

func (b *gateBackend) Name() string              { return "gate" }
func (b *gateBackend) Available() (bool, string) { return true, "test backend" }
func (b *gateBackend) Open(context.Context, backends.Options) (backends.Conn, error) {
	return gateConn{b}, nil
}

type gateConn struct{ b *gateBackend }

func (c gateConn) Query(ctx context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	p := sink.AskPermission(backends.PermissionRequest{ToolName: "Bash", ToolInput: []byte(`{"command":"rm -rf /"}`), ToolUseID: "t1"})
	// The decision must come even when ctx ends: the session withdraws the
	// request as the turn ends, after Query returns. So wait for it here
	// only until ctx ends, and report it from a session-owned moment: the
	// channel is buffered and answered exactly once.
	select {
	case d := <-p.Decision:
		c.b.decisions <- d
		return backends.Result{StopReason: "end_turn"}, nil
	case <-ctx.Done():
		go func() { c.b.decisions <- <-p.Decision }()
		return backends.Result{StopReason: "cancelled"}, nil
	}
}

func (c gateConn) Close() error {
	c.b.closed <- struct{}{}
	return nil
}
