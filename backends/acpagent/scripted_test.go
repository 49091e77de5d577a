package acpagent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/internal/testenv"
	"github.com/tether-dev/tether/supervisor"
)

// TestMain lets the supervisor's janitor run from this test binary, as
// every binary that starts supervised children must.
func TestMain(m *testing.M) {
	supervisor.RunJanitorIfAsked()
	os.Exit(m.Run())
}

// guard bounds every wait of a test; it never paces one.
const guard = 30 * time.Second

// scriptedCommand is the command line of testdata/acp/agent.mjs: Node
// (testdeps' Node 22 when installed, else node on PATH) and the script.
// Without Node or the SDK the test is skipped, or fails under CI.
func scriptedCommand(t testing.TB) (node, script string) {
	t.Helper()
	root := testenv.ModuleRoot(t)
	nm := testenv.NodeModules(t)
	if _, err := os.Stat(filepath.Join(nm, "@agentclientprotocol", "sdk")); err != nil {
		testenv.MissingInCI(t, "the ACP SDK is not installed in testdeps (run npm ci --prefix testdeps)")
	}
	node = filepath.Join(nm, ".bin", "node")
	if _, err := os.Stat(node); err != nil {
		if node, err = exec.LookPath("node"); err != nil {
			testenv.MissingInCI(t, "node is not installed")
		}
	}
	return node, filepath.Join(root, "testdata", "acp", "agent.mjs")
}

// scripted is a scripted agent behind a Backend, and what it records.
type scripted struct {
	*Backend
	record string // $ACP_AGENT_RECORD
	state  string // $ACP_AGENT_STATE
}

type scriptedOption func(*Agent, *Config)

func withConfig(f func(*Config)) scriptedOption {
	return func(_ *Agent, c *Config) { f(c) }
}

// newScripted returns the backend of agent.mjs running scenario, its
// messages recorded, its sessions kept in a state file (so a restarted
// agent can reload them). Cleanup checks that no process of it is left.
func newScripted(t *testing.T, scenario string, opts ...scriptedOption) *scripted {
	t.Helper()
	node, script := scriptedCommand(t)
	dir := t.TempDir()
	s := &scripted{record: filepath.Join(dir, "record.jsonl"), state: filepath.Join(dir, "state.json")}
	a := Agent{
		Name: "scripted", Command: node, Args: []string{script, scenario}, From: "test",
		Env: map[string]string{"ACP_AGENT_RECORD": s.record, "ACP_AGENT_STATE": s.state},
	}
	cfg := Config{StartTimeout: guard, Grace: 2 * time.Second}
	for _, o := range opts {
		o(&a, &cfg)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.Backend = NewAgent(a, cfg, log)
	live := supervisor.Live()
	t.Cleanup(func() {
		if n := supervisor.Live(); n != live {
			t.Errorf("%d agent processes still live after the test", n-live)
		}
	})
	return s
}

// testWriter sends logs to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// open opens a session in a temp dir, closed at cleanup.
func (s *scripted) open(t *testing.T, opts backends.Options) *conn {
	t.Helper()
	if opts.Cwd == "" {
		opts.Cwd = t.TempDir()
	}
	if opts.SessionID == "" {
		opts.SessionID = "s-" + fmt.Sprint(time.Now().UnixNano())
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := s.Open(ctx, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close(context.Background())) })
	return c.(*conn)
}

// recorded is one message the agent received.
type recorded struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
}

// received lists what the agent received so far, in order.
func (s *scripted) received(t testing.TB) []recorded {
	t.Helper()
	f, err := os.Open(s.record)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var out []recorded
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r recorded
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r), "record line %q", sc.Text())
		out = append(out, r)
	}
	return out
}

// methods lists the methods the agent received (requests and
// notifications), in order.
func (s *scripted) methods(t testing.TB) []string {
	var out []string
	for _, r := range s.received(t) {
		if r.Method != "" {
			out = append(out, r.Method)
		}
	}
	return out
}

// last is the params of the last message of method the agent received.
func (s *scripted) last(t testing.TB, method string) json.RawMessage {
	t.Helper()
	var params json.RawMessage
	for _, r := range s.received(t) {
		if r.Method == method {
			params = r.Params
		}
	}
	require.NotNil(t, params, "the agent received no %s", method)
	return params
}

// answers lists Tether's answers to the agent's requests (results), in
// order, in canonical JSON (keys sorted).
func (s *scripted) answers(t testing.TB) []string {
	var out []string
	for _, r := range s.received(t) {
		if r.Method == "" && r.Result != nil {
			var v any
			require.NoError(t, json.Unmarshal(r.Result, &v))
			b, err := json.Marshal(v)
			require.NoError(t, err)
			out = append(out, string(b))
		}
	}
	return out
}

// query runs one prompt with a fresh sink and a guard on its time.
func query(t *testing.T, c backends.Conn, prompt string, sink *recSink) (backends.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	return c.Query(ctx, backends.Turn{Prompt: backends.TextPrompt(prompt)}, sink)
}

// recSink records a turn's events. Sink methods run on the Query
// goroutine; the test reads under mu, or after Query returned. Permission
// requests are answered by decide when it is set, else held until the
// test answers them (asked tells it of each).
type recSink struct {
	mu       sync.Mutex
	events   []string
	tokens   strings.Builder
	thinking strings.Builder
	uses     []backends.ToolUse
	results  []backends.ToolResult
	plans    [][]backends.PlanEntry
	usage    []backends.ContextUsage
	commands [][]backends.Command
	progress []string
	asks     []backends.PermissionRequest
	held     map[string]chan backends.Decision
	n        int

	decide func(backends.PermissionRequest) (backends.Decision, bool)
	asked  chan string // ids of held requests
	// onToken runs after each token, on the Query goroutine.
	onToken func(text string)
}

var _ backends.Sink = (*recSink)(nil)

func newSink() *recSink {
	return &recSink{held: make(map[string]chan backends.Decision), asked: make(chan string, 16)}
}

func (s *recSink) note(e string) {
	s.mu.Lock()
	s.events = append(s.events, e)
	s.mu.Unlock()
}

func (s *recSink) Token(text string) {
	s.mu.Lock()
	s.tokens.WriteString(text)
	s.mu.Unlock()
	if s.onToken != nil {
		s.onToken(text)
	}
}

func (s *recSink) Thinking(text string) {
	s.mu.Lock()
	s.thinking.WriteString(text)
	s.mu.Unlock()
}

func (s *recSink) ToolUse(u backends.ToolUse) {
	s.mu.Lock()
	s.uses = append(s.uses, u)
	s.mu.Unlock()
	s.note("toolUse:" + u.ID)
}

func (s *recSink) ToolResult(r backends.ToolResult) {
	s.mu.Lock()
	s.results = append(s.results, r)
	s.mu.Unlock()
	s.note("toolResult:" + r.ID)
}

func (s *recSink) Plan(p []backends.PlanEntry) {
	s.mu.Lock()
	s.plans = append(s.plans, p)
	s.mu.Unlock()
}

func (s *recSink) Usage(u backends.ContextUsage) {
	s.mu.Lock()
	s.usage = append(s.usage, u)
	s.mu.Unlock()
}

func (s *recSink) Commands(c []backends.Command) {
	s.mu.Lock()
	s.commands = append(s.commands, c)
	s.mu.Unlock()
}

func (s *recSink) Progress(detail string) {
	s.mu.Lock()
	s.progress = append(s.progress, detail)
	s.mu.Unlock()
}

func (s *recSink) AskPermission(req backends.PermissionRequest) backends.Permission {
	s.mu.Lock()
	s.n++
	id := fmt.Sprintf("perm-%d", s.n)
	s.asks = append(s.asks, req)
	ch := make(chan backends.Decision, 1)
	s.mu.Unlock()
	s.note("ask:" + id + ":" + req.ToolUseID)
	if s.decide != nil {
		if d, ok := s.decide(req); ok {
			ch <- d
			return backends.Permission{ID: id, Decision: ch}
		}
	}
	s.mu.Lock()
	s.held[id] = ch
	s.mu.Unlock()
	s.asked <- id
	return backends.Permission{ID: id, Decision: ch}
}

// answer decides a held request.
func (s *recSink) answer(id string, d backends.Decision) {
	s.mu.Lock()
	ch := s.held[id]
	delete(s.held, id)
	s.mu.Unlock()
	if ch != nil {
		ch <- d
	}
}

func (s *recSink) WithdrawPermission(requestID, reason string) {
	s.note("withdraw:" + requestID + ":" + reason)
	s.answer(requestID, backends.Decision{Reason: reason})
}

func (s *recSink) CallTool(context.Context, backends.ToolCall) (backends.ToolCallResult, error) {
	return backends.ToolCallResult{}, fmt.Errorf("ACP agents run their own tools")
}

func (s *recSink) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens.String()
}

// backgroundGuard is a context that ends at the test's end or after guard.
func backgroundGuard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	t.Cleanup(cancel)
	return ctx
}
