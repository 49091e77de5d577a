//go:build linux

package main

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends/claude/claudetest"
	"github.com/tether-dev/tether/protocol"
)

// The real claude CLI after a restart: the session comes back on the
// stored backendSessionId, in its cwd, so the resumed CLI's request to the
// API carries the earlier prompt, and the conversation keeps its id.
func TestRestartClaudeResumesTheCLIConversation(t *testing.T) {
	cli := claudetest.RealCLI(t)
	var mu sync.Mutex
	var requests []claudetest.Request
	api := claudetest.NewFakeAPI(t, func(req claudetest.Request) []claudetest.Event {
		mu.Lock()
		requests = append(requests, req)
		mu.Unlock()
		return claudetest.TextReply(req.Model, "Noted", ".")
	})
	// One HOME for both runs: the CLI keeps its transcripts there, and
	// --resume reads them.
	env := append(claudetest.Env(t, api.URL()), "PATH="+os.Getenv("PATH"))
	env = append(env, stateEnv(t.TempDir())...)
	dir := t.TempDir()
	start := func() *tetherRun {
		cmd := exec.Command(tetherBinary(t), "--backend", "claude", "--claude-path", cli, "--framing", "ndjson")
		cmd.Env = env
		cmd.Dir = t.TempDir()
		return runOf(t, startCommand(t, cmd))
	}

	first := start()
	var res protocol.QueryResult
	first.call(protocol.MethodSessionQuery, map[string]any{
		"sessionId": "chat", "prompt": "remember the word pelican", "cwd": dir, "model": claudetest.Model,
	}, &res)
	require.Equal(t, protocol.StopEndTurn, res.StopReason)
	handle := res.BackendSessionID
	require.NotEmpty(t, handle)
	first.stop()

	second := start()
	var list protocol.ListResult
	second.call(protocol.MethodSessionList, nil, &list)
	require.Len(t, list.Sessions, 1)
	assert.Equal(t, "claude", list.Sessions[0].Backend)
	assert.Equal(t, protocol.StatusStored, list.Sessions[0].Status)
	_, loaded := second.load("chat")
	assert.Equal(t, handle, loaded.BackendSessionID, "the store kept the CLI's session id")

	second.call(protocol.MethodSessionQuery, map[string]any{"sessionId": "chat", "prompt": "which word?"}, &res)
	require.Equal(t, protocol.StopEndTurn, res.StopReason)
	assert.Equal(t, handle, res.BackendSessionID, "the same conversation")
	second.stop()

	mu.Lock()
	defer mu.Unlock()
	var last claudetest.Request
	for _, r := range requests {
		if strings.Contains(r.LastUserText(), "which word?") {
			last = r
		}
	}
	require.NotEmpty(t, last.Messages, "the resumed CLI asked the API")
	var all []string
	for _, m := range last.Messages {
		if m.Role == "user" {
			all = append(all, string(m.Content))
		}
	}
	assert.Contains(t, strings.Join(all, "\n"), "remember the word pelican", "the resumed CLI's request carries the earlier prompt")
}
