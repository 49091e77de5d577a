package sessions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

const guard = 20 * time.Second

// recorder is an Events that records every event as a line, in order.
type recorder struct {
	mu    sync.Mutex
	notes []string
	// asked, when set, gets each permission request as it is made.
	asked chan PermissionRequest
	// onRequest, when set, is called with each permission request as the
	// editor would see it, before the recorder goes on.
	onRequest func(PermissionRequest)
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.notes...)
}

func (r *recorder) Status(s Status)                  { r.add("status %s", s.State) }
func (r *recorder) Token(text string)                { r.add("token %s", text) }
func (r *recorder) Thinking(text string)             { r.add("thinking %s", text) }
func (r *recorder) ToolUse(u backends.ToolUse)       { r.add("toolUse %s", u.Name) }
func (r *recorder) ToolResult(t backends.ToolResult) { r.add("toolResult %s", t.Summary) }
func (r *recorder) Plan([]backends.PlanEntry)        { r.add("plan") }
func (r *recorder) Usage(backends.ContextUsage)      { r.add("usage") }
func (r *recorder) Commands([]backends.Command)      { r.add("commands") }
func (r *recorder) PermissionRequested(p PermissionRequest) {
	r.add("request %s", p.ID)
	if r.onRequest != nil {
		r.onRequest(p)
	}
	if r.asked != nil {
		r.asked <- p
	}
}
func (r *recorder) PermissionWithdrawn(id, reason string) { r.add("withdrawn %s %s", id, reason) }
func (r *recorder) CallTool(context.Context, backends.ToolCall) (backends.ToolCallResult, error) {
	return backends.ToolCallResult{}, errors.New("no editor tools here")
}

// fakeBackend counts Opens and Closes; its conns answer each prompt with
// the prompt as one token, and can be told to fail Open, to block Open or
// a prompt until released, to ask permission, or to block Close.
type fakeBackend struct {
	mu       sync.Mutex
	opens    int
	closes   int
	failOpen error
	opts     []backends.Options
	turns    []backends.Turn
	opening  chan struct{} // when set, Open sends on it as it starts
	openGate chan struct{} // when set, Open waits for it or ctx
	release  chan struct{} // when set, prompts wait for it
	closing  chan struct{} // when set, Close waits for it, or for ctx
	closeCtx chan error    // when set, gets the ctx error Close ended with
	started  chan string   // when set, gets each prompt as it reaches the backend
	askFirst bool          // prompts ask permission for "Bash" before answering
	// askAs, when set, makes each prompt ask the request it returns for
	// that prompt before answering.
	askAs     func(prompt string) backends.PermissionRequest
	decisions chan backends.Decision
}

func (b *fakeBackend) Name() string              { return "fake" }
func (b *fakeBackend) Available() (bool, string) { return true, "" }
func (b *fakeBackend) Info() backends.Info       { return backends.Info{} }
func (b *fakeBackend) Open(ctx context.Context, opts backends.Options) (backends.Conn, error) {
	b.mu.Lock()
	b.opens++
	b.opts = append(b.opts, opts)
	gate, opening := b.openGate, b.opening
	err := b.failOpen
	b.failOpen = nil
	b.mu.Unlock()
	if opening != nil {
		opening <- struct{}{}
	}
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: starting: %w", backends.ErrFailed, ctx.Err())
		}
	}
	if err != nil {
		return nil, err
	}
	return fakeConn{b}, nil
}

type fakeConn struct{ b *fakeBackend }

func (c fakeConn) Query(ctx context.Context, turn backends.Turn, sink backends.Sink) (backends.Result, error) {
	c.b.mu.Lock()
	c.b.turns = append(c.b.turns, turn)
	release, started, askFirst, askAs := c.b.release, c.b.started, c.b.askFirst, c.b.askAs
	c.b.mu.Unlock()
	prompt := backends.PromptText(turn.Prompt)
	if started != nil {
		started <- prompt
	}
	if askFirst && askAs == nil {
		askAs = func(string) backends.PermissionRequest {
			return backends.PermissionRequest{ToolName: "Bash", ToolInput: []byte(`{"command":"ls"}`), Rule: "Bash(ls:*)"}
		}
	}
	if askAs != nil {
		p := sink.AskPermission(askAs(prompt))
		select {
		case d := <-p.Decision:
			if c.b.decisions != nil {
				c.b.decisions <- d
			}
		case <-ctx.Done():
			return backends.Result{StopReason: backends.StopCancelled}, nil
		}
	}
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return backends.Result{StopReason: backends.StopCancelled}, nil
		}
	}
	sink.Token(prompt)
	return backends.Result{StopReason: backends.StopEndTurn}, nil
}

func (c fakeConn) Close(ctx context.Context) error {
	if c.b.closing != nil {
		select {
		case <-c.b.closing:
		case <-ctx.Done():
		}
	}
	if c.b.closeCtx != nil {
		c.b.closeCtx <- ctx.Err()
	}
	c.b.mu.Lock()
	c.b.closes++
	c.b.mu.Unlock()
	return nil
}

type answer struct {
	res TurnResult
	err error
}

// ask sends a prompt and returns where its answer will arrive.
func ask(r *Registry, ctx context.Context, ev Events, session, prompt string, extra ...func(*Prompt)) <-chan answer {
	ch := make(chan answer, 1)
	p := Prompt{
		Options: Options{SessionID: session, Events: ev},
		Turn:    backends.Turn{Prompt: backends.TextPrompt(prompt)},
		Ctx:     ctx,
		Events:  ev,
		Reply:   func(res TurnResult, err error) { ch <- answer{res, err} },
	}
	for _, f := range extra {
		f(&p)
	}
	r.Prompt(p)
	return ch
}

func wait[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatal("no answer")
		var zero T
		return zero
	}
}

func newTestRegistry(t *testing.T, b *fakeBackend) *Registry {
	r := NewRegistry(Config{Backends: []backends.Backend{b}, DefaultBackend: "fake"})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		require.NoError(t, r.Shutdown(ctx))
	})
	return r
}
