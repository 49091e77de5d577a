package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
)

func TestShutdownClosesSessionsThenExitEndsWithZero(t *testing.T) {
	eachFraming(t, func(t *testing.T, c *testClient) {
		q := c.Request("session/query", query("s1", "/tool Bash {}"))
		_, perm := c.waitMethod("permission/request")
		c.call("session/query", query("s2", "idle one"), nil)

		shutdown := c.Request("shutdown", nil)
		_, resp := c.waitResponse(shutdown)
		require.Nil(t, resp.Error)
		assert.Equal(t, "null", string(resp.Result))
		before := c.before(shutdown)
		withdrawn := lastOf(before, "permission/cancelled")
		assert.Equal(t, perm.param(t, "requestId"), withdrawn.param(t, "requestId"), "shutdown withdraws pending permissions")
		closed := 0
		for _, m := range before {
			if m.Method == "session/status" && m.param(t, "status") == "closed" {
				closed++
			}
		}
		assert.Equal(t, 2, closed, "every session is closed before shutdown is answered")
		_, qresp := c.waitResponse(q)
		assert.JSONEq(t, `"cancelled"`, string(field(t, qresp.Result, "stopReason")))

		// After shutdown, no new work.
		e := c.callError("session/query", query("s3", "too late"))
		assert.Equal(t, int64(protocol.CodeShuttingDown), e.Code)

		c.Notify("exit", nil)
		assert.Equal(t, 0, c.ExitCode())
	})
}

func TestExitWithoutShutdownEndsWithOne(t *testing.T) {
	c := startTether(t, rpc.FramingLSP)
	q := c.Request("session/query", query("s1", "/sleep 60000"))
	c.waitMethod("session/status")
	c.Notify("exit", nil)
	assert.Equal(t, 1, c.ExitCode())
	// The running query was cancelled, not abandoned.
	_, resp := c.waitResponse(q)
	assert.JSONEq(t, `"cancelled"`, string(field(t, resp.Result, "stopReason")))
}

func TestEndOfInputAnswersWhatWasAskedThenExitsZero(t *testing.T) {
	eachFraming(t, func(t *testing.T, c *testClient) {
		q := c.Request("session/query", query("s1", "first words\n/tool Bash {}\nlast words"))
		c.W.Close()

		mine, resp := c.waitResponse(q)
		require.Nil(t, resp.Error)
		var res protocol.QueryResult
		require.NoError(t, json.Unmarshal(resp.Result, &res))
		assert.Equal(t, "end_turn", res.StopReason)
		assert.Equal(t, "first words\nlast words", res.Text)
		// Nobody can answer the permission request any more: it is denied.
		result := lastOf(mine, "session/toolResult")
		assert.Equal(t, "true", result.param(t, "isError"))
		assert.Contains(t, result.param(t, "summary"), "client gone")
		assert.Equal(t, 0, c.ExitCode())
	})
}

func TestBrokenFrameHeaderEndsTheConnectionAndClosesSessions(t *testing.T) {
	gate := newGateBackend()
	c := startTether(t, rpc.FramingLSP, withBackends("gate", gate))
	c.Request("session/query", query("s1", "anything"))
	c.waitMethod("permission/request")
	c.Raw("Content-Length: lots\r\n\r\n{}")
	assert.Equal(t, 1, c.ExitCode())
	// Nobody can answer any more: the backend was told deny, and closed.
	select {
	case d := <-gate.decisions:
		assert.False(t, d.Allow)
	case <-time.After(guard):
		t.Fatal("the backend never got a decision")
	}
	select {
	case <-gate.closed:
	default:
		t.Fatal("the session's backend was not closed before exit")
	}
}

func TestHandlerPanicIsAnInternalErrorAndTheServerStays(t *testing.T) {
	// session/list cannot panic on its own; a broken backend can, through
	// initialize's Available. panicBackend panics there.
	c := startTether(t, rpc.FramingNDJSON, withBackends("mock", panicBackend{}, mockBackend()))
	e := c.callError("initialize", nil)
	assert.Equal(t, int64(rpc.CodeInternalError), e.Code)
	assert.Contains(t, e.Message, "initialize")
	var res protocol.QueryResult
	c.call("session/query", query("s1", "still alive"), &res)
	assert.Equal(t, "still alive", res.Text)
}

func TestNoGoroutineLeftAfterExit(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	c := startTether(t, rpc.FramingNDJSON)
	c.call("session/query", query("a", "hello"), nil)
	c.Request("session/query", query("b", "/tool Bash {}"))
	c.waitMethod("permission/request")
	c.Request("session/query", query("c", "/sleep 50\n/tokens 100"))
	c.W.Close()
	assert.Equal(t, 0, c.ExitCode())
	c.Drain()
	goleak.VerifyNone(t, ignore)
}

func TestExitSentAsARequestIsAnswered(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	c.call("shutdown", nil, nil)
	_, resp := c.waitResponse(c.Request("exit", nil))
	assert.Nil(t, resp.Error, "every request is answered exactly once, exit too")
	assert.Equal(t, 0, c.ExitCode())
}

// After end of input nobody can answer a tool/call: the pending one and
// every later one fail at once, the model is told the tool is unavailable,
// and Tether exits instead of waiting forever.
func TestEndOfInputFailsToolCallsAndExits(t *testing.T) {
	eachFraming(t, func(t *testing.T, c *testClient) {
		q := c.Request("session/query", map[string]any{
			"sessionId": "s", "prompt": "before\n/calltool read_file {}\n/calltool read_file {}\nafter",
			"tools": []map[string]any{{"name": "read_file"}},
		})
		c.waitMethod("tool/call")
		c.W.Close()
		mine, resp := c.waitResponse(q)
		require.Nil(t, resp.Error)
		var res protocol.QueryResult
		require.NoError(t, json.Unmarshal(resp.Result, &res))
		assert.Equal(t, "before\nafter", res.Text)
		results := 0
		for _, m := range mine {
			if m.Method == "session/toolResult" {
				results++
				assert.Equal(t, "true", m.param(t, "isError"))
				assert.Contains(t, m.param(t, "summary"), "client gone")
			}
		}
		assert.Equal(t, 2, results, "the pending call and the later one both failed")
		assert.Equal(t, 1, count(c.Log, "tool/call"), "the later call was never sent")
		assert.Equal(t, 0, c.ExitCode())
	})
}

func TestShutdownPastItsDeadlineKillsAndSaysSo(t *testing.T) {
	stuck := &stuckBackend{closing: make(chan struct{})}
	c := startTether(t, rpc.FramingNDJSON, withBackends("stuck", stuck), func(cfg *handlers.Config) {
		cfg.ShutdownTimeout = 50 * time.Millisecond
	})
	c.call("session/query", query("s", "hi"), nil)
	e := c.callError("shutdown", nil)
	assert.Equal(t, int64(protocol.CodeShutdownTimeout), e.Code, e.Message)
	assert.Contains(t, e.Message, "killed")
	c.Notify("exit", nil)
	assert.Equal(t, 1, c.ExitCode(), "a shutdown that timed out did not shut down cleanly")
	select {
	case <-stuck.killed:
	default:
		t.Fatal("the backend was not told to stop at once")
	}
}
