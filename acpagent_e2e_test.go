//go:build linux

// The process checks read /proc.

package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/acpagent"
	"github.com/tether-dev/tether/backends/claude/claudetest"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/handlers"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
)

// startTetherWithAgents runs Tether in-process with the mock and the given
// ACP agents as backends.
func startTetherWithAgents(t *testing.T, agents ...acpagent.Agent) *testClient {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	all := []backends.Backend{mock.Backend{}}
	for _, a := range agents {
		all = append(all, acpagent.NewAgent(a, acpagent.Config{StartTimeout: guard, Grace: 2 * time.Second}, log))
	}
	return startTether(t, rpc.FramingNDJSON, withBackends(mock.Name, all...))
}

// scriptedAgent is agent.mjs running scenario, as an agent named name.
func (tl acpTools) scriptedAgent(name, scenario string) acpagent.Agent {
	return acpagent.Agent{Name: name, Command: tl.node, Args: []string{tl.agent, scenario}, From: "test", Env: map[string]string{}}
}

func queryResult(t *testing.T, resp message) protocol.QueryResult {
	t.Helper()
	require.Nil(t, resp.Error, "session/query failed")
	var res protocol.QueryResult
	require.NoError(t, json.Unmarshal(resp.Result, &res))
	return res
}

// TestACPAgentThroughTethersProtocol drives the scripted ACP agent through
// Tether's own protocol: initialize lists it; a turn streams thoughts,
// tokens and tool calls (kind, title, summary); a permission request is a
// round trip whose allow lets the agent write its file; session/cancel
// ends a held turn "cancelled"; an agent's error answer fails that query
// only.
func TestACPAgentThroughTethersProtocol(t *testing.T) {
	tl := findACPTools(t)
	c := startTetherWithAgents(t, tl.scriptedAgent("basic", "basic"), tl.scriptedAgent("perm", "permission"),
		tl.scriptedAgent("cancel", "cancel"), tl.scriptedAgent("flaky", "prompt-error"))

	var init protocol.InitializeResult
	c.call(protocol.MethodInitialize, map[string]any{}, &init)
	require.Len(t, init.Backends, 5)
	basic := init.Backends[1]
	assert.Equal(t, "basic", basic.Name)
	assert.True(t, basic.Available)
	assert.Contains(t, basic.Detail, "ACP agent "+tl.node+" "+tl.agent+" basic")

	dir := t.TempDir()
	query := func(session, backend, prompt string) int {
		return c.Request(protocol.MethodSessionQuery, map[string]any{"sessionId": session, "backend": backend, "prompt": prompt, "cwd": dir})
	}

	// A streamed turn with tool calls.
	notes, resp := c.waitResponse(query("s-basic", "basic", "hello"))
	res := queryResult(t, resp)
	assert.Equal(t, "end_turn", res.StopReason)
	assert.Equal(t, "Hello, world!", res.Text)
	assert.Equal(t, res.Text, tokens(t, notes))
	// Streamed: 4 chunks from the agent, merged while the client falls
	// behind, so 1 to 4 notifications.
	assert.NotZero(t, count(notes, protocol.MethodToken))
	assert.LessOrEqual(t, count(notes, protocol.MethodToken), 4)
	assert.NotZero(t, count(notes, protocol.MethodThinking))
	assert.NotEmpty(t, res.BackendSessionID)
	assert.InDelta(t, 0.0123, res.CostUSD, 1e-9)
	var uses, results []message
	for _, m := range notes {
		switch m.Method {
		case protocol.MethodToolUse:
			uses = append(uses, m)
		case protocol.MethodToolResult:
			results = append(results, m)
		}
	}
	require.Len(t, uses, 2)
	assert.Equal(t, "edit", uses[0].param(t, "kind"))
	assert.Equal(t, "Write hello.txt", uses[0].param(t, "title"))
	require.Len(t, results, 2)
	assert.Equal(t, "Write hello.txt (Wrote 1 line to hello.txt)", results[0].param(t, "summary"))
	assert.Equal(t, "grep -n hello: error: grep: no such file", results[1].param(t, "summary"))
	assert.Equal(t, "true", results[1].param(t, "isError"))

	// A permission round trip: the file exists only after the allow.
	q := query("s-perm", "perm", "write it")
	_, ask := c.waitMethod(protocol.MethodPermissionRequest)
	assert.Equal(t, "edit", ask.param(t, "toolName"))
	assert.Equal(t, "call_write", ask.param(t, "toolUseId"))
	assert.Equal(t, "Write allowed.txt", ask.param(t, "alwaysRule"))
	_, err := os.Stat(filepath.Join(dir, "allowed.txt"))
	require.True(t, os.IsNotExist(err), "not written before the allow")
	c.call(protocol.MethodPermissionRespond, map[string]any{"requestId": ask.param(t, "requestId"), "decision": "allow"}, nil)
	_, resp = c.waitResponse(q)
	assert.Equal(t, "permission: allow_once; done", queryResult(t, resp).Text)
	content, err := os.ReadFile(filepath.Join(dir, "allowed.txt"))
	require.NoError(t, err)
	assert.Equal(t, "allowed\n", string(content))

	// Cancel: the held turn ends cancelled.
	q = query("s-cancel", "cancel", "hold on")
	c.waitQueryNote(protocol.MethodToken, q)
	c.call(protocol.MethodSessionCancel, map[string]any{"sessionId": "s-cancel"}, nil)
	_, resp = c.waitResponse(q)
	res = queryResult(t, resp)
	assert.Equal(t, "cancelled", res.StopReason)
	assert.Equal(t, "working...", res.Text)

	// An error answer fails that query only; the session and the agent's
	// other sessions go on.
	e := c.callError(protocol.MethodSessionQuery, map[string]any{"sessionId": "s-flaky", "backend": "flaky", "prompt": "go", "cwd": dir})
	assert.Equal(t, int64(protocol.CodeBackendFailed), e.Code)
	assert.Contains(t, e.Message, "flaky: the prompt failed: the agent answered error -32603: Internal error: model overloaded")
	for _, s := range []string{"s-flaky", "s-flaky-2"} {
		_, resp = c.waitResponse(query(s, "flaky", "again"))
		assert.Equal(t, "echo: again", queryResult(t, resp).Text)
	}
}

// claudeAgent is claude-agent-acp as an ACP agent named "claude-acp", on
// the pinned claude CLI and the fake Messages API at apiURL, hermetic
// (claudetest.Env), with mark in its environment (and so in its CLI's)
// for the process checks.
func (tl acpTools) claudeAgent(t testing.TB, apiURL, mark string) acpagent.Agent {
	env := map[string]string{
		"CLAUDE_CODE_EXECUTABLE": tl.claudeCLI,
		// This machine exports IS_SANDBOX=yes; as root the adapter then
		// passes a flag the CLI refuses (testdata/acp/README.md).
		"IS_SANDBOX":  "",
		orphanMarkEnv: mark,
	}
	for _, kv := range claudetest.Env(t, apiURL) {
		name, value, _ := strings.Cut(kv, "=")
		env[name] = value
	}
	return acpagent.Agent{Name: "claude-acp", Command: tl.node, Args: []string{tl.claudeACP}, Env: env, From: "test"}
}

// fakeClaude answers a prompt line "write FILE" with a Write tool call of
// FILE, and its tool result with "Done."; a line "wait..." with a chunk and
// then nothing until the client goes away; anything else with "Hello from
// the fake API". Requests without tools (titles) get a title.
func fakeClaude(t testing.TB) *claudetest.FakeAPI {
	write := regexp.MustCompile(`(?m)^write (\S+)$`)
	wait := regexp.MustCompile(`(?m)^wait`)
	return claudetest.NewFakeAPI(t, func(req claudetest.Request) []claudetest.Event {
		last := req.LastUserText()
		switch {
		case len(req.Tools) == 0:
			return claudetest.TextReply(req.Model, "A title")
		case strings.HasPrefix(last, "tool_result:"):
			return claudetest.TextReply(req.Model, "Done.")
		case write.MatchString(last):
			file := write.FindStringSubmatch(last)[1]
			input, _ := json.Marshal(map[string]string{"file_path": file, "content": "allowed\n"})
			return claudetest.ToolReply(req.Model, "toolu_write_"+filepath.Base(file), "Write", string(input))
		case wait.MatchString(last):
			return append(claudetest.TextReply(req.Model, "Working")[:3], claudetest.Hold())
		}
		return claudetest.TextReply(req.Model, "Hello", " from", " the fake API")
	})
}

// newMark is a value unique to one test, for orphanMarkEnv.
func newMark() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestClaudeAgentACPThroughTethersProtocol puts claude-agent-acp (pinned
// in testdeps, on the pinned claude CLI and the fake Messages API) behind
// Tether as an ACP agent and drives it with Tether's own protocol: a
// streamed turn; a Write whose permission request the client allows (the
// file then exists) and one it denies (it does not); a cancelled turn;
// and no process of the agent left after session/cleanup, nor after the
// client's input ends.
func TestClaudeAgentACPThroughTethersProtocol(t *testing.T) {
	tl := findACPTools(t)
	tl.needClaudeACP(t)
	api := fakeClaude(t)
	mark := newMark()
	c := startTetherWithAgents(t, tl.claudeAgent(t, api.URL(), mark))
	dir := t.TempDir()
	query := func(session, prompt string) int {
		// Sessions start in claude-agent-acp's "auto" mode; "default" asks.
		return c.Request(protocol.MethodSessionQuery, map[string]any{"sessionId": session, "backend": "claude-acp", "prompt": prompt, "cwd": dir, "permissionMode": "default"})
	}

	notes, resp := c.waitResponse(query("a", "say hello"))
	res := queryResult(t, resp)
	assert.Equal(t, "end_turn", res.StopReason)
	assert.Equal(t, "Hello from the fake API", res.Text)
	assert.NotZero(t, count(notes, protocol.MethodToken), "streamed")
	assert.NotEmpty(t, res.BackendSessionID, "claude-agent-acp's session id")
	require.NotEmpty(t, marked(mark, ""), "the agent runs")

	for _, tc := range []struct {
		decision string
		written  bool
	}{{"allow", true}, {"deny", false}} {
		target := filepath.Join(dir, tc.decision+".txt")
		q := query("a", "write "+target)
		_, ask := c.waitMethod(protocol.MethodPermissionRequest)
		_, err := os.Stat(target)
		require.True(t, os.IsNotExist(err), "nothing written before the client decides")
		assert.Equal(t, "edit", ask.param(t, "toolName"))
		assert.Contains(t, ask.param(t, "toolInput"), target)
		c.call(protocol.MethodPermissionRespond, map[string]any{"requestId": ask.param(t, "requestId"), "decision": tc.decision}, nil)
		notes, resp := c.waitResponse(q)
		res := queryResult(t, resp)
		assert.Equal(t, "end_turn", res.StopReason)
		_, err = os.Stat(target)
		assert.Equal(t, tc.written, err == nil, "%s: file exists: %v", tc.decision, err)
		var result message
		for _, m := range notes {
			if m.Method == protocol.MethodToolResult {
				result = m
			}
		}
		require.NotEmpty(t, result.Method, "the tool call's result")
		assert.Equal(t, map[bool]string{true: "false", false: "true"}[tc.written], result.param(t, "isError"))
		assert.True(t, strings.HasPrefix(result.param(t, "summary"), "Write "+tc.decision+".txt"), "summary %q", result.param(t, "summary"))
		assert.NotContains(t, result.param(t, "summary"), "```", "no Markdown fence as the summary")
	}

	q := query("b", "wait for it")
	c.waitQueryNote(protocol.MethodToken, q)
	c.call(protocol.MethodSessionCancel, map[string]any{"sessionId": "b"}, nil)
	_, resp = c.waitResponse(q)
	assert.Equal(t, "cancelled", queryResult(t, resp).StopReason)

	c.call(protocol.MethodSessionCleanup, map[string]any{"sessionId": "a"}, nil)
	require.NotEmpty(t, marked(mark, ""), "b still holds the agent")
	c.call(protocol.MethodSessionCleanup, map[string]any{"sessionId": "b"}, nil)
	waitGone(t, mark, "", "after the last session/cleanup")

	// A new session starts the agent again; the end of input stops it.
	_, resp = c.waitResponse(query("c", "say hello"))
	assert.Equal(t, "Hello from the fake API", queryResult(t, resp).Text)
	require.NotEmpty(t, marked(mark, ""))
	require.NoError(t, c.W.Close())
	assert.Equal(t, 0, c.ExitCode())
	waitGone(t, mark, "", "after the end of input")
}

// processOf is what session/list says of each session's process.
func processOf(t *testing.T, c *testClient) map[string]string {
	t.Helper()
	var list protocol.ListResult
	c.call(protocol.MethodSessionList, map[string]any{}, &list)
	out := make(map[string]string)
	for _, s := range list.Sessions {
		out[s.SessionID] = s.Process
	}
	return out
}

// waitProcesses polls session/list until it says want: a process stops
// (its sessions' idle timers) outside any request, so nothing else tells.
func waitProcesses(t *testing.T, c *testClient, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for {
		got := processOf(t, c)
		if assert.ObjectsAreEqual(want, got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("session/list says %v; want %v", got, want)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline, not pacing
	}
}

// TestACPAgentIdleStopAndTheProcessLimit: the agent's process is stopped
// once each of its sessions has been idle for --idle-stop, and the next
// query starts it again and resumes the conversation; under
// --max-processes each session attached to the agent counts, so a second
// session suspends the first.
func TestACPAgentIdleStopAndTheProcessLimit(t *testing.T) {
	tl := findACPTools(t)
	mark := newMark()
	agent := tl.scriptedAgent("echo", "")
	agent.Env[orphanMarkEnv] = mark
	agent.Env["ACP_AGENT_STATE"] = filepath.Join(t.TempDir(), "state.json")
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	backend := acpagent.NewAgent(agent, acpagent.Config{StartTimeout: guard}, log)
	idle := func(c *handlers.Config) { c.IdleStop = 300 * time.Millisecond }
	c := startTether(t, rpc.FramingNDJSON, withBackends("echo", backend), idle)
	dir := t.TempDir()
	ask := func(session, prompt string) protocol.QueryResult {
		_, resp := c.waitResponse(c.Request(protocol.MethodSessionQuery, map[string]any{"sessionId": session, "prompt": prompt, "cwd": dir}))
		return queryResult(t, resp)
	}
	first := ask("a", "one")
	ask("b", "two")
	require.NotEmpty(t, marked(mark, ""))
	waitGone(t, mark, "", "after both sessions were idle for --idle-stop")
	waitProcesses(t, c, map[string]string{"a": "stopped", "b": "stopped"})
	again := ask("a", "three")
	assert.Equal(t, "echo: three", again.Text)
	assert.Equal(t, first.BackendSessionID, again.BackendSessionID, "the same conversation, resumed")

	limited := startTether(t, rpc.FramingNDJSON, withBackends("echo", backend), func(c *handlers.Config) { c.MaxProcesses = 1 })
	c = limited
	ask("a", "one")
	assert.Equal(t, map[string]string{"a": "running"}, processOf(t, c))
	ask("b", "two")
	assert.Equal(t, map[string]string{"a": "stopped", "b": "running"}, processOf(t, c), "b's start suspended a")
	assert.Equal(t, "echo: three", ask("a", "three").Text)
}
