package client_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/client"
	"github.com/tether-dev/tether/protocol"
)

// recorder collects a query's events. Query calls it on its own goroutine
// and has returned before the test reads it, so it needs no lock.
type recorder struct{ events []client.Event }

func (r *recorder) on(ev client.Event) { r.events = append(r.events, ev) }

// runs lists the methods as methods does, with a run of consecutive
// tokens as one entry: Tether may merge tokens that wait for the client.
func (r *recorder) runs() []string {
	var out []string
	for _, ev := range r.events {
		if n := len(out); n > 0 && ev.Method == out[n-1] && ev.Token != nil {
			continue
		}
		out = append(out, ev.Method)
	}
	return out
}

func (r *recorder) tokens() string {
	var b strings.Builder
	for _, ev := range r.events {
		if ev.Token != nil {
			b.WriteString(ev.Token.Text)
		}
	}
	return b.String()
}

func (r *recorder) last(method string) client.Event {
	for i := len(r.events) - 1; i >= 0; i-- {
		if r.events[i].Method == method {
			return r.events[i]
		}
	}
	return client.Event{}
}

func q(session, prompt string) protocol.QueryParams {
	return protocol.QueryParams{SessionID: session, Prompt: prompt}
}

func TestQueryStreamsEveryEventInOrderBeforeReturning(t *testing.T) {
	c := startInProcess(t, client.Options{})
	var rec recorder
	res, err := c.Query(context.Background(), q("s1", "hello brave world\n/think pondering\n/tokens 2"), rec.on)
	require.NoError(t, err)
	assert.Equal(t, protocol.StopEndTurn, res.StopReason)
	assert.Equal(t, "hello brave world\ntok1 tok2", res.Text)
	assert.Equal(t, res.Text, rec.tokens(), "the tokens concatenate to the result's text")
	assert.Equal(t, []string{
		"session/status", "session/status",
		"session/token", // 3 tokens
		"session/thinking",
		"session/token", // 2 tokens
		"session/status",
	}, rec.runs())
	assert.Equal(t, "pondering", rec.last("session/thinking").Thinking.Text)
	assert.Equal(t, protocol.StatusIdle, rec.events[len(rec.events)-1].Status.Status)
	for _, ev := range rec.events {
		assert.NotEmpty(t, ev.Params, "the wire params come with every event")
	}
}

func TestInitializeListCleanup(t *testing.T) {
	c := startInProcess(t, client.Options{})
	ctx := context.Background()
	info, err := c.Initialize(ctx, protocol.InitializeParams{ClientInfo: &protocol.ClientInfo{Name: "client-test"}})
	require.NoError(t, err)
	assert.Equal(t, protocol.Version, info.ProtocolVersion)
	assert.Equal(t, "mock", info.DefaultBackend)

	_, err = c.Query(ctx, q("s1", "one"), nil)
	require.NoError(t, err)
	list, err := c.List(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "s1", list[0].SessionID)
	assert.Equal(t, 1, list[0].Turns)

	closed, err := c.Cleanup(ctx, "s1")
	require.NoError(t, err)
	assert.True(t, closed)
	closed, err = c.Cleanup(ctx, "s1")
	require.NoError(t, err)
	assert.False(t, closed, "an unknown session")
	list, err = c.List(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestPermissionHandler(t *testing.T) {
	prompt := "before\n/tool Bash {\"command\":\"ls\"}\nafter"
	for _, tc := range []struct {
		name      string
		handler   client.PermissionHandler
		isError   bool
		inSummary string
	}{
		{"allow", func(context.Context, protocol.PermissionRequestParams) client.Decision {
			return client.Decision{Allow: true}
		}, false, ""},
		{"deny", func(context.Context, protocol.PermissionRequestParams) client.Decision {
			return client.Decision{Reason: "not today"}
		}, true, "not today"},
		{"none installed", nil, true, "no permission handler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []protocol.PermissionRequestParams
			var mu sync.Mutex
			opts := client.Options{}
			if tc.handler != nil {
				opts.Permission = func(ctx context.Context, req protocol.PermissionRequestParams) client.Decision {
					mu.Lock()
					asked = append(asked, req)
					mu.Unlock()
					return tc.handler(ctx, req)
				}
			}
			c := startInProcess(t, opts)
			var rec recorder
			res, err := c.Query(context.Background(), q("s1", prompt), rec.on)
			require.NoError(t, err)
			assert.Equal(t, "before\nafter", res.Text)
			req := rec.last(protocol.MethodPermissionRequest).PermissionRequest
			require.NotNil(t, req, "the permission request is an event too")
			assert.Equal(t, "Bash", req.ToolName)
			result := rec.last(protocol.MethodToolResult).ToolResult
			require.NotNil(t, result)
			assert.Equal(t, tc.isError, result.IsError, result.Summary)
			assert.Contains(t, result.Summary, tc.inSummary)
			if tc.handler != nil {
				mu.Lock()
				defer mu.Unlock()
				require.Len(t, asked, 1)
				assert.Equal(t, req.RequestID, asked[0].RequestID)
				assert.JSONEq(t, `{"command":"ls"}`, string(asked[0].ToolInput))
			}
		})
	}
}

func TestPermissionRememberedForTheSession(t *testing.T) {
	var asked atomic.Int32
	c := startInProcess(t, client.Options{Permission: func(context.Context, protocol.PermissionRequestParams) client.Decision {
		asked.Add(1)
		return client.Decision{Allow: true, Remember: true}
	}})
	for range 2 {
		var rec recorder
		_, err := c.Query(context.Background(), q("s1", "/tool Bash {}"), rec.on)
		require.NoError(t, err)
		assert.False(t, rec.last(protocol.MethodToolResult).ToolResult.IsError)
	}
	assert.Equal(t, int32(1), asked.Load(), "remember: the second use is not asked about")
}

func TestToolHandlerAnswersToolCall(t *testing.T) {
	var got protocol.ToolCallParams
	c := startInProcess(t, client.Options{Tool: func(_ context.Context, call protocol.ToolCallParams) (protocol.ToolCallResult, error) {
		got = call // one call; Query has returned when the test reads it
		return protocol.ToolCallResult{Content: "package main\nfunc main() {}"}, nil
	}})
	var rec recorder
	_, err := c.Query(context.Background(), q("s1", `/calltool read_buffer {"name":"main.go"}`+"\ndone"), rec.on)
	require.NoError(t, err)
	assert.Equal(t, "read_buffer", got.Name)
	assert.Equal(t, "s1", got.SessionID)
	assert.JSONEq(t, `{"name":"main.go"}`, string(got.Arguments))
	use := rec.last(protocol.MethodToolUse).ToolUse
	require.NotNil(t, use)
	assert.Equal(t, got.ToolUseID, use.ToolUseID, "the handler runs after the toolUse event it belongs to")
	result := rec.last(protocol.MethodToolResult).ToolResult
	assert.Equal(t, "read_buffer: package main", result.Summary)
	assert.False(t, result.IsError)
}

func TestToolHandlerErrorsAndNoHandler(t *testing.T) {
	for _, tc := range []struct {
		name      string
		handler   client.ToolHandler
		inSummary string
	}{
		{"error", func(context.Context, protocol.ToolCallParams) (protocol.ToolCallResult, error) {
			return protocol.ToolCallResult{}, errors.New("no formatter here")
		}, "no formatter here"},
		{"none installed", nil, "no tool handler"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startInProcess(t, client.Options{Tool: tc.handler})
			var rec recorder
			res, err := c.Query(context.Background(), q("s1", "/calltool format {}\nstill going"), rec.on)
			require.NoError(t, err, "only the tool failed, not the turn")
			assert.Equal(t, "still going", res.Text)
			result := rec.last(protocol.MethodToolResult).ToolResult
			assert.True(t, result.IsError)
			assert.Contains(t, result.Summary, tc.inSummary)
		})
	}
}

func TestCancellingTheContextCancelsTheQuery(t *testing.T) {
	c := startInProcess(t, client.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var rec recorder
	start := time.Now()
	_, err := c.Query(ctx, q("s1", "/sleep 60000"), func(ev client.Event) {
		rec.on(ev)
		if ev.Status != nil && ev.Status.Status == protocol.StatusBusy {
			cancel() // the query is running: stop it
		}
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), guard/2, "the sleep was cut short")
	t.Logf("cancelled after %v", time.Since(start))

	// Only that query was stopped: the session goes on.
	res, err := c.Query(context.Background(), q("s1", "next"), nil)
	require.NoError(t, err)
	assert.Equal(t, "next", res.Text)
}

func TestCancelledQueryWithdrawsItsPermissionRequest(t *testing.T) {
	asking := make(chan struct{})
	gaveUp := make(chan error, 1)
	c := startInProcess(t, client.Options{Permission: func(ctx context.Context, _ protocol.PermissionRequestParams) client.Decision {
		close(asking)
		<-ctx.Done() // a user who never answers
		gaveUp <- ctx.Err()
		return client.Decision{Allow: true}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-asking
		cancel()
	}()
	var rec recorder
	_, err := c.Query(ctx, q("s1", "/tool Bash {}"), rec.on)
	assert.ErrorIs(t, err, context.Canceled)
	select {
	case err := <-gaveUp:
		assert.ErrorIs(t, err, context.Canceled, "the handler's context ended when Tether withdrew the request")
	case <-time.After(guard):
		t.Fatal("the permission handler's context never ended")
	}
	withdrawn := rec.last(protocol.MethodPermissionCancelled).PermissionCancelled
	require.NotNil(t, withdrawn)
	assert.Equal(t, "cancelled", withdrawn.Reason)
}

func TestCancelStopsTheSessionsQueries(t *testing.T) {
	c := startInProcess(t, client.Options{})
	busy := make(chan struct{})
	type answer struct {
		res *protocol.QueryResult
		err error
	}
	done := make(chan answer, 1)
	go func() {
		var once sync.Once
		res, err := c.Query(context.Background(), q("s1", "/sleep 60000"), func(ev client.Event) {
			if ev.Status != nil && ev.Status.Status == protocol.StatusBusy {
				once.Do(func() { close(busy) })
			}
		})
		done <- answer{res, err}
	}()
	<-busy
	n, err := c.Cancel(context.Background(), "s1")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	a := <-done
	require.NoError(t, a.err, "a session/cancel is a result, not an error")
	assert.Equal(t, protocol.StopCancelled, a.res.StopReason)
}

func TestTwoSessionsAtOnce(t *testing.T) {
	// Session a waits for its permission until session b has finished:
	// a session waiting for its user delays no other session.
	bDone := make(chan struct{})
	c := startInProcess(t, client.Options{Permission: func(ctx context.Context, req protocol.PermissionRequestParams) client.Decision {
		select {
		case <-bDone:
		case <-ctx.Done():
		}
		return client.Decision{Allow: true}
	}})
	var wg sync.WaitGroup
	var resA *protocol.QueryResult
	var errA error
	wg.Go(func() {
		resA, errA = c.Query(context.Background(), q("a", "A starts\n/tool Bash {}\nA ends"), nil)
	})
	var rec recorder
	resB, err := c.Query(context.Background(), q("b", "/tokens 50"), rec.on)
	require.NoError(t, err)
	close(bDone)
	wg.Wait()
	require.NoError(t, errA)
	assert.Equal(t, "A starts\nA ends", resA.Text)
	assert.Equal(t, resB.Text, rec.tokens())
	for _, ev := range rec.events {
		var sid string
		switch {
		case ev.Token != nil:
			sid = ev.Token.SessionID
		case ev.Status != nil:
			sid = ev.Status.SessionID
		}
		assert.Equal(t, "b", sid, "a query gets only its own events")
	}
}

func TestFailedTurnIsABackendFailedError(t *testing.T) {
	c := startInProcess(t, client.Options{})
	_, err := c.Query(context.Background(), q("s1", "partial\n/fail the model exploded"), nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, &client.Error{Code: client.CodeBackendFailed})
	var te *client.Error
	require.ErrorAs(t, err, &te)
	assert.Contains(t, te.Message, "the model exploded")
	assert.Contains(t, err.Error(), `"s1"`, "the error names the session")

	_, err = c.Query(context.Background(), protocol.QueryParams{SessionID: "s1", Prompt: "x", Cwd: "relative"}, nil)
	require.ErrorAs(t, err, &te)
	assert.Equal(t, int64(client.CodeInvalidParams), te.Code)
	assert.JSONEq(t, `{"field":"cwd"}`, string(te.Data))
}

func TestCloseCancelsRunningQueriesAndEndsEverything(t *testing.T) {
	c := startInProcess(t, client.Options{})
	busy := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var once sync.Once
		res, err := c.Query(context.Background(), q("s1", "/sleep 60000"), func(ev client.Event) {
			if ev.Status != nil && ev.Status.Status == protocol.StatusBusy {
				once.Do(func() { close(busy) })
			}
		})
		if err == nil && res.StopReason != protocol.StopCancelled {
			err = errors.New("not cancelled: " + res.StopReason)
		}
		done <- err
	}()
	<-busy
	require.NoError(t, c.Close())
	select {
	case err := <-done:
		assert.NoError(t, err, "shutdown cancels the running query")
	case <-time.After(guard):
		t.Fatal("Query did not return after Close")
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("the connection is still open after Close")
	}
	_, err := c.Query(context.Background(), q("s1", "too late"), nil)
	assert.ErrorIs(t, err, client.ErrClosed)
	_, err = c.List(context.Background())
	assert.ErrorIs(t, err, client.ErrClosed)
}
