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
func (panicBackend) Info() backends.Info       { return backends.Info{} }
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
func (b *gateBackend) Info() backends.Info       { return backends.Info{} }
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

func (c gateConn) Close(context.Context) error {
	c.b.closed <- struct{}{}
	return nil
}

// stuckBackend's conns answer every query, but their Close hangs until its
// ctx ends (a process that ignores every signal but SIGKILL), and then
// reports that on killed.
type stuckBackend struct {
	closing chan struct{}
	killed  chan struct{}
}

func (b *stuckBackend) Name() string              { return "stuck" }
func (b *stuckBackend) Available() (bool, string) { return true, "test backend" }
func (b *stuckBackend) Info() backends.Info       { return backends.Info{} }
func (b *stuckBackend) Open(context.Context, backends.Options) (backends.Conn, error) {
	b.killed = make(chan struct{})
	return stuckConn{b}, nil
}

type stuckConn struct{ b *stuckBackend }

func (c stuckConn) Query(_ context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	sink.Token(backends.PromptText(turn.Prompt))
	return backends.Result{StopReason: backends.StopEndTurn}, nil
}

func (c stuckConn) Close(ctx context.Context) error {
	select {
	case <-c.b.closing:
	case <-ctx.Done():
		close(c.b.killed)
	}
	return nil
}

// hastyBackend asks permission for a tool and ends its turn at once,
// without waiting for the answer (an agent that changed its mind).
type hastyBackend struct{}

func (hastyBackend) Name() string              { return "hasty" }
func (hastyBackend) Available() (bool, string) { return true, "test backend" }
func (hastyBackend) Info() backends.Info       { return backends.Info{} }
func (hastyBackend) Open(context.Context, backends.Options) (backends.Conn, error) {
	return hastyConn{}, nil
}

type hastyConn struct{}

func (hastyConn) Query(_ context.Context, _ backends.Turn, sink backends.Sink) (backends.Result, error) {
	sink.AskPermission(backends.PermissionRequest{ToolName: "Bash", ToolInput: []byte(`{"command":"ls"}`), ToolUseID: "t1"})
	return backends.Result{StopReason: backends.StopEndTurn}, nil
}

func (hastyConn) Close(context.Context) error { return nil }
