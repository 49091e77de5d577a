package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
)

// eachFraming runs a test over Content-Length and over NDJSON framing.
func eachFraming(t *testing.T, test func(t *testing.T, c *testClient)) {
	for _, f := range []struct {
		name    string
		framing rpc.Framing
	}{{"lsp", rpc.FramingLSP}, {"ndjson", rpc.FramingNDJSON}} {
		t.Run(f.name, func(t *testing.T) { test(t, startTether(t, f.framing)) })
	}
}

func query(session, prompt string) map[string]any {
	return map[string]any{"sessionId": session, "prompt": prompt}
}

func TestInitializeReportsBackendsAndDefault(t *testing.T) {
	eachFraming(t, func(t *testing.T, c *testClient) {
		var res protocol.InitializeResult
		c.call("initialize", map[string]any{"clientInfo": map[string]any{"name": "test", "version": "1"}}, &res)
		assert.Equal(t, "tether", res.ServerInfo.Name)
		assert.Equal(t, protocol.Version, res.ProtocolVersion)
		assert.Equal(t, "mock", res.DefaultBackend)
		require.Len(t, res.Backends, 1)
		assert.Equal(t, protocol.BackendInfo{Name: "mock", Available: true, Detail: res.Backends[0].Detail}, res.Backends[0])
	})
}

func TestQueryStreamsTokensThenReplies(t *testing.T) {
	eachFraming(t, func(t *testing.T, c *testClient) {
		// No initialize: a client that skips it gets the defaults.
		var res protocol.QueryResult
		before := c.call("session/query", query("s1", "hello brave new world\n/think pondering\n/tokens 3"), &res)

		assert.Equal(t, "end_turn", res.StopReason)
		assert.Equal(t, "s1", res.SessionID)
		assert.Equal(t, "hello brave new world\ntok1 tok2 tok3", res.Text)
		assert.Equal(t, res.Text, tokens(t, before), "the tokens of a query concatenate to its text")
		assert.Equal(t, int64(7), res.Usage.OutputTokens)
		assert.Equal(t, []string{
			"session/status", "session/status",
			"session/token", // 4 tokens, in 1 to 4 notifications
			"session/thinking",
			"session/token", // 3 tokens
			"session/status",
		}, textRuns(t, before), "every notification of the query comes before its reply, in order")
		for _, m := range before {
			assert.Equal(t, "s1", m.param(t, "sessionId"))
			assert.Equal(t, "1", m.param(t, "queryId"), "%s carries the query's id", m.Method)
		}
		for _, m := range before {
			if m.Method == "session/thinking" {
				assert.Equal(t, "pondering", m.param(t, "text"))
			}
		}
		assert.Equal(t, []string{"starting", "busy"}, []string{before[0].param(t, "status"), before[1].param(t, "status")})
		assert.Equal(t, "idle", before[len(before)-1].param(t, "status"))
	})
}

func TestSessionIsReusedAcrossQueries(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	before := c.call("session/query", query("s1", "one"), nil)
	assert.Equal(t, "starting", before[0].param(t, "status"), "the first query opens the backend")

	before = c.call("session/query", query("s1", "two"), nil)
	for _, m := range before {
		if m.Method == "session/status" {
			assert.NotEqual(t, "starting", m.param(t, "status"), "a later query reuses the session's connection")
		}
	}
	var list protocol.ListResult
	c.call("session/list", nil, &list)
	require.Len(t, list.Sessions, 1)
	assert.Equal(t, 2, list.Sessions[0].Turns)
	assert.Equal(t, "idle", list.Sessions[0].Status)
	assert.Equal(t, "mock", list.Sessions[0].Backend)
	assert.NotEmpty(t, list.Sessions[0].CreatedAt)
	assert.NotEmpty(t, list.Sessions[0].Cwd)
}

func TestQueryOptionsThatCannotChangeOnALiveSession(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	dir := t.TempDir()
	c.call("session/query", map[string]any{"sessionId": "s1", "prompt": "hi", "cwd": dir}, nil)

	e := c.callError("session/query", map[string]any{"sessionId": "s1", "prompt": "hi", "cwd": t.TempDir()})
	assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code)
	assert.JSONEq(t, `{"field":"cwd"}`, string(e.Data))

	e = c.callError("session/query", map[string]any{"sessionId": "s1", "prompt": "hi", "backend": "claude"})
	assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code)
	assert.JSONEq(t, `{"field":"backend"}`, string(e.Data))

	// The same values are fine, and the session still answers.
	var res protocol.QueryResult
	c.call("session/query", map[string]any{"sessionId": "s1", "prompt": "still here", "cwd": dir, "backend": "mock"}, &res)
	assert.Equal(t, "still here", res.Text)
}

func TestQueryParamErrorsNameTheField(t *testing.T) {
	c := startTether(t, rpc.FramingLSP)
	for _, tc := range []struct {
		params any
		field  string
	}{
		{map[string]any{"prompt": "x"}, "sessionId"},
		{map[string]any{"sessionId": "s"}, "prompt"},
		{map[string]any{"sessionId": 5, "prompt": "x"}, "sessionId"},
		{map[string]any{"sessionId": "s", "prompt": "x", "backend": "nope"}, "backend"},
		{map[string]any{"sessionId": "s", "prompt": "x", "cwd": "relative/dir"}, "cwd"},
		{map[string]any{"sessionId": "s", "prompt": "x", "cwd": "/does/not/exist"}, "cwd"},
		{[]any{"s", "x"}, "params"},
		{nil, "params"},
	} {
		t.Run(fmt.Sprint(tc.params), func(t *testing.T) {
			e := c.callError("session/query", tc.params)
			assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code, e.Message)
			assert.JSONEq(t, fmt.Sprintf(`{"field":%q}`, tc.field), string(e.Data), e.Message)
		})
	}
	e := c.callError("permission/respond", map[string]any{"requestId": "r", "decision": "maybe"})
	assert.JSONEq(t, `{"field":"decision"}`, string(e.Data))
	e = c.callError("session/cancel", map[string]any{})
	assert.JSONEq(t, `{"field":"sessionId"}`, string(e.Data))
}

func TestUnknownMethod(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	e := c.callError("session/frobnicate", map[string]any{})
	assert.Equal(t, int64(rpc.CodeMethodNotFound), e.Code)
	assert.Contains(t, e.Message, "session/frobnicate")
	// Unknown notifications are ignored, as JSON-RPC wants.
	c.Notify("$/somethingElse", map[string]any{})
	c.call("session/list", nil, nil)
}

func TestBackendFailureFailsTheQueryNotTheSession(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	id := c.Request("session/query", query("s1", "partial\n/fail the model exploded"))
	before, resp := c.waitResponse(id)
	require.NotNil(t, resp.Error)
	assert.Equal(t, int64(protocol.CodeBackendFailed), resp.Error.Code)
	assert.Contains(t, resp.Error.Message, "the model exploded")
	last := before[len(before)-1]
	assert.Equal(t, "failed", last.param(t, "status"))
	assert.Contains(t, last.param(t, "detail"), "the model exploded")

	var res protocol.QueryResult
	c.call("session/query", query("s1", "again"), &res)
	assert.Equal(t, "again", res.Text)
}

func TestStopReasonComesFromTheBackend(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	var res protocol.QueryResult
	c.call("session/query", query("s1", "some text\n/stop max_turns\nnever sent"), &res)
	assert.Equal(t, "max_turns", res.StopReason)
	assert.Equal(t, "some text", res.Text)
}

func TestQueriesOfABusySessionWaitInOrder(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	first := c.Request("session/query", query("s1", "/tool Bash {}"))
	_, perm := c.waitMethod("permission/request")
	var ids []int
	for i := range 3 {
		ids = append(ids, c.Request("session/query", query("s1", "queued "+strconv.Itoa(i))))
	}
	// The queued queries have not started: nothing of theirs arrives until
	// the first one is answered.
	c.call("permission/respond", map[string]any{"requestId": perm.param(t, "requestId"), "decision": "allow"}, nil)
	_, resp := c.waitResponse(first)
	require.Nil(t, resp.Error)
	for i, id := range ids {
		before, resp := c.waitResponse(id)
		require.Nil(t, resp.Error)
		var res protocol.QueryResult
		require.NoError(t, json.Unmarshal(resp.Result, &res))
		assert.Equal(t, "queued "+strconv.Itoa(i), res.Text)
		for _, m := range before {
			assert.Equal(t, strconv.Itoa(id), m.param(t, "queryId"), "queries run one after another, in order")
		}
	}
}

func TestAFullQueueAnswersSessionBusy(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	c.Request("session/query", query("s1", "/tool Bash {}"))
	c.waitMethod("permission/request")
	for range 16 {
		c.Request("session/query", query("s1", "queued"))
	}
	e := c.callError("session/query", query("s1", "one too many"))
	assert.Equal(t, int64(protocol.CodeSessionBusy), e.Code)
	assert.Contains(t, e.Message, "busy")

	var n protocol.CancelResult
	c.call("session/cancel", map[string]any{"sessionId": "s1"}, &n)
	assert.Equal(t, 17, n.Cancelled, "the running query and the 16 queued ones")
}

func TestPermissionAllowDenyAndRemember(t *testing.T) {
	eachFraming(t, func(t *testing.T, c *testClient) {
		id := c.Request("session/query", query("s1", `/tool Bash {"command":"ls"}`))
		before, perm := c.waitMethod("permission/request")
		assert.Equal(t, "session/toolUse", before[len(before)-1].Method, "the tool use is announced before permission is asked")
		assert.Equal(t, "Bash", perm.param(t, "toolName"))
		assert.JSONEq(t, `{"command":"ls"}`, perm.param(t, "toolInput"))
		assert.Equal(t, before[len(before)-1].param(t, "toolUseId"), perm.param(t, "toolUseId"))
		reqID := perm.param(t, "requestId")
		assert.Len(t, reqID, 36, "request ids are UUIDs")

		c.call("permission/respond", map[string]any{"requestId": reqID, "decision": "allow"}, nil)
		before, _ = c.waitResponse(id)
		result := lastOf(before, "session/toolResult")
		assert.Equal(t, "false", result.param(t, "isError"))

		// Answering twice, or an unknown id, is an error naming requestId.
		e := c.callError("permission/respond", map[string]any{"requestId": reqID, "decision": "allow"})
		assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code)
		assert.JSONEq(t, `{"field":"requestId"}`, string(e.Data))

		id = c.Request("session/query", query("s1", `/tool Bash {"command":"rm -rf /"}`))
		_, perm = c.waitMethod("permission/request")
		c.call("permission/respond", map[string]any{"requestId": perm.param(t, "requestId"), "decision": "deny", "reason": "not that"}, nil)
		before, _ = c.waitResponse(id)
		result = lastOf(before, "session/toolResult")
		assert.Equal(t, "true", result.param(t, "isError"))
		assert.Contains(t, result.param(t, "summary"), "not that")

		id = c.Request("session/query", query("s1", `/tool Edit {"file":"a.go"}`))
		_, perm = c.waitMethod("permission/request")
		assert.Equal(t, `Edit({"file":"a.go"})`, perm.param(t, "alwaysRule"))
		c.call("permission/respond", map[string]any{"requestId": perm.param(t, "requestId"), "decision": "allow", "remember": true}, nil)
		c.waitResponse(id)
		// Remembered for the session: no question the second time.
		before = c.call("session/query", query("s1", "/tool Edit {\"file\":\"a.go\"}\n/tool Edit { \"file\": \"a.go\" }"), nil)
		assert.NotContains(t, methods(before), "permission/request")
		assert.Equal(t, 2, count(before, "session/toolResult"))
		// Only for that session.
		c.Request("session/query", query("s2", `/tool Edit {"file":"a.go"}`))
		c.waitMethod("permission/request")
	})
}

// Issue 8: always allowing ls allows ls, never rm. The request names the
// rule always adds, and only what that rule covers runs unasked.
func TestAlwaysAllowIsARuleNotATool(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	id := c.Request("session/query", query("s1", `/tool Bash {"command":"ls"}`))
	_, perm := c.waitMethod("permission/request")
	assert.Equal(t, "Bash(ls:*)", perm.param(t, "alwaysRule"))
	c.call("permission/respond", map[string]any{"requestId": perm.param(t, "requestId"), "decision": "allow", "remember": true}, nil)
	c.waitResponse(id)

	before := c.call("session/query", query("s1", `/tool Bash {"command":"ls -la"}`), nil)
	assert.NotContains(t, methods(before), "permission/request", "ls -la is covered")
	assert.Equal(t, "false", lastOf(before, "session/toolResult").param(t, "isError"))

	for _, line := range []string{"rm -rf x", "ls; rm -rf ~", "ls && rm x", "ls $(rm x)", "ls | sh"} {
		input, _ := json.Marshal(map[string]string{"command": line})
		id := c.Request("session/query", query("s1", "/tool Bash "+string(input)))
		_, perm := c.waitMethod("permission/request")
		assert.Equal(t, strconv.Itoa(id), perm.param(t, "queryId"), "%q is asked", line)
		c.call("permission/respond", map[string]any{"requestId": perm.param(t, "requestId"), "decision": "deny"}, nil)
		before, _ := c.waitResponse(id)
		assert.Equal(t, "true", lastOf(before, "session/toolResult").param(t, "isError"), "%q did not run", line)
	}
}

func TestSessionWaitingForPermissionDoesNotDelayAnother(t *testing.T) {
	c := startTether(t, rpc.FramingLSP)
	blocked := c.Request("session/query", query("a", "/tool Bash {}"))
	c.waitMethod("permission/request")

	var res protocol.QueryResult
	c.call("session/query", query("b", "I am not blocked"), &res)
	assert.Equal(t, "I am not blocked", res.Text)
	var list protocol.ListResult
	c.call("session/list", nil, &list)
	require.Len(t, list.Sessions, 2)
	assert.Equal(t, "waiting_permission", list.Sessions[0].Status)
	assert.Equal(t, "idle", list.Sessions[1].Status)

	var n protocol.CancelResult
	c.call("session/cancel", map[string]any{"sessionId": "a"}, &n)
	_, resp := c.waitResponse(blocked)
	assert.JSONEq(t, `"cancelled"`, string(field(t, resp.Result, "stopReason")))
}

func TestSessionCancelMidStream(t *testing.T) {
	eachFraming(t, func(t *testing.T, c *testClient) {
		running := c.Request("session/query", query("s1", "/tokens 1\n/sleep 60000\n/tokens 1"))
		c.waitMethod("session/token")
		queued := c.Request("session/query", query("s1", "never runs"))

		var n protocol.CancelResult
		c.call("session/cancel", map[string]any{"sessionId": "s1"}, &n)
		assert.Equal(t, 2, n.Cancelled)
		for _, id := range []int{running, queued} {
			_, resp := c.waitResponse(id)
			require.Nil(t, resp.Error)
			var res protocol.QueryResult
			require.NoError(t, json.Unmarshal(resp.Result, &res))
			assert.Equal(t, "cancelled", res.StopReason)
		}
		// The session goes on.
		var res protocol.QueryResult
		c.call("session/query", query("s1", "after"), &res)
		assert.Equal(t, "after", res.Text)
		// Cancelling an idle or unknown session cancels nothing.
		c.call("session/cancel", map[string]any{"sessionId": "s1"}, &n)
		assert.Equal(t, 0, n.Cancelled)
		c.call("session/cancel", map[string]any{"sessionId": "nobody"}, &n)
		assert.Equal(t, 0, n.Cancelled)
	})
}

func TestSessionCancelWithdrawsPendingPermission(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	id := c.Request("session/query", query("s1", "/tool Bash {}\nafter the tool"))
	_, perm := c.waitMethod("permission/request")
	c.Request("session/cancel", map[string]any{"sessionId": "s1"})

	before, resp := c.waitResponse(id)
	withdrawn := lastOf(before, "permission/cancelled")
	assert.Equal(t, perm.param(t, "requestId"), withdrawn.param(t, "requestId"))
	for _, m := range before {
		if m.Method == "session/toolResult" {
			assert.Equal(t, "true", m.param(t, "isError"), "a tool whose request was withdrawn never runs")
		}
	}
	assert.JSONEq(t, `"cancelled"`, string(field(t, resp.Result, "stopReason")))
	// The request is gone: answering it now is an error.
	e := c.callError("permission/respond", map[string]any{"requestId": perm.param(t, "requestId"), "decision": "allow"})
	assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code)
}

func TestCancelRequestMidStreamAndWhileQueued(t *testing.T) {
	eachFraming(t, func(t *testing.T, c *testClient) {
		running := c.Request("session/query", query("s1", "/tokens 2\n/sleep 60000"))
		c.waitMethod("session/token")
		queued := c.Request("session/query", query("s1", "queued"))
		third := c.Request("session/query", query("s1", "third"))

		// Cancelling the queued one answers it at once, while the running
		// one goes on.
		c.Notify("$/cancelRequest", map[string]any{"id": queued})
		_, resp := c.waitResponse(queued)
		require.NotNil(t, resp.Error)
		assert.Equal(t, int64(rpc.CodeRequestCancelled), resp.Error.Code)

		c.Notify("$/cancelRequest", map[string]any{"id": running})
		before, resp := c.waitResponse(running)
		require.NotNil(t, resp.Error)
		assert.Equal(t, int64(rpc.CodeRequestCancelled), resp.Error.Code)
		assert.Equal(t, "tok1 tok2", tokens(t, before))

		// The next query in the queue runs.
		_, resp = c.waitResponse(third)
		require.Nil(t, resp.Error)
		assert.JSONEq(t, `"third"`, string(field(t, resp.Result, "text")))

		// Cancelling a finished or unknown request does nothing.
		c.Notify("$/cancelRequest", map[string]any{"id": running})
		c.Notify("$/cancelRequest", map[string]any{"id": "not-a-request"})
		c.call("session/list", nil, nil)
	})
}

func TestCleanupWithPendingPermission(t *testing.T) {
	eachFraming(t, func(t *testing.T, c *testClient) {
		q := c.Request("session/query", query("s1", "/tool Write {}"))
		_, perm := c.waitMethod("permission/request")
		queued := c.Request("session/query", query("s1", "queued"))

		cleanup := c.Request("session/cleanup", map[string]any{"sessionId": "s1"})
		_, resp := c.waitResponse(cleanup)
		require.Nil(t, resp.Error)
		before := c.before(cleanup)
		assert.JSONEq(t, `{"closed":true}`, string(resp.Result))

		// Before the cleanup's reply: the permission withdrawn, both
		// queries answered "cancelled", and the session closed.
		got := map[string]bool{}
		for _, m := range before {
			switch {
			case m.Method == "permission/cancelled":
				assert.Equal(t, perm.param(t, "requestId"), m.param(t, "requestId"))
				got["withdrawn"] = true
			case m.isResponse() && (string(m.ID) == strconv.Itoa(q) || string(m.ID) == strconv.Itoa(queued)):
				assert.JSONEq(t, `"cancelled"`, string(field(t, m.Result, "stopReason")))
				got[string(m.ID)] = true
			case m.Method == "session/status" && m.param(t, "status") == "closed":
				got["closed"] = true
			}
		}
		assert.Len(t, got, 4, "withdrawn, both queries, closed: %v", methods(before))

		var list protocol.ListResult
		c.call("session/list", nil, &list)
		assert.Empty(t, list.Sessions)
		var closed protocol.CleanupResult
		c.call("session/cleanup", map[string]any{"sessionId": "s1"}, &closed)
		assert.False(t, closed.Closed, "an unknown session")

		// The id can be used again: it makes a new session.
		before = c.call("session/query", query("s1", "new"), nil)
		assert.Equal(t, "starting", before[0].param(t, "status"))
	})
}

func TestMalformedInputIsAnsweredAndTheConnectionStays(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code       int64
		id         string // the id of the error: null, or the request's exactly as sent
	}{
		{"not json", `{"jsonrpc":"2.0","id":1,"method":`, rpc.CodeParseError, "null"},
		{"garbage", `hello tether`, rpc.CodeParseError, "null"},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"session/list"}]`, rpc.CodeInvalidRequest, "null"},
		{"no method", `{"jsonrpc":"2.0","id":1}`, rpc.CodeInvalidRequest, "1"},
		{"fractional id", `{"jsonrpc":"2.0","id":1.5,"method":"session/list"}`, rpc.CodeInvalidRequest, "1.5"},
		{"object id", `{"jsonrpc":"2.0","id":{"a":1},"method":"session/list"}`, rpc.CodeInvalidRequest, "null"},
		{"null id", `{"jsonrpc":"2.0","id":null,"method":"session/list"}`, rpc.CodeInvalidRequest, "null"},
		{"negative id", `{"jsonrpc":"2.0","id":-5,"method":"session/list"}`, rpc.CodeInvalidRequest, "-5"},
		{"id of 2^63", `{"jsonrpc":"2.0","id":9223372036854775808,"method":"session/list"}`, rpc.CodeInvalidRequest, "9223372036854775808"},
		{"id past 2^64", `{"jsonrpc":"2.0","id":99999999999999999999999,"method":"session/list"}`, rpc.CodeInvalidRequest, "99999999999999999999999"},
		{"no version", `{"id":1,"method":"session/list"}`, rpc.CodeInvalidRequest, "1"},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":7}`, rpc.CodeInvalidRequest, "1"},
		{"params not structured", `{"jsonrpc":"2.0","id":1,"method":"session/list","params":3}`, rpc.CodeInvalidRequest, "1"},
		{"scalar", `42`, rpc.CodeInvalidRequest, "null"},
		{"member name in another case", `{"jsonrpc":"2.0","id":1,"Method":"session/list"}`, rpc.CodeInvalidRequest, "1"},
		{"request with a result", `{"jsonrpc":"2.0","id":1,"method":"session/list","result":1}`, rpc.CodeInvalidRequest, "1"},
		{"request with an error", `{"jsonrpc":"2.0","id":1,"method":"session/list","params":{},"error":{"code":1,"message":"m"}}`, rpc.CodeInvalidRequest, "1"},
		{"error code not an integer", `{"jsonrpc":"2.0","id":1,"error":{"code":"x","message":"m"}}`, rpc.CodeInvalidRequest, "1"},
		{"error not an object", `{"jsonrpc":"2.0","id":1,"result":1,"error":"boom"}`, rpc.CodeInvalidRequest, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			framings := []rpc.Framing{rpc.FramingLSP}
			if !strings.Contains(tc.body, "\n") {
				framings = append(framings, rpc.FramingNDJSON)
			}
			for _, f := range framings {
				c := startTether(t, f)
				running := c.Request("session/query", query("s1", "/tool Bash {}"))
				c.waitMethod("permission/request")

				c.Raw(c.frame(tc.body))
				m := c.waitErrorWithID(tc.id)
				assert.Equal(t, tc.code, m.Error.Code, m.Error.Message)

				// The connection and the session are still there.
				var list protocol.ListResult
				c.call("session/list", nil, &list)
				require.Len(t, list.Sessions, 1)
				c.call("session/cancel", map[string]any{"sessionId": "s1"}, nil)
				c.waitResponse(running)
			}
		})
	}
}

func TestContentLengthBodyWithLeadingWhiteSpaceIsRead(t *testing.T) {
	c := startTether(t, rpc.FramingLSP)
	body := "\r\n " + `{"jsonrpc":"2.0","id":"ws","method":"session/list"}`
	c.Raw(fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body))
	_, resp := c.waitResponseRaw(`"ws"`)
	assert.Nil(t, resp.Error, "valid JSON after white space is a message")
}

func TestDuplicateRequestIDInFlight(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	c.Raw(`{"jsonrpc":"2.0","id":"q","method":"session/query","params":{"sessionId":"s","prompt":"/tool Bash {}\ndone"}}` + "\n")
	_, req := c.waitMethod("permission/request")
	c.Raw(`{"jsonrpc":"2.0","id":"q","method":"session/list"}` + "\n")
	m := c.waitNullIDError()
	assert.Equal(t, int64(rpc.CodeInvalidRequest), m.Error.Code, "the second use of the id is refused, with id null")
	c.call("permission/respond", map[string]any{"requestId": req.param(t, "requestId"), "decision": "allow"}, nil)
	_, resp := c.waitResponseRaw(`"q"`)
	require.Nil(t, resp.Error, "the query with that id goes on and gets its own answer")
	var res protocol.QueryResult
	require.NoError(t, json.Unmarshal(resp.Result, &res))
	assert.Equal(t, "done", res.Text)
	for _, m := range c.Log {
		if m.isResponse() && string(m.ID) == `"q"` && m.Error != nil {
			t.Errorf("an error was sent with the query's id: %+v", m.Error)
		}
	}
}

func TestStringRequestIDsTagNotifications(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	c.Raw(`{"jsonrpc":"2.0","id":"abc","method":"session/query","params":{"sessionId":"s","prompt":"hi"}}` + "\n")
	mine, resp := c.waitResponseRaw(`"abc"`)
	require.Nil(t, resp.Error)
	assert.Equal(t, "hi", tokens(t, mine))
	assert.Len(t, c.Log, len(mine)+1, "every notification carries the string id")
}

func lastOf(ms []message, method string) message {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Method == method {
			return ms[i]
		}
	}
	return message{}
}

func count(ms []message, method string) int {
	n := 0
	for _, m := range ms {
		if m.Method == method {
			n++
		}
	}
	return n
}

func field(t testing.TB, raw json.RawMessage, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	return m[name]
}

// Rules "always" added belong to one session, not to its id: cleanup and a
// new query of the same id, in one write, make a new session that asks
// again (issue 8 item 2); also with one P, where the old actor is still
// closing when the new one starts.
func TestCleanupThenQueryInOneWriteAsksAgain(t *testing.T) {
	for _, procs := range []int{1, runtime.GOMAXPROCS(0)} {
		t.Run(fmt.Sprint("GOMAXPROCS=", procs), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			c := startTether(t, rpc.FramingNDJSON)
			q := c.Request("session/query", query("A", `/tool Bash {"command":"ls"}`))
			_, perm := c.waitMethod("permission/request")
			c.call("permission/respond", map[string]any{"requestId": perm.param(t, "requestId"), "decision": "allow", "remember": true}, nil)
			c.waitResponse(q)

			c.Raw(`{"jsonrpc":"2.0","id":"cleanup","method":"session/cleanup","params":{"sessionId":"A"}}` + "\n" +
				`{"jsonrpc":"2.0","id":"again","method":"session/query","params":{"sessionId":"A","prompt":"/tool Bash {\"command\":\"ls\"}"}}` + "\n")
			_, again := c.waitMethod("permission/request")
			assert.Equal(t, "again", again.param(t, "queryId"), "the new session asks")
			c.call("permission/respond", map[string]any{"requestId": again.param(t, "requestId"), "decision": "deny"}, nil)
			_, resp := c.waitResponseRaw(`"again"`)
			require.Nil(t, resp.Error)
			_, resp = c.waitResponseRaw(`"cleanup"`)
			require.Nil(t, resp.Error)
		})
	}
}
