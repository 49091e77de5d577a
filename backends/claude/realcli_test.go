package claude

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/claude/claudetest"
)

// The tests in this file drive the real claude CLI, the version pinned in
// testdeps/package.json, against claudetest's fake API; claudetest keeps
// everything on the machine.

// realRun is one test's real CLI against its own fake API.
type realRun struct {
	t         *testing.T
	api       *claudetest.FakeAPI
	cwd       string
	configDir string // the CLI's config dir, which holds its transcripts
	b         *Backend
}

func newRealRun(t *testing.T, reply func(req claudetest.Request) []claudetest.Event) *realRun {
	t.Helper()
	path := claudetest.RealCLI(t)
	r := &realRun{t: t, cwd: t.TempDir()}
	r.api = claudetest.NewFakeAPI(t, reply)
	env := claudetest.Env(t, r.api.URL())
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "CLAUDE_CONFIG_DIR="); ok {
			r.configDir = v
		}
	}
	require.NotEmpty(t, r.configDir, "claudetest.Env sets CLAUDE_CONFIG_DIR")
	cfg := Config{
		Path:         path,
		Grace:        5 * time.Second,
		Watchdog:     time.Minute,
		startTimeout: 30 * time.Second,
		env:          env,
	}
	r.b = New(cfg, testLogger(t))
	return r
}

// open opens a conn; when the test ends it is closed and its process group
// must be gone.
func (r *realRun) open() *conn {
	r.t.Helper()
	c, err := r.b.Open(context.Background(), backends.Options{SessionID: "real", Cwd: r.cwd, Model: claudetest.Model})
	require.NoError(r.t, err)
	cc := c.(*conn)
	pgids := []int{cc.proc.pid}
	r.t.Cleanup(func() {
		if cc.proc != nil {
			pgids = append(pgids, cc.proc.pid)
		}
		assert.NoError(r.t, cc.Close(context.Background()))
		for _, pgid := range pgids {
			assert.False(r.t, groupAlive(pgid), "process group %d of the CLI is still alive after Close", pgid)
		}
	})
	return cc
}

// realQuery runs one turn with a deadline, so a hang fails rather than
// stalls the suite.
func realQuery(t *testing.T, c *conn, ctx context.Context, prompt string, sink *fakeSink) (backends.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	res, err := c.Query(ctx, backends.Turn{Prompt: backends.TextPrompt(prompt)}, sink)
	require.NotErrorIs(t, context.Cause(ctx), context.DeadlineExceeded, "the turn hung")
	return res, err
}

func TestRealCLITokensTwoQueriesOneProcess(t *testing.T) {
	r := newRealRun(t, func(req claudetest.Request) []claudetest.Event {
		if strings.Contains(req.LastUserText(), "second") {
			return claudetest.TextReply(req.Model, "Second", " answer")
		}
		return claudetest.TextReply(req.Model, "Hello", " from", " the fake API")
	})
	c := r.open()
	pid := c.proc.pid

	sink := &fakeSink{}
	res, err := realQuery(t, c, context.Background(), "first question", sink)
	require.NoError(t, err)
	assert.Equal(t, "Hello from the fake API", sink.tokens.String())
	assert.GreaterOrEqual(t, len(sink.events), 3, "streamed as deltas, not one block")
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.NotEmpty(t, res.BackendSessionID)
	assert.Positive(t, res.Usage.InputTokens)

	sink2 := &fakeSink{}
	res2, err := realQuery(t, c, context.Background(), "second question", sink2)
	require.NoError(t, err)
	assert.Equal(t, "Second answer", sink2.tokens.String())
	assert.Equal(t, pid, c.proc.pid, "both queries in one process")
	assert.Equal(t, res.BackendSessionID, res2.BackendSessionID)

	reqs := r.api.Recorded()
	last := reqs[len(reqs)-1]
	assert.Contains(t, string(mustJSON(t, last.Messages)), "first question", "the second request carries the conversation")
}

func TestRealCLIToolPermission(t *testing.T) {
	reply := func(req claudetest.Request) []claudetest.Event {
		if strings.HasPrefix(req.LastUserText(), "tool_result:") {
			return claudetest.TextReply(req.Model, "Marker", " step finished.")
		}
		return claudetest.ToolReply(req.Model, "toolu_fake_1", "Bash", `{"command":"touch marker.txt","description":"Create the marker file"}`)
	}
	for _, allow := range []bool{true, false} {
		name := map[bool]string{true: "allow", false: "deny"}[allow]
		t.Run(name, func(t *testing.T) {
			r := newRealRun(t, reply)
			c := r.open()
			sink := &fakeSink{onAsk: func(backends.PermissionRequest) (backends.Decision, bool) {
				return backends.Decision{Allow: allow, Reason: "not in this test"}, true
			}}
			res, err := realQuery(t, c, context.Background(), "please make the marker", sink)
			require.NoError(t, err)
			assert.Equal(t, backends.StopEndTurn, res.StopReason)
			require.Len(t, sink.asks, 1, "events: %v", sink.events)
			assert.Equal(t, "Bash", sink.asks[0].ToolName)
			assert.Equal(t, "toolu_fake_1", sink.asks[0].ToolUseID)
			assert.Contains(t, string(sink.asks[0].ToolInput), "touch marker.txt")
			assert.Equal(t, "Marker step finished.", sink.tokens.String())
			require.Len(t, sink.results, 1)
			assert.Equal(t, "toolu_fake_1", sink.results[0].ToolUseID)
			assert.Equal(t, !allow, sink.results[0].IsError)
			t.Logf("summary: %q", sink.results[0].Summary)

			_, statErr := os.Stat(filepath.Join(r.cwd, "marker.txt"))
			if allow {
				assert.NoError(t, statErr, "the allowed command ran in the session's cwd")
				assert.Equal(t, "touch marker.txt (no output)", sink.results[0].Summary)
			} else {
				assert.ErrorIs(t, statErr, os.ErrNotExist, "the denied command did not run")
				assert.Contains(t, sink.results[0].Summary, "touch marker.txt: error:")
			}
		})
	}
}

// "Always" gives the CLI its own suggested rule for the session: the
// remembered command then runs without a can_use_tool, while rm -rf x is
// asked; and nothing is written to a settings file. (ls in the session's
// cwd is allowed by the CLI without asking, so the test lists /usr.)
func TestRealCLIAlwaysAllowAddsOnlyTheSuggestedRule(t *testing.T) {
	n := 0
	r := newRealRun(t, func(req claudetest.Request) []claudetest.Event {
		last := req.LastUserText()
		n++
		id := fmt.Sprintf("toolu_fake_%d", n)
		switch {
		case strings.HasPrefix(last, "tool_result:"):
			return claudetest.TextReply(req.Model, "Done.")
		case strings.Contains(last, "remove x"):
			return claudetest.ToolReply(req.Model, id, "Bash", `{"command":"rm -rf x","description":"Remove x"}`)
		default:
			return claudetest.ToolReply(req.Model, id, "Bash", `{"command":"ls /usr","description":"List /usr"}`)
		}
	})
	c := r.open()
	decide := func(d backends.Decision) *fakeSink {
		return &fakeSink{onAsk: func(backends.PermissionRequest) (backends.Decision, bool) { return d, true }}
	}

	sink := decide(backends.Decision{Allow: true, Remember: true})
	_, err := realQuery(t, c, context.Background(), "list /usr", sink)
	require.NoError(t, err)
	require.Len(t, sink.asks, 1, "events: %v", sink.events)
	assert.Contains(t, sink.asks[0].Rule, "Bash(ls /usr)", "the CLI's suggested rule")
	assert.True(t, sink.asks[0].AgentRemembers)
	t.Logf("always adds %s", sink.asks[0].Rule)

	sink = decide(backends.Decision{Reason: "not rm"})
	_, err = realQuery(t, c, context.Background(), "now remove x", sink)
	require.NoError(t, err)
	require.Len(t, sink.asks, 1, "rm -rf x is asked: events: %v", sink.events)
	assert.Contains(t, string(sink.asks[0].ToolInput), "rm -rf x")
	require.Len(t, sink.results, 1)
	assert.True(t, sink.results[0].IsError, "denied")

	sink = decide(backends.Decision{Reason: "must not be asked"})
	_, err = realQuery(t, c, context.Background(), "list /usr again", sink)
	require.NoError(t, err)
	assert.Empty(t, sink.asks, "the remembered command runs unasked: events: %v", sink.events)
	require.Len(t, sink.results, 1)
	assert.False(t, sink.results[0].IsError, "it ran: %s", sink.results[0].Summary)

	for _, settings := range []string{
		filepath.Join(r.cwd, ".claude", "settings.local.json"),
		filepath.Join(r.cwd, ".claude", "settings.json"),
		filepath.Join(r.configDir, "settings.json"),
	} {
		b, err := os.ReadFile(settings)
		if err == nil {
			assert.NotContains(t, string(b), "ls /usr", "%s holds the session's rule", settings)
		}
	}
}

func TestRealCLICancelMidStream(t *testing.T) {
	r := newRealRun(t, func(req claudetest.Request) []claudetest.Event {
		if strings.Contains(req.LastUserText(), "after") {
			return claudetest.TextReply(req.Model, "Still", " here")
		}
		// Stream a little, then hold the response open until the CLI
		// aborts it.
		return append(claudetest.TextReply(req.Model, "Once upon")[:3], claudetest.Hold())
	})
	c := r.open()
	pid := c.proc.pid

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &fakeSink{onToken: func(string) { cancel() }}
	res, err := realQuery(t, c, ctx, "tell a long story", sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopCancelled, res.StopReason)
	assert.Equal(t, "Once upon", sink.tokens.String())

	sink2 := &fakeSink{}
	res, err = realQuery(t, c, context.Background(), "and after that?", sink2)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, "Still here", sink2.tokens.String())
	if c.proc.pid != pid {
		t.Logf("the CLI exited after the interrupt; the query ran in a resumed process")
	}
}

func TestRealCLIKilledIsResumed(t *testing.T) {
	r := newRealRun(t, func(req claudetest.Request) []claudetest.Event {
		if strings.Contains(req.LastUserText(), "which word") {
			return claudetest.TextReply(req.Model, "The word was", " pelican.")
		}
		return claudetest.TextReply(req.Model, "Noted.")
	})
	c := r.open()
	first := c.proc

	res, err := realQuery(t, c, context.Background(), "remember the word PELICAN", &fakeSink{})
	require.NoError(t, err)
	sessionID := res.BackendSessionID
	require.NotEmpty(t, sessionID)

	// The CLI appends the turn to its transcript shortly after the result
	// (about 60 ms here), asynchronously; a kill before that loses the
	// turn, and --resume would not find it. Wait for it, then kill.
	waitFor(t, 10*time.Second, "the transcript holds the turn", func() bool {
		files, _ := filepath.Glob(filepath.Join(r.configDir, "projects", "*", sessionID+".jsonl"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), "Noted.") {
				return true
			}
		}
		return false
	})
	require.NoError(t, syscall.Kill(-first.pid, syscall.SIGKILL))
	<-first.exited

	sink := &fakeSink{}
	res, err = realQuery(t, c, context.Background(), "which word was it?", sink)
	require.NoError(t, err)
	assert.Equal(t, "The word was pelican.", sink.tokens.String())
	assert.NotEqual(t, first.pid, c.proc.pid, "a new process")
	assert.Equal(t, sessionID, res.BackendSessionID, "the same conversation")

	reqs := r.api.Recorded()
	last := reqs[len(reqs)-1]
	assert.Contains(t, string(mustJSON(t, last.Messages)), "remember the word PELICAN",
		"the resumed CLI sends the earlier messages to the API")
	assert.False(t, groupAlive(first.pid))
}

// waitFor polls cond until it holds or timeout passes. It is for state only
// another process can change (a file it writes), which sends no event.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting until %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The real CLI takes an image prompt and an --mcp-config as Tether writes
// them: the image reaches the API as an image block, and the MCP server
// (an stdio one that exits at once) does not stop the turn.
func TestRealCLIImagePromptAndMCPConfig(t *testing.T) {
	r := newRealRun(t, func(req claudetest.Request) []claudetest.Event {
		return claudetest.TextReply(req.Model, "A", " pixel")
	})
	c, err := r.b.Open(context.Background(), backends.Options{
		SessionID: "real", Cwd: r.cwd, Model: claudetest.Model,
		MCPServers: []backends.MCPServer{{Name: "gone", Command: "/bin/false"}},
	})
	require.NoError(t, err)
	cc := c.(*conn)
	t.Cleanup(func() {
		pgid := cc.proc.pid
		assert.NoError(t, cc.Close(context.Background()))
		assert.False(t, groupAlive(pgid))
	})
	// A 1×1 PNG.
	const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAHnOcQAAAAABJRU5ErkJggg=="
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sink := &fakeSink{}
	_, err = cc.Query(ctx, backends.Turn{Prompt: []backends.Content{
		{Type: backends.ContentImage, MimeType: "image/png", Data: png},
		{Type: backends.ContentText, Text: "What is this?"},
	}}, sink)
	require.NoError(t, err)
	assert.Equal(t, "A pixel", sink.tokens.String())
	reqs := r.api.Recorded()
	require.NotEmpty(t, reqs)
	last := string(mustJSON(t, reqs[len(reqs)-1].Messages))
	assert.Contains(t, last, `"type":"image"`)
	assert.Contains(t, last, png)
	assert.Contains(t, last, "What is this?")
}
