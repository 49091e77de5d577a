package ask

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/tether-dev/tether/client"
	"github.com/tether-dev/tether/protocol"
)

// askRun runs tether ask in-process with stdin, stdout and stderr on
// memory: stdin is no terminal, as in a script.
func askRun(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(args, strings.NewReader(stdin), &out, &errOut, "test")
	t.Logf("tether ask %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, out.String(), errOut.String())
	return code, out.String(), errOut.String()
}

// askLine is one line of --json output, decoded.
type askLine struct {
	Method string                `json:"method"`
	Params json.RawMessage       `json:"params"`
	Result *protocol.QueryResult `json:"result"`
	Error  *struct {
		Code    int64  `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// askJSONLines decodes --json output: every line must be one JSON object.
func askJSONLines(t *testing.T, stdout string) []askLine {
	t.Helper()
	var lines []askLine
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var l askLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &l), "line %q", sc.Text())
		lines = append(lines, l)
	}
	require.NotEmpty(t, lines)
	return lines
}

func TestAskJSONPrintsEveryEventThenTheResult(t *testing.T) {
	code, stdout, stderr := askRun(t, "", "--json", "--backend", "mock", "--session", "mine",
		"hello brave world\n/think pondering\n/tokens 2")
	require.Equal(t, askOK, code)
	assert.Empty(t, stderr, "nothing to say on stderr for a turn that went well")
	lines := askJSONLines(t, stdout)
	var methods []string
	var text strings.Builder
	for _, l := range lines[:len(lines)-1] {
		// Consecutive tokens may come merged, so a run of them is one entry.
		if n := len(methods); n == 0 || l.Method != methods[n-1] || l.Method != protocol.MethodToken {
			methods = append(methods, l.Method)
		}
		var p protocol.TextParams
		require.NoError(t, json.Unmarshal(l.Params, &p))
		assert.Equal(t, "mine", p.SessionID, "--session names the session")
		if l.Method == protocol.MethodToken {
			text.WriteString(p.Text)
		}
	}
	assert.Equal(t, []string{
		"session/status", "session/status",
		"session/token", // 3 tokens
		"session/thinking",
		"session/token", // 2 tokens
		"session/status",
	}, methods)
	last := lines[len(lines)-1]
	require.NotNil(t, last.Result, "the last line is the result")
	assert.Equal(t, "end_turn", last.Result.StopReason)
	assert.Equal(t, "mine", last.Result.SessionID)
	assert.Equal(t, "hello brave world\ntok1 tok2", last.Result.Text)
	assert.Equal(t, last.Result.Text, text.String())
}

func TestAskPrintsTextToStdoutAndTheRestToStderr(t *testing.T) {
	code, stdout, stderr := askRun(t, "", "--backend", "mock", "--allow", "Bash",
		"Let me look.\n/think the user wants a listing\n/tool Bash {\"command\":\"ls\"}\nDone.")
	require.Equal(t, askOK, code)
	assert.Equal(t, "Let me look.\nDone.\n", stdout, "stdout is the assistant's text, and only that")
	for _, want := range []string{
		"[thinking] the user wants a listing",
		`[tool] Bash {"command":"ls"}`,
		"[permission] Bash allowed by --allow",
		"[tool done] Bash ran (mock result)",
		"[status] busy",
	} {
		assert.Contains(t, stderr, want)
	}
}

func TestAskPermissionsWithoutATerminal(t *testing.T) {
	prompt := "/tool Bash {}\n/tool Edit {}\ndone"
	for _, tc := range []struct {
		name  string
		flags []string
		bash  bool // whether Bash ran
		note  string
	}{
		{"allow one tool", []string{"--allow", "Bash"}, true, "[permission] Edit denied: stdin is not a terminal"},
		{"allow a list", []string{"--allow", "Edit, Bash"}, true, "[permission] Edit allowed by --allow"},
		{"deny all", []string{"--deny-all"}, false, "[permission] Bash denied by --deny-all"},
		{"no flag", nil, false, "[permission] Bash denied: stdin is not a terminal to ask on (use --allow Bash or --deny-all)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--json", "--backend", "mock"}, tc.flags...)
			code, stdout, stderr := askRun(t, "", append(args, prompt)...)
			require.Equal(t, askOK, code, "a denied tool does not fail the turn")
			assert.Contains(t, stderr, tc.note)
			var results []protocol.ToolResultParams
			for _, l := range askJSONLines(t, stdout) {
				if l.Method == protocol.MethodToolResult {
					var r protocol.ToolResultParams
					require.NoError(t, json.Unmarshal(l.Params, &r))
					results = append(results, r)
				}
			}
			require.Len(t, results, 2)
			assert.Equal(t, "Bash", results[0].ToolName)
			assert.Equal(t, !tc.bash, results[0].IsError, results[0].Summary)
		})
	}
}

func TestAskExitCodes(t *testing.T) {
	t.Run("end_turn", func(t *testing.T) {
		code, _, stderr := askRun(t, "", "--backend", "mock", "fine")
		assert.Equal(t, askOK, code)
		assert.NotContains(t, stderr, "tether:")
	})
	t.Run("failed turn", func(t *testing.T) {
		code, stdout, stderr := askRun(t, "", "--backend", "mock", "partial\n/fail the model exploded")
		assert.Equal(t, askFailed, code)
		assert.Equal(t, "partial\n", stdout, "what streamed before the failure is still shown")
		assert.Equal(t, "tether: backend failed: the model exploded", askLastLine(stderr), "one line says why")
	})
	t.Run("failed turn, json", func(t *testing.T) {
		code, stdout, _ := askRun(t, "", "--json", "--backend", "mock", "/fail boom")
		assert.Equal(t, askFailed, code)
		lines := askJSONLines(t, stdout)
		last := lines[len(lines)-1]
		require.NotNil(t, last.Error)
		assert.Equal(t, int64(client.CodeBackendFailed), last.Error.Code)
		assert.Contains(t, last.Error.Message, "boom")
	})
	t.Run("other stop reason", func(t *testing.T) {
		code, _, stderr := askRun(t, "", "--backend", "mock", "some\n/stop max_turns")
		assert.Equal(t, askFailed, code)
		assert.Regexp(t, `^\[max_turns · 3 in, 1 out tokens · \d+ ms\]$`, askLastLine(stderr), "the closing line names the stop reason")
		assert.NotContains(t, stderr, "tether:", "and says it once")
	})
	t.Run("other stop reason, quiet", func(t *testing.T) {
		code, _, stderr := askRun(t, "", "--quiet", "--backend", "mock", "some\n/stop max_turns")
		assert.Equal(t, askFailed, code)
		assert.Equal(t, "tether: the turn ended with stop reason max_turns\n", stderr, "without the closing line, one line says why")
	})
	t.Run("bad cwd", func(t *testing.T) {
		code, _, stderr := askRun(t, "", "--backend", "mock", "--cwd", "/does/not/exist", "hi")
		assert.Equal(t, askFailed, code)
		assert.Contains(t, askLastLine(stderr), "cwd")
	})
	for _, args := range [][]string{
		{},
		{"one", "two"},
		{"--allow", "Bash", "--deny-all", "x"},
		{"--backend", "nope", "x"},
		{"--no-such-flag", "x"},
	} {
		t.Run("usage "+strings.Join(args, " "), func(t *testing.T) {
			code, stdout, _ := askRun(t, "", args...)
			assert.Equal(t, askUsageError, code)
			assert.Empty(t, stdout)
		})
	}
}

func TestAskReadsThePromptFromStdin(t *testing.T) {
	code, stdout, _ := askRun(t, "from a pipe\n/tokens 2\n", "--backend", "mock", "-")
	require.Equal(t, askOK, code)
	assert.Equal(t, "from a pipe\ntok1 tok2\n", stdout)
}

func TestAskCwdIsMadeAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	require.NoError(t, os.Mkdir("sub", 0o755))
	code, _, stderr := askRun(t, "", "--backend", "mock", "--cwd", "sub", "hi")
	assert.Equal(t, askOK, code, stderr)
}

func askLastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestAskLeavesNoGoroutine(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	code, _, _ := askRun(t, "", "--backend", "mock", "--allow", "Bash", "a\n/tool Bash {}\n/calltool x {}\n/sleep 5\nb")
	require.Equal(t, askOK, code)
	goleak.VerifyNone(t, ignore)
}

func TestAskReportsAFailureOnce(t *testing.T) {
	t.Run("mock", func(t *testing.T) {
		code, stdout, stderr := askRun(t, "", "--backend", "mock", "Hello\n/fail the model exploded")
		assert.Equal(t, askFailed, code)
		assert.Equal(t, "Hello\n", stdout)
		assert.Equal(t, 1, strings.Count(stderr, "the model exploded"), "no status line, log line or closing line repeats it")
		assert.Equal(t, "tether: backend failed: the model exploded", askLastLine(stderr))
	})
	t.Run("openai, nothing listening", func(t *testing.T) {
		// The backend logs the failure as a warning for servers' logs;
		// tether ask shows it once, as its last line.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		base := "http://" + l.Addr().String() + "/v1"
		require.NoError(t, l.Close())
		code, _, stderr := askRun(t, "", "--backend", "openai", "--openai-base-url", base, "hi")
		assert.Equal(t, askFailed, code)
		assert.Equal(t, 1, strings.Count(stderr, "connection refused"), "said once")
		assert.Contains(t, askLastLine(stderr), "tether: backend failed: openai: cannot connect to "+base)
	})
}

func TestAskStatusAndClosingLines(t *testing.T) {
	prompt := "/progress compacting the conversation\nHello\n/tokens 2"
	t.Run("default", func(t *testing.T) {
		code, stdout, stderr := askRun(t, "", "--backend", "mock", prompt)
		require.Equal(t, askOK, code)
		assert.Equal(t, "Hello\ntok1 tok2\n", stdout)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		require.Len(t, lines, 5, stderr)
		assert.Regexp(t, sessionLine, lines[0], "first, the new session's id, to continue it")
		assert.Equal(t, []string{"[status] starting: mock", "[status] busy", "[status] busy: compacting the conversation"}, lines[1:4],
			"status lines, but not idle: the closing line says the turn ended")
		assert.Regexp(t, `^\[end_turn · \d+ in, 3 out tokens · \d+ ms\]$`, lines[4])
	})
	t.Run("quiet", func(t *testing.T) {
		code, stdout, stderr := askRun(t, "", "--quiet", "--backend", "mock", "--allow", "Bash", prompt+"\n/tool Bash {}")
		require.Equal(t, askOK, code)
		assert.Equal(t, "Hello\ntok1 tok2\n", stdout)
		// The permission line comes from another goroutine than the
		// events: its place among them is not fixed.
		assert.ElementsMatch(t, []string{"[permission] Bash allowed by --allow", "[tool] Bash {}", "[tool done] Bash ran (mock result)"},
			strings.Split(strings.TrimSuffix(stderr, "\n"), "\n"), "no status lines and no closing line; what the agent did still shows")
	})
	t.Run("json", func(t *testing.T) {
		code, _, stderr := askRun(t, "", "--json", "--backend", "mock", prompt)
		require.Equal(t, askOK, code)
		assert.Empty(t, stderr, "the result line on stdout says it all")
	})
}

func TestClosingLine(t *testing.T) {
	for _, tc := range []struct {
		res  protocol.QueryResult
		want string
	}{
		{protocol.QueryResult{StopReason: "end_turn", DurationMs: 840}, "[end_turn · 840 ms]"},
		{protocol.QueryResult{StopReason: "end_turn", Usage: protocol.Usage{InputTokens: 12, OutputTokens: 6}, CostUSD: 0.0123, DurationMs: 2400},
			"[end_turn · 12 in, 6 out tokens · $0.0123 · 2.4 s]"},
		{protocol.QueryResult{StopReason: "max_turns", Usage: protocol.Usage{OutputTokens: 900}, CostUSD: 1.5, DurationMs: 185_000},
			"[max_turns · 0 in, 900 out tokens · $1.50 · 3m05s]"},
	} {
		assert.Equal(t, tc.want, closingLine(&tc.res))
	}
}
