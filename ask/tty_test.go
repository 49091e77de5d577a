package ask

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/testenv"
)

// askTmux is tether ask running on a terminal: the one pane of a tmux
// server of its own (its own socket), which the test reads with
// capture-pane and types into with send-keys.
type askTmux struct {
	t        *testing.T
	tmux     string
	sock     string
	exitFile string // where the helper writes its exit code
}

// startAskInTmux runs tether ask with args in a fresh tmux server. The
// pane stays after ask exits (remain-on-exit), so its last screen and exit
// status can be read. Cleanup kills the server.
func startAskInTmux(t *testing.T, mark string, args ...string) *askTmux {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		testenv.MissingInCI(t, "tmux not found: install it (apt-get install tmux; scripts/test.sh does when run as root) to test tether ask on a terminal")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	require.NoError(t, os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -g history-limit 10000\n"), 0o644))
	wd, err := os.Getwd()
	require.NoError(t, err)
	a := &askTmux{t: t, tmux: tmux, sock: filepath.Join(dir, "s"), exitFile: filepath.Join(dir, "exit")}
	argv, env := askCommand(mark, args...)
	env = append(env, askExitFileEnv+"="+a.exitFile)
	cmd := []string{"-f", conf, "new-session", "-d", "-s", "ask", "-x", "200", "-y", "50", "-c", wd}
	for _, e := range env {
		cmd = append(cmd, "-e", e)
	}
	a.run(append(cmd, argv...)...)
	t.Cleanup(func() {
		_ = exec.Command(a.tmux, "-S", a.sock, "kill-server").Run()
	})
	return a
}

// run runs a tmux command against this server and returns its output.
func (a *askTmux) run(args ...string) string {
	a.t.Helper()
	out, err := exec.Command(a.tmux, append([]string{"-S", a.sock}, args...)...).CombinedOutput()
	require.NoError(a.t, err, "tmux %q: %s", args, out)
	return string(out)
}

// screen is everything the pane has shown, its scrollback included, with
// wrapped lines joined.
func (a *askTmux) screen() string {
	return a.run("capture-pane", "-p", "-J", "-S", "-", "-t", "ask")
}

// waitFor polls the screen until cond holds, for at most guard: tmux has
// no way to say when a pane has changed, and a bounded poll is the
// simplest correct wait.
func (a *askTmux) waitFor(what string, cond func(screen string) bool) string {
	a.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(guard)
	for {
		s := a.screen()
		if cond(s) {
			return s
		}
		select {
		case <-tick.C:
		case <-deadline:
			a.t.Fatalf("the terminal never showed %s; it shows:\n%s", what, s)
		}
	}
}

// waitExit waits for tether ask to return, and then for the screen to
// show last, its final words (tmux reads the terminal on its own time). It
// returns the exit code and the screen. The code comes from the file the
// helper writes (askExitFileEnv): tmux was seen leaving an exited pane's
// process unreaped, and its pane not dead, for seconds.
func (a *askTmux) waitExit(last string) (int, string) {
	a.t.Helper()
	var code int
	a.waitFor("tether ask exiting", func(string) bool {
		b, err := os.ReadFile(a.exitFile)
		if err != nil {
			return false
		}
		code, err = strconv.Atoi(string(b))
		return err == nil
	})
	s := a.waitFor(strconv.Quote(last), func(s string) bool { return strings.Contains(s, last) })
	return code, s
}

// waitGone waits until no process of the run is left, for at most guard,
// and fails naming those that are. The helper writes its exit file just
// before it exits, and under load (the race detector's exit, a busy
// machine) the exit can take a while after that.
func (a *askTmux) waitGone(mark string) {
	a.t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(guard)
	for {
		left := askLeftovers(mark)
		if len(left) == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			a.t.Errorf("processes of the run left after it ended: %v", left)
			return
		}
	}
}

// keys types keys into the pane, as tmux's send-keys names them.
func (a *askTmux) keys(keys ...string) {
	a.run(append([]string{"send-keys", "-t", "ask"}, keys...)...)
}

func TestAskAsksOnTheTerminal(t *testing.T) {
	mark := newAskMark(t)
	a := startAskInTmux(t, mark, "--backend", "mock", strings.Join([]string{
		"Before.",
		`/tool Bash {"command":"ls"}`,
		`/tool Edit {"file":"a.go"}`,
		`/tool Write {"file":"b.go"}`,
		`/tool Write {"file":"b.go"}`,
		`/tool Write {"file":"c.go"}`,
		"After.",
	}, "\n"))
	asked := func(n int) func(string) bool {
		return func(s string) bool { return strings.Count(s, "? [y]es / [n]o / [a]lways allow ") == n }
	}
	a.waitFor("the question about Bash", asked(1))
	a.keys("y", "Enter")
	s := a.waitFor("the question about Edit", asked(2))
	assert.Contains(t, s, `Allow Bash {"command":"ls"}? [y]es / [n]o / [a]lways allow Bash(ls:*): `, "the question says what always allows")
	a.keys("n", "Enter")
	a.waitFor("the question about Write", asked(3))
	a.keys("a", "Enter")
	// Always allows what was asked (Write of b.go) and nothing else.
	a.waitFor("the question about Write of another file", asked(4))
	a.keys("n", "Enter")
	code, s := a.waitExit("[end_turn · ")
	t.Logf("screen:\n%s", s)
	assert.Equal(t, askOK, code)
	assert.Equal(t, 4, strings.Count(s, "? [y]es / [n]o / [a]lways allow "), "always: the same Write was not asked about again, another was")
	assert.Contains(t, s, `[a]lways allow Write({"file":"b.go"}): `)
	assert.Contains(t, s, `Allow Write {"file":"c.go"}?`)
	assert.Contains(t, s, `Allow Edit {"file":"a.go"}?`)
	assert.Contains(t, s, "[tool done] Bash ran (mock result)")
	assert.Contains(t, s, "[tool failed] Edit denied: the user said no")
	assert.Equal(t, 2, strings.Count(s, "[tool done] Write ran (mock result)"))
	assert.Contains(t, s, "Before.")
	assert.Contains(t, s, "After.")
	a.waitGone(mark)
}

func TestAskCtrlCWhileAskingOnTheTerminal(t *testing.T) {
	mark := newAskMark(t)
	a := startAskInTmux(t, mark, "--backend", "mock", "Let me see.\n/tool Bash {\"command\":\"rm -rf build\"}\nnever said")
	a.waitFor("the question", func(s string) bool { return strings.Contains(s, "[a]lways allow Bash(rm:*): ") })
	a.keys("C-c")
	code, s := a.waitExit("tether: cancelled: interrupted")
	t.Logf("screen:\n%s", s)
	assert.Equal(t, askInterrupted, code, "the prompt was woken, the query cancelled")
	assert.Contains(t, s, "tether: cancelled: interrupted")
	assert.Contains(t, s, "[permission] request withdrawn: cancelled")
	assert.NotContains(t, s, "never said")
	a.waitGone(mark)
}

// spinnerLine matches a line the spinner draws: a frame, what the agent
// is doing, the elapsed time.
var spinnerLine = regexp.MustCompile(`^[` + strings.Join(spinnerFrames, "") + `] (.*) · (\d+)s$`)

// spinnerShows reports whether the screen's last non-empty line is the
// spinner saying what, at least at second sec.
func spinnerShows(screen, what string, sec int) bool {
	lines := strings.Split(strings.TrimRight(screen, "\n "), "\n")
	m := spinnerLine.FindStringSubmatch(strings.TrimRight(lines[len(lines)-1], " "))
	if m == nil || m[1] != what {
		return false
	}
	n, _ := strconv.Atoi(m[2])
	return n >= sec
}

func TestAskSpinnerOnTheTerminal(t *testing.T) {
	mark := newAskMark(t)
	retry := "API unreachable, retry 1 of 3 in 8 s: connection refused"
	a := startAskInTmux(t, mark, "--backend", "mock", strings.Join([]string{
		"/progress " + retry,
		"/sleep 1500",
		"Hello from the terminal",
		"/sleep 500",
		"/tokens 2",
	}, "\n"))
	// Until the text starts, the spinner turns with the latest detail and
	// the time since the question was sent.
	s := a.waitFor("the spinner with the retry and a second gone", func(s string) bool { return spinnerShows(s, retry, 1) })
	assert.Contains(t, s, "[status] busy: "+retry, "a detail also gets a line of its own, for the scrollback")
	assert.NotContains(t, s, "[status] starting", "the spinner says what plain status lines would")

	code, s := a.waitExit("[end_turn · ")
	t.Logf("screen:\n%s", s)
	assert.Equal(t, askOK, code)
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, " "); l != "" && !strings.HasPrefix(l, "Pane is dead") {
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, 5)
	assert.Regexp(t, sessionLine, lines[0], "the new session's id comes first")
	assert.Equal(t, "[status] busy: "+retry, lines[1])
	assert.Equal(t, "Hello from the terminal", lines[2], "the spinner was erased when the text started")
	assert.Equal(t, "tok1 tok2", lines[3], "and not drawn again once it had")
	assert.Regexp(t, `^\[end_turn · \d+ in, \d+ out tokens · \d\.\d s\]$`, lines[4], "the answer ended its line before the closing line")
	a.waitGone(mark)
}

func TestAskSpinnerErasedWhenNothingStreams(t *testing.T) {
	mark := newAskMark(t)
	a := startAskInTmux(t, mark, "--backend", "mock", "/sleep 1200\n/stop max_turns")
	a.waitFor("the spinner thinking for a second", func(s string) bool { return spinnerShows(s, "thinking…", 1) })
	code, s := a.waitExit("[max_turns · ")
	t.Logf("screen:\n%s", s)
	assert.Equal(t, askFailed, code)
	lines := strings.SplitN(s, "\n", 3)
	require.Len(t, lines, 3)
	assert.Regexp(t, sessionLine, strings.TrimRight(lines[0], " "))
	assert.Regexp(t, `^\[max_turns · \d+ in, \d+ out tokens · \d\.\d s\]$`, strings.TrimRight(lines[1], " "), "the closing line replaced the spinner on its line")
}

func TestAskCtrlCErasesTheSpinner(t *testing.T) {
	mark := newAskMark(t)
	a := startAskInTmux(t, mark, "--backend", "mock", "/progress waiting for the API\n/sleep 60000\nnever said")
	a.waitFor("the spinner with the detail", func(s string) bool { return spinnerShows(s, "waiting for the API", 0) })
	a.keys("C-c")
	code, s := a.waitExit("tether: cancelled: interrupted")
	t.Logf("screen:\n%s", s)
	assert.Equal(t, askInterrupted, code)
	assert.Contains(t, s, "[interrupted: cancelling; interrupt again to force]")
	assert.NotContains(t, s, "never said")
	for _, l := range strings.Split(s, "\n") {
		assert.NotRegexp(t, spinnerLine, strings.TrimRight(l, " "), "the spinner was erased")
	}
	a.waitGone(mark)
}
