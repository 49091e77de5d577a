//go:build linux

// The process checks read /proc; the claude backend's own process-group
// checks are Linux-only too.

package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends/claude"
	"github.com/tether-dev/tether/backends/claude/claudetest"
	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
)

// TestClaudeBackendEndToEnd drives the real claude CLI (pinned in testdeps)
// through the whole stack: JSON-RPC, the session actor, the claude backend,
// the CLI, and claudetest's fake Messages API on 127.0.0.1. In one session
// it streams a plain answer, runs a Bash tool the client allows, refuses
// one the client denies, and cleans up, after which no process of the
// session is left.
func TestClaudeBackendEndToEnd(t *testing.T) {
	cli := claudetest.RealCLI(t)
	const denyReason = "not in this e2e test"
	api := claudetest.NewFakeAPI(t, func(req claudetest.Request) []claudetest.Event {
		last := req.LastUserText()
		switch {
		case strings.HasPrefix(last, "tool_result:"):
			return claudetest.TextReply(req.Model, "Marker", " step", " finished.")
		case strings.Contains(last, "make marker.txt"):
			return claudetest.ToolReply(req.Model, "toolu_e2e_allow", "Bash", `{"command":"touch marker.txt","description":"Create the marker file"}`)
		case strings.Contains(last, "make denied.txt"):
			return claudetest.ToolReply(req.Model, "toolu_e2e_deny", "Bash", `{"command":"touch denied.txt","description":"Create the other marker file"}`)
		default:
			return claudetest.TextReply(req.Model, "Hello", " from", " the fake API")
		}
	})
	c := startTetherWithClaude(t, cli, api)

	var initRes protocol.InitializeResult
	c.call(protocol.MethodInitialize, map[string]any{}, &initRes)
	assert.Equal(t, claude.Name, initRes.DefaultBackend)
	require.Len(t, initRes.Backends, 1)
	require.True(t, initRes.Backends[0].Available, "claude: %s", initRes.Backends[0].Detail)

	dir := t.TempDir()
	q := func(prompt string) map[string]any {
		return map[string]any{"sessionId": "e2e", "prompt": prompt, "cwd": dir, "model": claudetest.Model}
	}
	result := func(resp message) protocol.QueryResult {
		t.Helper()
		require.Nil(t, resp.Error, "session/query failed")
		var res protocol.QueryResult
		require.NoError(t, json.Unmarshal(resp.Result, &res))
		return res
	}

	// (a) Tokens stream and make the result's text.
	first := c.Request(protocol.MethodSessionQuery, q("first question"))
	notes, resp := c.waitResponse(first)
	res := result(resp)
	assert.Equal(t, protocol.StopEndTurn, res.StopReason)
	assert.Equal(t, "Hello from the fake API", res.Text)
	assert.Equal(t, res.Text, tokens(t, notes), "the query's tokens make its text")
	// The CLI's deltas arrive faster than a test client reads, so they may
	// go out merged; that they are streamed as deltas is checked on the
	// backend (TestRealCLITokensTwoQueriesOneProcess).
	assert.Positive(t, count(notes, protocol.MethodToken))
	assert.Equal(t, "starting", notes[0].param(t, "status"), "the first query starts the CLI")
	assert.Equal(t, "idle", lastOf(notes, protocol.MethodStatus).param(t, "status"))
	require.NotEmpty(t, res.BackendSessionID)
	sessionID := res.BackendSessionID

	// (b) The client allows a Bash command: it runs in the session's cwd.
	id := c.Request(protocol.MethodSessionQuery, q("please make marker.txt"))
	before, perm := c.waitMethod(protocol.MethodPermissionRequest)
	assert.Equal(t, strconv.Itoa(id), perm.param(t, "queryId"))
	assert.Equal(t, "e2e", perm.param(t, "sessionId"))
	assert.Equal(t, "Bash", perm.param(t, "toolName"))
	assert.Equal(t, "toolu_e2e_allow", perm.param(t, "toolUseId"))
	assert.Contains(t, perm.param(t, "toolInput"), "touch marker.txt")
	_, err := uuid.Parse(perm.param(t, "requestId"))
	assert.NoError(t, err, "requestId is a UUID")
	assert.Equal(t, "toolu_e2e_allow", lastOf(before, protocol.MethodToolUse).param(t, "toolUseId"), "the tool use is announced before permission is asked")
	_, err = os.Stat(filepath.Join(dir, "marker.txt"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing ran before the answer")
	c.call(protocol.MethodPermissionRespond, map[string]any{"requestId": perm.param(t, "requestId"), "decision": "allow"}, nil)

	notes, resp = c.waitResponse(id)
	res = result(resp)
	assert.Equal(t, protocol.StopEndTurn, res.StopReason)
	assert.Equal(t, "Marker step finished.", res.Text)
	assert.Equal(t, res.Text, tokens(t, notes))
	assert.Equal(t, sessionID, res.BackendSessionID, "the same conversation")
	assert.Contains(t, statuses(t, notes), "waiting_permission")
	require.Equal(t, 1, count(notes, protocol.MethodToolResult))
	tr := lastOf(notes, protocol.MethodToolResult)
	assert.Equal(t, "toolu_e2e_allow", tr.param(t, "toolUseId"))
	assert.Equal(t, "false", tr.param(t, "isError"))
	assert.Equal(t, "touch marker.txt (no output)", tr.param(t, "summary"))
	assert.FileExists(t, filepath.Join(dir, "marker.txt"), "the allowed command ran in the session's cwd")

	// (c) The client denies one: it does not run, and the model is told why.
	id = c.Request(protocol.MethodSessionQuery, q("now make denied.txt"))
	_, perm = c.waitMethod(protocol.MethodPermissionRequest)
	assert.Equal(t, strconv.Itoa(id), perm.param(t, "queryId"))
	assert.Equal(t, "Bash", perm.param(t, "toolName"))
	assert.Equal(t, "toolu_e2e_deny", perm.param(t, "toolUseId"))
	_, err = uuid.Parse(perm.param(t, "requestId"))
	assert.NoError(t, err, "requestId is a UUID")
	c.call(protocol.MethodPermissionRespond, map[string]any{"requestId": perm.param(t, "requestId"), "decision": "deny", "reason": denyReason}, nil)

	notes, resp = c.waitResponse(id)
	res = result(resp)
	assert.Equal(t, protocol.StopEndTurn, res.StopReason)
	assert.Equal(t, "Marker step finished.", res.Text)
	require.Equal(t, 1, count(notes, protocol.MethodToolResult))
	tr = lastOf(notes, protocol.MethodToolResult)
	assert.Equal(t, "toolu_e2e_deny", tr.param(t, "toolUseId"))
	assert.Equal(t, "true", tr.param(t, "isError"))
	assert.Contains(t, tr.param(t, "summary"), "touch denied.txt: error:")
	assert.NoFileExists(t, filepath.Join(dir, "denied.txt"), "the denied command did not run")
	reqs := api.Recorded()
	last := reqs[len(reqs)-1].LastUserText()
	assert.True(t, strings.HasPrefix(last, "tool_result:"), "the last API request answers the tool use: %q", last)
	assert.Contains(t, last, denyReason, "the model sees the client's reason")

	// (d) Cleanup stops the CLI and everything it started before it answers.
	exe, err := filepath.EvalSymlinks(cli)
	require.NoError(t, err)
	procs := processesIn(t, dir)
	var pgids []int
	for _, p := range procs {
		if p.exe == exe {
			pgids = append(pgids, p.pgid)
		}
	}
	require.NotEmpty(t, pgids, "a claude process runs in the session's cwd: %+v", procs)
	var closed protocol.CleanupResult
	cid := c.Request(protocol.MethodSessionCleanup, map[string]any{"sessionId": "e2e"})
	_, resp = c.waitResponse(cid)
	require.Nil(t, resp.Error)
	require.NoError(t, json.Unmarshal(resp.Result, &closed))
	assert.True(t, closed.Closed)
	assert.Contains(t, statuses(t, c.before(cid)), protocol.StatusClosed, "the closed status comes before the answer")
	assert.Empty(t, processesIn(t, dir), "no process is left in the session's cwd")
	for _, pgid := range pgids {
		assert.Empty(t, groupMembers(t, pgid), "the CLI's process group %d is gone", pgid)
	}
}

// startTetherWithClaude runs Tether in-process with the claude backend
// configured as main does, driving cli against api.
func startTetherWithClaude(t *testing.T, cli string, api *claudetest.FakeAPI) *testClient {
	t.Helper()
	// The backend gives the CLI Tether's own environment.
	for _, kv := range claudetest.Env(t, api.URL()) {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
	fs := flag.NewFlagSet("tether", flag.ContinueOnError)
	cfg := claude.RegisterFlags(fs)
	require.NoError(t, fs.Parse([]string{"--claude-path", cli}))
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return startTether(t, rpc.FramingLSP, withBackends(claude.Name, claude.New(*cfg, log)))
}

// Issue 8 through the whole stack and the real CLI: always allowing a
// command adds the CLI's own rule, which covers that command and not rm;
// a command the CLI suggests no rule for is remembered by Tether, exactly.
func TestClaudeAlwaysAllowIsARule(t *testing.T) {
	cli := claudetest.RealCLI(t)
	n := 0
	api := claudetest.NewFakeAPI(t, func(req claudetest.Request) []claudetest.Event {
		last := req.LastUserText()
		n++
		id := fmt.Sprintf("toolu_rule_%d", n)
		switch {
		case strings.HasPrefix(last, "tool_result:"):
			return claudetest.TextReply(req.Model, "Done.")
		case strings.Contains(last, "remove x"):
			return claudetest.ToolReply(req.Model, id, "Bash", `{"command":"rm -rf x","description":"Remove x"}`)
		case strings.Contains(last, "list the root"):
			return claudetest.ToolReply(req.Model, id, "Bash", `{"command":"ls /","description":"List the root"}`)
		default:
			return claudetest.ToolReply(req.Model, id, "Bash", `{"command":"ls /usr","description":"List /usr"}`)
		}
	})
	c := startTetherWithClaude(t, cli, api)
	dir := t.TempDir()
	// run sends prompt; a permission request it raises is answered with
	// respond. It returns the request (zero when none came) and the
	// query's tool result.
	run := func(prompt string, respond map[string]any) (perm, result message) {
		t.Helper()
		id := c.Request(protocol.MethodSessionQuery, map[string]any{"sessionId": "rules", "prompt": prompt, "cwd": dir, "model": claudetest.Model})
		asked := strconv.Itoa(id)
		m := c.waitFor(func(m message) bool {
			return m.isResponse() && string(m.ID) == asked ||
				m.Method == protocol.MethodPermissionRequest && m.param(t, "queryId") == asked
		})
		if !m.isResponse() {
			perm = m
			params := map[string]any{"requestId": perm.param(t, "requestId")}
			for k, v := range respond {
				params[k] = v
			}
			c.call(protocol.MethodPermissionRespond, params, nil)
		}
		notes, resp := c.waitResponse(id)
		require.Nil(t, resp.Error)
		require.Equal(t, 1, count(notes, protocol.MethodToolResult), "%s: %v", prompt, methods(notes))
		return perm, lastOf(notes, protocol.MethodToolResult)
	}
	always := map[string]any{"decision": "allow", "remember": true}
	deny := map[string]any{"decision": "deny", "reason": "not in this test"}

	perm, result := run("list /usr", always)
	require.NotEmpty(t, perm.Method, "ls /usr is asked the first time")
	assert.Contains(t, perm.param(t, "alwaysRule"), "Bash(ls /usr)", "the CLI's own rule")
	assert.Equal(t, "false", result.param(t, "isError"))

	perm, result = run("now remove x", deny)
	require.NotEmpty(t, perm.Method, "rm -rf x is asked")
	assert.Equal(t, "true", result.param(t, "isError"))

	perm, result = run("list /usr again", deny)
	assert.Empty(t, perm.Method, "the remembered command is not asked")
	assert.Equal(t, "false", result.param(t, "isError"), "and runs")

	// The CLI suggests no rule for ls /: always remembers the exact call.
	perm, _ = run("list the root", always)
	require.NotEmpty(t, perm.Method)
	assert.Equal(t, `Bash({"command":"ls /","description":"List the root"})`, perm.param(t, "alwaysRule"))
	perm, result = run("list the root again", deny)
	assert.Empty(t, perm.Method, "Tether answers the CLI's identical request itself")
	assert.Equal(t, "false", result.param(t, "isError"))
}

// statuses lists the status of each session/status among ms.
func statuses(t testing.TB, ms []message) []string {
	var out []string
	for _, m := range ms {
		if m.Method == protocol.MethodStatus {
			out = append(out, m.param(t, "status"))
		}
	}
	return out
}

// proc is a live (not zombie) process as /proc shows it.
type proc struct {
	pid  int
	pgid int
	exe  string // empty when unreadable
	cwd  string
}

// liveProcs lists every live process of this user that /proc shows.
func liveProcs(t testing.TB) []proc {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold anything, so
		// count from the last ')'.
		fields := bytes.Fields(stat[bytes.LastIndexByte(stat, ')')+1:])
		if len(fields) < 3 || fields[0][0] == 'Z' || fields[0][0] == 'X' {
			continue
		}
		pgid, _ := strconv.Atoi(string(fields[2]))
		exe, _ := os.Readlink("/proc/" + e.Name() + "/exe")
		cwd, _ := os.Readlink("/proc/" + e.Name() + "/cwd")
		out = append(out, proc{pid: pid, pgid: pgid, exe: exe, cwd: cwd})
	}
	return out
}

// processesIn lists the live processes whose working directory is dir.
func processesIn(t testing.TB, dir string) []proc {
	t.Helper()
	dir, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	var out []proc
	for _, p := range liveProcs(t) {
		if p.cwd == dir {
			out = append(out, p)
		}
	}
	return out
}

// groupMembers lists the live processes of process group pgid.
func groupMembers(t testing.TB, pgid int) []proc {
	t.Helper()
	var out []proc
	for _, p := range liveProcs(t) {
		if p.pgid == pgid {
			out = append(out, p)
		}
	}
	return out
}
