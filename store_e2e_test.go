package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/store"
)

// tetherRun is one run of the built binary, as an editor runs it, with a
// test client on its stdio. Sessions outlive a run through the store in
// the state directory the runs share.
type tetherRun struct {
	*testClient
	t       *testing.T
	p       *subprocess
	stopped bool
}

// startRun starts the binary with env added to startBinary's clean
// environment.
func startRun(t *testing.T, env []string, args ...string) *tetherRun {
	t.Helper()
	return runOf(t, startBinaryEnv(t, env, append([]string{"--framing", "ndjson"}, args...)...))
}

// runOf is the run of a Tether started as p, speaking NDJSON.
func runOf(t *testing.T, p *subprocess) *tetherRun {
	c := newTestClient(t, rpc.FramingNDJSON, p.stdin, p.stdout)
	r := &tetherRun{testClient: c, t: t, p: p}
	t.Cleanup(func() {
		if !r.stopped {
			// A test that failed half-way: end the run all the same.
			r.W.Close()
			r.Drain()
			r.p.wait(t)
		}
	})
	return r
}

// stateEnv is the environment of runs that keep their store in dir.
func stateEnv(dir string) []string { return []string{store.EnvStateDir + "=" + dir} }

// stop ends the run as an editor does (shutdown, exit), waits for the
// process and returns its stderr.
func (r *tetherRun) stop() string {
	r.t.Helper()
	r.stopped = true
	r.call(protocol.MethodShutdown, nil, nil)
	r.Notify(protocol.MethodExit, nil)
	r.W.Close()
	r.Drain()
	_, code := r.p.wait(r.t)
	assert.Equal(r.t, 0, code, "stderr:\n%s", r.p.stderr)
	return r.p.stderr.String()
}

// load sends session/load for session id and returns the notifications of
// that session written before the answer, and the answer.
func (r *tetherRun) load(id string) ([]message, protocol.LoadResult) {
	r.t.Helper()
	from := len(r.Log)
	req := strconv.Itoa(r.Request(protocol.MethodSessionLoad, map[string]any{"sessionId": id}))
	i := r.Find(from, func(m message) bool { return m.isResponse() && string(m.ID) == req })
	require.Nil(r.t, r.Log[i].Error, "session/load failed")
	var res protocol.LoadResult
	require.NoError(r.t, json.Unmarshal(r.Log[i].Result, &res))
	var notes []message
	for _, m := range r.Log[from:i] {
		if !m.isResponse() && m.param(r.t, "sessionId") == id {
			notes = append(notes, m)
		}
	}
	return notes, res
}

// byQuery groups notifications by their queryId.
func byQuery(t *testing.T, ms []message) map[string][]message {
	out := map[string][]message{}
	for _, m := range ms {
		if !m.isResponse() && m.Method != "" {
			q := m.param(t, "queryId")
			out[q] = append(out[q], m)
		}
	}
	return out
}

// The restart scenario on the mock: three turns, Tether exits; the
// next Tether lists the session, replays exactly the earlier tokens, and a
// new query continues it with the turn count going on.
func TestRestartMockSessionListLoadContinue(t *testing.T) {
	state, dir := t.TempDir(), t.TempDir()
	first := startRun(t, stateEnv(state))
	var init protocol.InitializeResult
	first.call(protocol.MethodInitialize, nil, &init)
	assert.Equal(t, protocol.StoreInfo{Enabled: true, Path: filepath.Join(state, store.FileName)}, init.Store)

	prompts := []string{
		"Hello there\n/think pondering\n/tokens 3",
		`/tool Bash {"command":"ls"}` + "\nafter the tool",
		"/tokens 2\nbye",
	}
	var texts []string
	for _, prompt := range prompts {
		id := first.Request(protocol.MethodSessionQuery, map[string]any{"sessionId": "s", "prompt": prompt, "cwd": dir})
		if strings.HasPrefix(prompt, "/tool") {
			_, perm := first.waitMethod(protocol.MethodPermissionRequest)
			first.call(protocol.MethodPermissionRespond, map[string]any{"requestId": perm.param(t, "requestId"), "decision": "allow"}, nil)
		}
		notes, resp := first.waitResponse(id)
		require.Nil(t, resp.Error)
		texts = append(texts, tokens(t, notes))
	}
	first.stop()

	second := startRun(t, stateEnv(state))
	var list protocol.ListResult
	second.call(protocol.MethodSessionList, map[string]any{}, &list)
	require.Len(t, list.Sessions, 1)
	s := list.Sessions[0]
	assert.Equal(t, "s", s.SessionID)
	assert.Equal(t, protocol.StatusStored, s.Status)
	assert.Equal(t, 3, s.Turns)
	assert.Equal(t, "Hello there", s.Title)
	assert.Equal(t, dir, s.Cwd)
	assert.NotEmpty(t, s.UpdatedAt)

	notes, loaded := second.load("s")
	replayed := byQuery(t, notes)
	for i, prompt := range prompts {
		q := strconv.Itoa(i + 1)
		notes := replayed[q]
		require.NotEmpty(t, notes, "query %s", q)
		assert.Equal(t, protocol.MethodUserMessage, notes[0].Method, "each query starts with its prompt")
		assert.Equal(t, prompt, notes[0].param(t, "text"))
		assert.Equal(t, texts[i], tokens(t, notes), "query %s replays exactly its tokens", q)
	}
	assert.Equal(t, []string{"session/userMessage", "session/token", "session/thinking", "session/token"}, methods(replayed["1"]))
	assert.Equal(t, []string{"session/userMessage", "session/toolUse", "session/toolResult", "session/token"}, methods(replayed["2"]))
	assert.Equal(t, "Bash ran (mock result)", replayed["2"][2].param(t, "summary"))
	assert.Equal(t, "s", loaded.SessionID)
	assert.Equal(t, 3, loaded.Turns)
	require.Len(t, loaded.Queries, 3)
	for i, q := range loaded.Queries {
		assert.Equal(t, i+1, q.QueryID)
		assert.Equal(t, protocol.StopEndTurn, q.StopReason)
		assert.NotEmpty(t, q.EndedAt)
	}
	assert.Positive(t, loaded.Usage.OutputTokens)

	var opened protocol.OpenResult
	second.call(protocol.MethodSessionOpen, map[string]any{"sessionId": "s"}, &opened)
	assert.Equal(t, protocol.OpenResult{SessionID: "s", Backend: "mock"}, opened, "session/open brings it back too")
	var res protocol.QueryResult
	second.call(protocol.MethodSessionQuery, map[string]any{"sessionId": "s", "prompt": "/tokens 1"}, &res)
	assert.Equal(t, "tok1", res.Text)
	second.call(protocol.MethodSessionList, nil, &list)
	require.Len(t, list.Sessions, 1)
	assert.Equal(t, 4, list.Sessions[0].Turns, "the turn count goes on")
	assert.Equal(t, protocol.StatusIdle, list.Sessions[0].Status, "live again")
	assert.Equal(t, dir, list.Sessions[0].Cwd)

	e := second.callError(protocol.MethodSessionLoad, map[string]any{"sessionId": "nope"})
	assert.Equal(t, int64(rpc.CodeInvalidParams), e.Code)
	var deleted protocol.DeleteResult
	second.call(protocol.MethodSessionDelete, map[string]any{"sessionId": "s"}, &deleted)
	assert.True(t, deleted.Deleted)
	second.call(protocol.MethodSessionList, nil, &list)
	assert.Empty(t, list.Sessions, "closed and deleted")
	second.stop()
}

// Two Tethers on one store at once: both write sessions, neither loses
// any, and the second cannot take a session the first holds live until
// the first lets it go.
func TestTwoProcessesShareTheStore(t *testing.T) {
	state, dir := t.TempDir(), t.TempDir()
	a, b := startRun(t, stateEnv(state)), startRun(t, stateEnv(state))
	const each = 8
	var wg sync.WaitGroup
	for _, run := range []struct {
		r      *tetherRun
		prefix string
	}{{a, "a"}, {b, "b"}} {
		wg.Go(func() {
			ids := make([]int, each)
			for i := range each {
				ids[i] = run.r.Request(protocol.MethodSessionQuery, map[string]any{
					"sessionId": fmt.Sprint(run.prefix, i), "prompt": fmt.Sprintf("%s%d says\n/tokens 200", run.prefix, i), "cwd": dir,
				})
			}
			for _, id := range ids {
				_, resp := run.r.waitResponse(id)
				assert.Nil(t, resp.Error)
			}
		})
	}
	wg.Wait()

	e := b.callError(protocol.MethodSessionQuery, map[string]any{"sessionId": "a0", "prompt": "mine now"})
	assert.Equal(t, int64(protocol.CodeLiveElsewhere), e.Code)
	assert.Contains(t, e.Message, fmt.Sprintf("pid %d", a.p.cmd.Process.Pid), "the error names the process that holds it")
	var list protocol.ListResult
	b.call(protocol.MethodSessionList, map[string]any{"limit": 100}, &list)
	assert.Len(t, list.Sessions, 2*each, "b lists a's sessions too, as stored")

	a.stop()
	var res protocol.QueryResult
	b.call(protocol.MethodSessionQuery, map[string]any{"sessionId": "a0", "prompt": "/tokens 1"}, &res)
	assert.Equal(t, "tok1", res.Text, "a's session comes back in b once a has let it go")
	b.stop()

	c := startRun(t, stateEnv(state))
	c.call(protocol.MethodSessionList, map[string]any{"limit": 100}, &list)
	turns := map[string]int{}
	for _, s := range list.Sessions {
		turns[s.SessionID] = s.Turns
	}
	want := map[string]int{}
	for i := range each {
		want[fmt.Sprint("a", i)], want[fmt.Sprint("b", i)] = 1, 1
	}
	want["a0"] = 2
	assert.Equal(t, want, turns, "every session of both, every turn")
	notes, _ := c.load("b5")
	text := tokens(t, notes)
	assert.True(t, strings.HasPrefix(text, "b5 says\ntok1 tok2"), text)
	assert.True(t, strings.HasSuffix(text, " tok200"), "every token of the turn")
	c.stop()
}

// A store file that is not a database never stops Tether: it says why,
// serves without a store, and leaves the file exactly as it was.
func TestACorruptStoreIsReportedAndLeftAlone(t *testing.T) {
	state := t.TempDir()
	path := filepath.Join(state, store.FileName)
	junk := []byte(strings.Repeat("not a database; ", 512))
	require.NoError(t, os.WriteFile(path, junk, 0o600))

	r := startRun(t, stateEnv(state))
	var init protocol.InitializeResult
	r.call(protocol.MethodInitialize, nil, &init)
	assert.False(t, init.Store.Enabled)
	assert.Contains(t, init.Store.Error, "not an SQLite database")
	assert.Contains(t, init.Store.Error, path)
	var res protocol.QueryResult
	r.call(protocol.MethodSessionQuery, map[string]any{"sessionId": "s", "prompt": "still works"}, &res)
	assert.Equal(t, "still works", res.Text)
	var list protocol.ListResult
	r.call(protocol.MethodSessionList, nil, &list)
	assert.Len(t, list.Sessions, 1, "the live session")
	e := r.callError(protocol.MethodSessionLoad, map[string]any{"sessionId": "s"})
	assert.Equal(t, int64(protocol.CodeNoStore), e.Code)
	stderr := r.stop()
	assert.Contains(t, stderr, "running without a session store")
	assert.Contains(t, stderr, "not an SQLite database")

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, junk, data, "the file is untouched")
	entries, err := os.ReadDir(state)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "and nothing was made beside it")
}
