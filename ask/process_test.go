package ask

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/client"
)

// askHelperEnv makes the test binary run tether ask instead of the tests
// (see TestAskHelperProcess).
const askHelperEnv = "TETHER_TEST_ASK_HELPER"

// askMarkEnv is set to a value unique to one test in every tether ask
// process that test starts; every process they start inherits it, so that
// askLeftovers can find any of them still running.
const askMarkEnv = "TETHER_TEST_ASK_MARK"

// TestAskHelperProcess is not a test of its own: it is tether ask, for the
// tests that need it in a process of its own (a real SIGINT, a terminal).
// They run this test binary with askHelperEnv set and ask's arguments
// after "--". It is the process's main but for main's two-line dispatch,
// and is built with the race detector when the tests are.
func TestAskHelperProcess(t *testing.T) {
	if os.Getenv(askHelperEnv) != "1" {
		return
	}
	args := os.Args
	for i, a := range args {
		if a == "--" {
			args = args[i+1:]
			break
		}
	}
	code := Run(args, os.Stdin, os.Stdout, os.Stderr, "test")
	if f := os.Getenv(askExitFileEnv); f != "" {
		_ = os.WriteFile(f, []byte(strconv.Itoa(code)), 0o644)
	}
	os.Exit(code)
}

// askExitFileEnv names a file the helper writes its exit code to once ask
// has returned, for a parent that cannot wait for it (a tmux pane).
const askExitFileEnv = "TETHER_TEST_ASK_EXIT_FILE"

// askCommand is the command line of tether ask with args, and the
// environment that makes the test binary run it, marked with mark.
func askCommand(mark string, args ...string) (argv, env []string) {
	argv = append([]string{os.Args[0], "-test.run=^TestAskHelperProcess$", "--"}, args...)
	// GORACE: a race-enabled binary otherwise sleeps a second at exit.
	return argv, []string{askHelperEnv + "=1", askMarkEnv + "=" + mark, "GORACE=atexit_sleep_ms=0"}
}

func newAskMark(t *testing.T) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	mark := hex.EncodeToString(b)
	t.Cleanup(func() {
		for _, pid := range askLeftovers(mark) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return mark
}

// askLeftovers lists the running processes whose environment carries mark.
func askLeftovers(mark string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(env, []byte(askMarkEnv+"="+mark)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue // a zombie about to be reaped runs nothing
		}
		if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestAskInterruptCancelsTheTurnAndLeavesNothingRunning(t *testing.T) {
	if _, err := os.Stat("/proc/self/environ"); err != nil {
		t.Skip("needs /proc to look for leftover processes")
	}
	mark := newAskMark(t)
	argv, env := askCommand(mark, "--json", "--backend", "mock", "before\n/sleep 60000\nnever")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	// A file, not a buffer: the test reads it while the process may still
	// write, and a file needs no copying goroutine.
	stderr := askStderrFile(t)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait() // after every read from the pipe, as StdoutPipe wants
	}()

	// Interrupt once the turn is well under way: its first token is out.
	var out []string
	deadline := time.After(guard)
	for waiting := true; waiting; {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "tether ask ended before its first token; stderr:\n%s", askRead(stderr))
			out = append(out, l)
			waiting = !strings.Contains(l, `"text":"before"`)
		case <-deadline:
			t.Fatalf("no first token within %v; stderr:\n%s", guard, askRead(stderr))
		}
	}
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	sent := time.Now()
	for l := range lines {
		out = append(out, l)
	}
	var werr error
	select {
	case werr = <-exited:
	case <-time.After(guard):
		t.Fatalf("tether ask did not exit within %v of SIGINT", guard)
	}
	took := time.Since(sent)
	t.Logf("exited %v after SIGINT", took)
	var exit *exec.ExitError
	require.True(t, errors.As(werr, &exit), "exit: %v", werr)
	assert.Equal(t, askInterrupted, exit.ExitCode())
	assert.Equal(t, "tether: cancelled: interrupted", askLastLine(askRead(stderr)))
	assert.Less(t, took, 5*time.Second, "a 60 s sleep was cut short")

	var last askLine
	require.NoError(t, json.Unmarshal([]byte(out[len(out)-1]), &last))
	require.NotNil(t, last.Error, "the last JSON line is the outcome")
	assert.Equal(t, int64(client.CodeRequestCancelled), last.Error.Code)
	assert.Empty(t, askLeftovers(mark), "no process of the run is left")
}

// askStderrFile is a file for a process's stderr.
func askStderrFile(t *testing.T) *os.File {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// askRead reads what was written to f so far.
func askRead(f *os.File) string {
	b, _ := os.ReadFile(f.Name())
	return string(b)
}

// guard bounds every wait of a test, so that a bug shows up as a failure
// naming what was awaited rather than as a hung suite.
const guard = 20 * time.Second

// TestAskSharedPipeKeepsLinesApart runs tether ask as `2>&1 | cat` does:
// stdout and stderr are one pipe. No stderr line may run into the answer's
// unfinished line, and the answer ends with a newline before the closing
// line.
func TestAskSharedPipeKeepsLinesApart(t *testing.T) {
	mark := newAskMark(t)
	argv, env := askCommand(mark, "--backend", "mock", "--allow", "Bash",
		"Hello from a script\n/tool Bash {}\nDone.")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(t, cmd.Start())
	w.Close()
	out := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		out <- b
	}()
	var b []byte
	select {
	case b = <-out:
	case <-time.After(guard):
		_ = cmd.Process.Kill()
		t.Fatalf("tether ask did not finish within %v", guard)
	}
	require.NoError(t, cmd.Wait())
	t.Logf("output:\n%s", b)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	var text []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "[") {
			text = append(text, l)
		}
	}
	// The mock streams "\nDone." after the tool: the newline that ended
	// "Hello from a script" for the tool lines leaves an empty line.
	assert.Equal(t, []string{"Hello from a script", "", "Done."}, text, "every line is text or a line of its own")
	assert.Equal(t, "[tool done] Bash ran (mock result)", lines[len(lines)-4])
	assert.Regexp(t, `^\[end_turn · \d+ in, \d+ out tokens · \d+ ms\]$`, lines[len(lines)-1])
	assert.Empty(t, askLeftovers(mark))
}
