package claude

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
)

// fakeRun is one test's fake CLI: the scenario, where the fake records
// what it saw, and the session's cwd.
type fakeRun struct {
	t   *testing.T
	dir string // the fake's records
	cwd string
	b   *Backend
}

// newFakeRun prepares scenario (a file in testdata/claude) for a test.
func newFakeRun(t *testing.T, scenario string, tweak func(*Config)) *fakeRun {
	t.Helper()
	usedScenarios.Store(scenario, true)
	exe, err := os.Executable()
	require.NoError(t, err)
	script, err := filepath.Abs(filepath.Join("..", "..", "testdata", "claude", scenario+".jsonl"))
	require.NoError(t, err)
	require.FileExists(t, script)
	f := &fakeRun{t: t, dir: t.TempDir(), cwd: t.TempDir()}
	cfg := Config{
		Path:         exe,
		Grace:        2 * time.Second,
		Watchdog:     time.Minute,
		startTimeout: 10 * time.Second,
		env: []string{
			fakeScriptEnv + "=" + script, fakeDirEnv + "=" + f.dir,
			// A race-enabled fake would sleep a second at exit.
			"GORACE=" + strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
		},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	f.b = New(cfg, testLogger(t))
	t.Cleanup(f.assertNothingLeft)
	return f
}

// open opens a conn in the run's cwd; it is closed when the test ends.
func (f *fakeRun) open(opts backends.Options) *conn {
	f.t.Helper()
	opts.Cwd = f.cwd
	c, err := f.b.Open(context.Background(), opts)
	require.NoError(f.t, err)
	f.t.Cleanup(func() { assert.NoError(f.t, c.Close(context.Background())) })
	return c.(*conn)
}

// assertNothingLeft checks that every process the fake started, and its
// group, is gone. It runs after the conn's Close (cleanups run in reverse).
func (f *fakeRun) assertNothingLeft() {
	for _, start := range readRecords(f.t, f.dir, "starts.jsonl") {
		pid := int(start["pid"].(float64))
		assert.False(f.t, groupAlive(pid), "process group %d still alive", pid)
	}
}

func (f *fakeRun) starts() []map[string]any { return readRecords(f.t, f.dir, "starts.jsonl") }

// testLogger logs to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

func query(t *testing.T, c *conn, ctx context.Context, prompt string, sink *fakeSink) (backends.Result, error) {
	t.Helper()
	return c.Query(ctx, backends.Turn{Prompt: backends.TextPrompt(prompt)}, sink)
}

func TestStreamTwoTurnsInOneProcess(t *testing.T) {
	t.Setenv("CLAUDECODE", "1") // must not reach the CLI
	f := newFakeRun(t, "stream", nil)
	c := f.open(backends.Options{
		SessionID: "s1", Model: "claude-fake", PermissionMode: "default",
		SystemPrompt: "-be brief", AppendSystemPrompt: "extra", MaxTurns: 4,
		AllowedTools: []string{"Read", "Bash(git log:*)"}, DisallowedTools: []string{"WebFetch"},
	})

	sink := &fakeSink{}
	res, err := query(t, c, context.Background(), "Say hello", sink)
	require.NoError(t, err)
	assert.Equal(t, []string{"thinking:Let me think.", "token:Hello", "token:, wörld"}, sink.events,
		"deltas once each; the complete assistant frames add nothing")
	assert.Equal(t, backends.Result{
		StopReason: backends.StopEndTurn,
		Usage:      backends.Usage{InputTokens: 50, OutputTokens: 33, CacheReadTokens: 3, CacheWriteTokens: 7},
		CostUSD:    0.25, NumTurns: 1, BackendSessionID: "fake-session-1",
	}, res)

	sink2 := &fakeSink{}
	res, err = query(t, c, context.Background(), "Again", sink2)
	require.NoError(t, err)
	assert.Equal(t, "Again", sink2.tokens.String())
	assert.Equal(t, backends.StopMaxTokens, res.StopReason)
	assert.InDelta(t, 0.5, res.CostUSD, 1e-9, "the CLI's cost is cumulative; the turn's is the difference")

	starts := f.starts()
	require.Len(t, starts, 1, "both turns in one process")
	assert.Equal(t, []string{
		"--output-format", "stream-json", "--verbose", "--input-format", "stream-json",
		"--include-partial-messages", "--permission-prompt-tool", "stdio",
		"--model=claude-fake", "--permission-mode=default", "--system-prompt=-be brief",
		"--append-system-prompt=extra", "--allowedTools=Read,Bash(git log:*)", "--disallowedTools=WebFetch",
		"--max-turns=4",
	}, stringsOf(starts[0]["args"]))
	assert.Equal(t, f.cwd, starts[0]["cwd"])
	assert.Equal(t, "tether", starts[0]["entrypoint"])
	assert.Equal(t, false, starts[0]["claudecode"])

	prompts := readRecords(t, f.dir, "prompts.jsonl")
	require.Len(t, prompts, 2)
	assert.Equal(t, "Say hello", prompts[0]["content"])
	assert.Equal(t, "user", prompts[0]["role"])
}

func TestPermission(t *testing.T) {
	for _, tc := range []struct {
		name     string
		decision backends.Decision
		want     map[string]any // the control_response's response
		summary  string
		isError  bool
	}{
		{
			name:     "allow",
			decision: backends.Decision{Allow: true},
			want: map[string]any{"behavior": "allow",
				"updatedInput": map[string]any{"command": "touch marker.txt", "description": "Create the marker"}},
			summary: "touch marker.txt (no output)",
		},
		{
			name:     "allow and remember",
			decision: backends.Decision{Allow: true, Remember: true},
			want: map[string]any{"behavior": "allow",
				"updatedInput": map[string]any{"command": "touch marker.txt", "description": "Create the marker"},
				"updatedPermissions": []any{map[string]any{"type": "addRules", "behavior": "allow", "destination": "session",
					"rules": []any{map[string]any{"toolName": "Bash", "ruleContent": "touch marker.txt"}}}}},
			summary: "touch marker.txt (no output)",
		},
		{
			name:     "deny",
			decision: backends.Decision{Reason: "not today"},
			want:     map[string]any{"behavior": "deny", "message": "not today"},
			summary:  "touch marker.txt: error: not today",
			isError:  true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeRun(t, "permission", nil)
			c := f.open(backends.Options{SessionID: "s1"})
			sink := &fakeSink{onAsk: func(backends.PermissionRequest) (backends.Decision, bool) { return tc.decision, true }}
			res, err := query(t, c, context.Background(), "make a marker", sink)
			require.NoError(t, err)
			assert.Equal(t, backends.StopEndTurn, res.StopReason)
			assert.Equal(t, 2, res.NumTurns)

			require.Len(t, sink.asks, 1)
			ask := sink.asks[0]
			assert.Equal(t, "Bash", ask.ToolName)
			assert.Equal(t, "toolu_1", ask.ToolUseID)
			assert.JSONEq(t, `{"command":"touch marker.txt","description":"Create the marker"}`, string(ask.ToolInput))
			assert.Contains(t, string(ask.Suggestions), `"destination":"localSettings"`, "suggestions reach the editor as the CLI sent them")
			assert.Equal(t, []toolResultEvent{{"toolu_1", "Bash", tc.summary, tc.isError}}, sink.results)
			assert.Equal(t, "Done.", sink.tokens.String(), "text sent only as a frame still arrives")
			assert.Equal(t, "toolUse:toolu_1:Bash", sink.events[0])

			require.NoError(t, c.Close(context.Background()))
			responses := readRecords(t, f.dir, "responses.jsonl")
			require.Len(t, responses, 1)
			resp := responses[0]["response"].(map[string]any)
			assert.Equal(t, "cli-req-1", resp["request_id"])
			assert.Equal(t, tc.want, resp["response"])
		})
	}
}

func TestCancelMidStream(t *testing.T) {
	f := newFakeRun(t, "interrupt", nil)
	c := f.open(backends.Options{SessionID: "s1"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &fakeSink{onToken: func(string) { cancel() }}
	res, err := query(t, c, ctx, "talk", sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopCancelled, res.StopReason)
	assert.Equal(t, "Hel", sink.tokens.String(), "the flushed partial frame is not sent again")

	sink2 := &fakeSink{}
	res, err = query(t, c, context.Background(), "again", sink2)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, "after", sink2.tokens.String())
	assert.Len(t, f.starts(), 1, "an interrupt keeps the process")

	requests := readRecords(t, f.dir, "requests.jsonl")
	require.Len(t, requests, 2)
	assert.Equal(t, "interrupt", requests[1]["request"].(map[string]any)["subtype"])
}

func TestCancelWhilePermissionPending(t *testing.T) {
	f := newFakeRun(t, "interrupt-permission", nil)
	c := f.open(backends.Options{SessionID: "s1"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sink := &fakeSink{onAsk: func(backends.PermissionRequest) (backends.Decision, bool) {
		cancel() // the user gives up instead of answering
		return backends.Decision{}, false
	}}
	res, err := query(t, c, ctx, "write a file", sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopCancelled, res.StopReason)
	assert.Contains(t, sink.events, "withdraw:perm-1:cancelled")
	assert.Empty(t, sink.results, "the tool never ran")

	require.NoError(t, c.Close(context.Background()))
	responses := readRecords(t, f.dir, "responses.jsonl")
	require.Len(t, responses, 1)
	resp := responses[0]["response"].(map[string]any)
	assert.Equal(t, "cli-req-1", resp["request_id"])
	assert.Equal(t, "deny", resp["response"].(map[string]any)["behavior"])
}

func TestCLICancelsItsPermissionRequest(t *testing.T) {
	f := newFakeRun(t, "cancel-request", nil)
	c := f.open(backends.Options{SessionID: "s1"})
	sink := &fakeSink{} // never answers
	res, err := query(t, c, context.Background(), "clean", sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, []string{"ask:perm-1:Bash", "withdraw:perm-1:cancelled by claude", "token:Never mind."}, sink.events)
}

func TestCrashMidStreamThenResume(t *testing.T) {
	f := newFakeRun(t, "crash", nil)
	c := f.open(backends.Options{SessionID: "s1"})

	sink := &fakeSink{}
	_, err := query(t, c, context.Background(), "go", sink)
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.Contains(t, err.Error(), "exit status 3")
	assert.Contains(t, err.Error(), "the fake claude crashed on purpose", "the stderr tail explains")
	assert.Equal(t, "partial", sink.tokens.String())

	sink2 := &fakeSink{}
	res, err := query(t, c, context.Background(), "go on", sink2)
	require.NoError(t, err)
	assert.Equal(t, "resumed", sink2.tokens.String())
	assert.Equal(t, "fake-session-1", res.BackendSessionID)

	starts := f.starts()
	require.Len(t, starts, 2)
	assert.Contains(t, stringsOf(starts[1]["args"]), "--resume=fake-session-1")
	assert.Equal(t, f.cwd, starts[1]["cwd"])
}

func TestHugeLine(t *testing.T) {
	f := newFakeRun(t, "hugeline", nil)
	c := f.open(backends.Options{SessionID: "s1"})
	sink := &fakeSink{}
	res, err := query(t, c, context.Background(), "a lot", sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, 64<<20-1024+len("after"), sink.tokens.Len())
	assert.Equal(t, []string{"token:<67107840 bytes>", "token:after"}, sink.events)
	require.Len(t, sink.progress, 1)
	assert.Contains(t, sink.progress[0], "over the 64 MiB limit; skipped")
}

func TestGarbageIsSkipped(t *testing.T) {
	f := newFakeRun(t, "garbage", nil)
	c := f.open(backends.Options{SessionID: "s1"})
	sink := &fakeSink{}
	res, err := query(t, c, context.Background(), "hi", sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, []string{"token:still here"}, sink.events)
}

func TestUnknownControlRequestIsRefused(t *testing.T) {
	f := newFakeRun(t, "unknown-control", nil)
	c := f.open(backends.Options{SessionID: "s1"})
	sink := &fakeSink{}
	res, err := query(t, c, context.Background(), "hi", sink)
	require.NoError(t, err, "the fake goes on only after an error reply")
	assert.Equal(t, backends.StopEndTurn, res.StopReason)
	assert.Equal(t, "ok", sink.tokens.String())

	responses := readRecords(t, f.dir, "responses.jsonl")
	require.Len(t, responses, 1)
	resp := responses[0]["response"].(map[string]any)
	assert.Equal(t, "error", resp["subtype"])
	assert.Equal(t, "cli-req-9", resp["request_id"])
	assert.Contains(t, resp["error"], "elicitation")
}

func TestStopLadderKillsWhatIgnoresSIGTERM(t *testing.T) {
	const grace = 200 * time.Millisecond
	f := newFakeRun(t, "ignore-sigterm", func(cfg *Config) { cfg.Grace = grace })
	c := f.open(backends.Options{SessionID: "s1"})
	_, err := query(t, c, context.Background(), "hi", &fakeSink{})
	require.NoError(t, err)
	p := c.proc

	start := time.Now()
	require.NoError(t, c.Close(context.Background()))
	assert.GreaterOrEqual(t, time.Since(start), 2*grace, "stdin closed, grace, SIGTERM, grace, then SIGKILL")
	assert.False(t, groupAlive(p.pid))
	assert.Equal(t, "signal: killed", p.exitStatus())
}

func TestGrandchildDiesWithTheGroup(t *testing.T) {
	f := newFakeRun(t, "grandchild", func(cfg *Config) { cfg.Grace = time.Second })
	c := f.open(backends.Options{SessionID: "s1"})
	_, err := query(t, c, context.Background(), "hi", &fakeSink{})
	require.NoError(t, err)
	pidText, err := os.ReadFile(filepath.Join(f.dir, "grandchild.pid"))
	require.NoError(t, err)
	grandchild, err := strconv.Atoi(string(pidText))
	require.NoError(t, err)
	require.True(t, processAlive(grandchild))
	pgid := c.proc.pid

	done := make(chan error, 1)
	go func() { done <- c.Close(context.Background()) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("Close hangs on a grandchild holding stdout")
	}
	assert.False(t, processAlive(grandchild), "grandchild %d survived", grandchild)
	assert.False(t, groupAlive(pgid))
}

func TestWatchdogThenResume(t *testing.T) {
	f := newFakeRun(t, "hang", func(cfg *Config) {
		cfg.Watchdog = 500 * time.Millisecond
		cfg.Grace = 100 * time.Millisecond
	})
	c := f.open(backends.Options{SessionID: "s1"})
	sink := &fakeSink{}
	_, err := query(t, c, context.Background(), "go", sink)
	require.ErrorIs(t, err, backends.ErrFailed)
	require.ErrorContains(t, err, "no output")
	assert.Equal(t, "started", sink.tokens.String())

	sink2 := &fakeSink{}
	_, err = query(t, c, context.Background(), "go on", sink2)
	require.NoError(t, err)
	assert.Equal(t, "back", sink2.tokens.String())
	starts := f.starts()
	require.Len(t, starts, 2)
	assert.Contains(t, stringsOf(starts[1]["args"]), "--resume=fake-session-1")
}

func TestResultErrorKeepsTheProcess(t *testing.T) {
	f := newFakeRun(t, "result-error", nil)
	c := f.open(backends.Options{SessionID: "s1"})
	_, err := query(t, c, context.Background(), "go", &fakeSink{})
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.ErrorContains(t, err, "API Error: 400 bad request")

	sink := &fakeSink{}
	res, err := query(t, c, context.Background(), "go on", sink)
	require.NoError(t, err)
	assert.Equal(t, backends.StopMaxTurns, res.StopReason, "max turns is a stop, not a failure")
	assert.Equal(t, 3, res.NumTurns)
	assert.Equal(t, "fine now", sink.tokens.String())
	assert.Len(t, f.starts(), 1)
}

func TestSwitchModelAndPermissionMode(t *testing.T) {
	f := newFakeRun(t, "switch", nil)
	c := f.open(backends.Options{SessionID: "s1", Model: "model-a", PermissionMode: "default"})
	for range 2 {
		_, err := c.Query(context.Background(), backends.Turn{Prompt: backends.TextPrompt("hi"), Model: "model-b", PermissionMode: "plan"}, &fakeSink{})
		require.NoError(t, err)
	}
	require.NoError(t, c.Close(context.Background()))

	var got []map[string]any
	for _, r := range readRecords(t, f.dir, "requests.jsonl") {
		got = append(got, r["request"].(map[string]any))
	}
	assert.Equal(t, []map[string]any{
		{"subtype": "initialize", "hooks": nil},
		{"subtype": "set_model", "model": "model-b"},
		{"subtype": "set_permission_mode", "mode": "plan"},
	}, got, "switched once, by control request")
	starts := f.starts()
	require.Len(t, starts, 1)
	assert.Contains(t, stringsOf(starts[0]["args"]), "--model=model-a")
}

func TestStartFailure(t *testing.T) {
	f := newFakeRun(t, "start-fail", nil)
	_, err := f.b.Open(context.Background(), backends.Options{SessionID: "s1", Cwd: f.cwd})
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.ErrorContains(t, err, "exit status 1")
	assert.ErrorContains(t, err, "unknown option '--frobnicate'")
}

func TestUnavailable(t *testing.T) {
	t.Setenv(pathEnv, "")
	b := New(Config{Path: filepath.Join(t.TempDir(), "no-claude")}, nil)
	ok, detail := b.Available()
	assert.False(t, ok)
	assert.Contains(t, detail, "npm install -g @anthropic-ai/claude-code")
	_, err := b.Open(context.Background(), backends.Options{Cwd: t.TempDir()})
	assert.ErrorIs(t, err, backends.ErrUnavailable)

	exe, err := os.Executable()
	require.NoError(t, err)
	t.Setenv(pathEnv, exe)
	ok, detail = New(Config{}, nil).Available()
	assert.True(t, ok)
	assert.Contains(t, detail, exe, "found through "+pathEnv)
}

// processAlive reports whether pid runs (a zombie does not).
func processAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	state, _, ok := parseProcStat(stat)
	return ok && state != 'Z' && state != 'X'
}

func TestResumeOfALostConversationStartsAfresh(t *testing.T) {
	f := newFakeRun(t, "resume-missing", nil)
	c := f.open(backends.Options{SessionID: "s1"})
	_, err := query(t, c, context.Background(), "one", &fakeSink{})
	require.ErrorIs(t, err, backends.ErrFailed)

	_, err = query(t, c, context.Background(), "two", &fakeSink{})
	require.ErrorIs(t, err, backends.ErrFailed)
	assert.ErrorContains(t, err, "No conversation found with session ID: fake-session-1")
	assert.ErrorContains(t, err, "the next query starts a new conversation")

	sink := &fakeSink{}
	_, err = query(t, c, context.Background(), "three", sink)
	require.NoError(t, err)
	assert.Equal(t, "fresh", sink.tokens.String())
	starts := f.starts()
	require.Len(t, starts, 3)
	assert.Contains(t, stringsOf(starts[1]["args"]), "--resume=fake-session-1")
	for _, a := range stringsOf(starts[2]["args"]) {
		assert.NotContains(t, a, "--resume")
	}
}

// The watchdog measures the CLI's silence, not time Tether spends blocked
// on a slow editor: a sink that holds the first token for three watchdog
// periods must not get a healthy CLI killed.
func TestWatchdogIgnoresASlowEditor(t *testing.T) {
	const watchdog = 200 * time.Millisecond
	f := newFakeRun(t, "stream", func(cfg *Config) { cfg.Watchdog = watchdog })
	c := f.open(backends.Options{SessionID: "s1"})
	first := true
	sink := &fakeSink{onToken: func(string) {
		if first {
			first = false
			<-time.After(3 * watchdog) // the editor is slow to read
		}
	}}
	_, err := query(t, c, context.Background(), "Say hello", sink)
	require.NoError(t, err)
	assert.Len(t, f.starts(), 1, "the CLI was not restarted")
}

// The watchdog is not moved for each line the CLI writes; a turn that
// streams for several watchdog periods, never silent for one, runs to its
// end all the same.
func TestWatchdogLetsASteadyStreamRun(t *testing.T) {
	f := newFakeRun(t, "steady", func(cfg *Config) { cfg.Watchdog = 200 * time.Millisecond })
	c := f.open(backends.Options{SessionID: "s1"})
	sink := &fakeSink{}
	_, err := query(t, c, context.Background(), "go", sink)
	require.NoError(t, err)
	assert.Equal(t, "01234567", sink.tokens.String())
	assert.Len(t, f.starts(), 1, "the CLI was not restarted")
}

// An idle session's process is stopped (Suspend) and the next query starts
// a new one that resumes the conversation.
func TestSuspendStopsTheProcessAndTheNextQueryResumes(t *testing.T) {
	f := newFakeRun(t, "idle-resume", nil)
	c := f.open(backends.Options{SessionID: "s1"})
	_, err := query(t, c, context.Background(), "Say hello", &fakeSink{})
	require.NoError(t, err)
	pgid := c.proc.pid
	require.True(t, c.Running())

	require.NoError(t, c.Suspend(context.Background()))
	assert.False(t, c.Running())
	assert.False(t, groupAlive(pgid), "the CLI's process group is gone")

	sink := &fakeSink{}
	_, err = query(t, c, context.Background(), "go on", sink)
	require.NoError(t, err)
	assert.Equal(t, "resumed", sink.tokens.String())
	starts := f.starts()
	require.Len(t, starts, 2)
	assert.Contains(t, stringsOf(starts[1]["args"]), "--resume=fake-session-1", "the conversation goes on")
}
