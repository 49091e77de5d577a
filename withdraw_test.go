package main

import (
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/rpc"
)

// Every way a pending permission request can end without an answer tells
// the editor why, with the reason protocol.md promises.
func TestPermissionCancelledSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		end    func(c *testClient, query int)
		reason string
	}{
		{"session/cancel", func(c *testClient, _ int) {
			c.call("session/cancel", map[string]any{"sessionId": "s1"}, nil)
		}, "cancelled"},
		{"$/cancelRequest", func(c *testClient, query int) {
			c.Notify("$/cancelRequest", map[string]any{"id": query})
		}, "cancelled"},
		{"session/cleanup", func(c *testClient, _ int) {
			c.call("session/cleanup", map[string]any{"sessionId": "s1"}, nil)
		}, "session closed"},
		{"shutdown", func(c *testClient, _ int) {
			c.call("shutdown", nil, nil)
		}, "session closed"},
		{"exit without shutdown", func(c *testClient, _ int) {
			c.Notify("exit", nil)
			assert.Equal(c.t, 1, c.ExitCode())
		}, "session closed"},
		{"end of input", func(c *testClient, _ int) {
			c.W.Close()
			assert.Equal(c.t, 0, c.ExitCode())
		}, "client gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startTether(t, rpc.FramingNDJSON)
			q := c.Request("session/query", query("s1", `/tool Bash {"command":"ls"}`))
			_, perm := c.waitMethod("permission/request")
			tc.end(c, q)
			cancelled := c.waitFor(func(m message) bool { return m.Method == "permission/cancelled" })
			assert.Equal(t, perm.param(t, "requestId"), cancelled.param(t, "requestId"))
			assert.Equal(t, tc.reason, cancelled.param(t, "reason"))
			_, resp := c.waitResponse(q)
			assert.NotNil(t, resp, "the query is answered")
		})
	}
}

// A turn that ends while its request waits withdraws it as "turn ended".
func TestPermissionCancelledWhenTheTurnEnds(t *testing.T) {
	c := startTether(t, rpc.FramingLSP, withBackends("hasty", hastyBackend{}))
	before, resp := c.waitResponse(c.Request("session/query", query("s1", "go")))
	require.Nil(t, resp.Error)
	perm := lastOf(before, "permission/request")
	cancelled := lastOf(before, "permission/cancelled")
	assert.Equal(t, perm.param(t, "requestId"), cancelled.param(t, "requestId"), "withdrawn before the query's answer")
	assert.Equal(t, "turn ended", cancelled.param(t, "reason"))
}

// A signal ends Tether as exit without shutdown does: the pending request
// is withdrawn because its session closed, and Tether exits with 1.
func TestBinarySignalWithdrawsPermissionAsSessionClosed(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			p := startBinary(t)
			io.WriteString(p.stdin, `{"jsonrpc":"2.0","id":1,"method":"session/query","params":{"sessionId":"s","prompt":"/tool Bash {\"command\":\"ls\"}"}}`+"\n")
			waitForLine(t, p, `"permission/request"`)
			require.NoError(t, p.cmd.Process.Signal(sig))
			lines, code := p.wait(t)
			assert.Equal(t, 1, code, "stderr:\n%s", p.stderr)
			var cancelled []string
			for _, line := range lines {
				if strings.Contains(line, `"permission/cancelled"`) {
					cancelled = append(cancelled, line)
				}
			}
			require.Len(t, cancelled, 1, "stdout:\n%s", strings.Join(lines, "\n"))
			assert.Contains(t, cancelled[0], `"reason":"session closed"`)
		})
	}
}
