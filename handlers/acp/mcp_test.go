package acp_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
)

// mcpTaker is the mock under another name, taking MCP servers as claude
// does; it records the servers each session was opened with.
type mcpTaker struct {
	mu     sync.Mutex
	opened [][]backends.MCPServer
}

func (b *mcpTaker) Name() string              { return "mcptaker" }
func (b *mcpTaker) Available() (bool, string) { return true, "takes MCP servers" }
func (b *mcpTaker) Info() backends.Info       { return backends.Info{MCPServers: true} }
func (b *mcpTaker) Open(ctx context.Context, opts backends.Options) (backends.Conn, error) {
	b.mu.Lock()
	b.opened = append(b.opened, opts.MCPServers)
	b.mu.Unlock()
	return mock.Backend{}.Open(ctx, opts)
}

func (b *mcpTaker) servers() [][]backends.MCPServer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.opened
}

// Zed passes every MCP server its user configured to every agent's
// session/new. A backend that cannot use them runs the session without
// them rather than refusing it; a backend that can gets them, also when
// the session switches to it.
func TestMCPServersABackendCannotUseAreLeftOut(t *testing.T) {
	taker := &mcpTaker{}
	c := start(t, withBackends("mock", mock.Backend{}, taker))
	newSession := func() string {
		var res struct {
			SessionID string `json:"sessionId"`
		}
		c.call("session/new", map[string]any{"cwd": t.TempDir(), "mcpServers": []any{
			map[string]any{"name": "fs", "command": "mcp-fs", "args": []any{"--root", "/"}, "env": []any{}},
		}}, &res)
		require.NotEmpty(t, res.SessionID, "the mock's session is made without the MCP servers")
		return res.SessionID
	}

	id := newSession()
	before, resp := c.waitResponse(c.Request("session/prompt", promptText(id, "hello")))
	require.Nil(t, resp.Error)
	assert.Equal(t, "hello", chunks(t, updatesOf(t, before, id)))

	moved := newSession()
	c.call("session/set_config_option", map[string]any{"sessionId": moved, "configId": "backend", "value": "mcptaker"}, nil)
	_, resp = c.waitResponse(c.Request("session/prompt", promptText(moved, "hello")))
	require.Nil(t, resp.Error, "the prompt runs once the backend has started")
	require.Len(t, taker.servers(), 1)
	assert.Equal(t, []backends.MCPServer{{Name: "fs", Type: "stdio", Command: "mcp-fs", Args: []string{"--root", "/"}}}, taker.servers()[0],
		"the backend the session moves to gets them")
}
