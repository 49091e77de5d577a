package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
)

func TestToolCallRoundTripThroughTheClient(t *testing.T) {
	eachFraming(t, func(t *testing.T, c *testClient) {
		q := c.Request("session/query", query("s1", `/calltool read_buffer {"name":"main.go"}`+"\ndone"))
		_, call := c.waitMethod("tool/call")
		require.NotEmpty(t, call.ID, "tool/call is a request: it has an id to answer")
		var p protocol.ToolCallParams
		require.NoError(t, json.Unmarshal(call.Params, &p))
		assert.Equal(t, "s1", p.SessionID)
		assert.Equal(t, "read_buffer", p.Name)
		assert.JSONEq(t, `{"name":"main.go"}`, string(p.Arguments))
		assert.JSONEq(t, "1", string(p.QueryID))

		c.Reply(call.ID, protocol.ToolCallResult{Content: "package main\nfunc main() {}"})
		mine, resp := c.waitResponse(q)
		require.Nil(t, resp.Error)
		use, result := lastOf(mine, "session/toolUse"), lastOf(mine, "session/toolResult")
		assert.Equal(t, p.ToolUseID, use.param(t, "toolUseId"))
		assert.Equal(t, p.ToolUseID, result.param(t, "toolUseId"))
		assert.Equal(t, "read_buffer: package main", result.param(t, "summary"))
		assert.Equal(t, "false", result.param(t, "isError"))
	})
}

func TestToolCallAnsweredWithAnErrorIsAToolError(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	q := c.Request("session/query", query("s1", `/calltool format {}`))
	_, call := c.waitMethod("tool/call")
	c.Send(map[string]any{"jsonrpc": "2.0", "id": call.ID, "error": map[string]any{"code": -32000, "message": "no formatter"}})
	mine, resp := c.waitResponse(q)
	require.Nil(t, resp.Error, "the turn goes on; only the tool failed")
	result := lastOf(mine, "session/toolResult")
	assert.Equal(t, "true", result.param(t, "isError"))
	assert.Contains(t, result.param(t, "summary"), "no formatter")
}

func TestCancelWhileTheClientRunsATool(t *testing.T) {
	c := startTether(t, rpc.FramingNDJSON)
	q := c.Request("session/query", query("s1", `/calltool slow {}`))
	_, call := c.waitMethod("tool/call")
	c.Request("session/cancel", map[string]any{"sessionId": "s1"})
	// Tether tells the client to stop working on the call.
	_, cancel := c.waitMethod("$/cancelRequest")
	assert.JSONEq(t, string(call.ID), string(field(t, cancel.Params, "id")))
	_, resp := c.waitResponse(q)
	assert.JSONEq(t, `"cancelled"`, string(field(t, resp.Result, "stopReason")))
	// A late answer is harmless.
	c.Reply(call.ID, protocol.ToolCallResult{Content: "too late"})
	c.call("session/query", query("s1", "next"), nil)
}
