package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runBinary runs bin with args, stdin and extra environment (on top of
// startBinary's clean one), and returns its exit code, stdout and stderr.
func runBinary(t *testing.T, bin, stdin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}, env...)
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = guard
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	t.Logf("tether %q: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout.String(), stderr.String())
	return code, stdout.String(), stderr.String()
}

// initializeVersion is the serverInfo.version bin reports to initialize.
func initializeVersion(t *testing.T, bin string) string {
	t.Helper()
	code, stdout, _ := runBinary(t, bin, `{"jsonrpc":"2.0","id":1,"method":"initialize"}`+"\n", nil, "--backend", "mock")
	require.Equal(t, 0, code)
	var reply struct {
		Result struct {
			ServerInfo struct{ Version string } `json:"serverInfo"`
		} `json:"result"`
	}
	require.NoError(t, json.Unmarshal([]byte(strings.SplitN(stdout, "\n", 2)[0]), &reply))
	require.NotEmpty(t, reply.Result.ServerInfo.Version)
	return reply.Result.ServerInfo.Version
}

func TestBinaryHelpVersionAndBadUsage(t *testing.T) {
	bin := tetherBinary(t)
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}, {"ask", "--help"}, {"help", "ask"}, {"version", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runBinary(t, bin, "", nil, args...)
			assert.Equal(t, 0, code)
			assert.Contains(t, stdout, "Usage")
			assert.Empty(t, stderr, "help is not an error")
		})
	}

	version := initializeVersion(t, bin)
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, stdout, stderr := runBinary(t, bin, "", nil, args...)
		assert.Equal(t, 0, code)
		assert.Equal(t, version+"\n", stdout, "%q prints what initialize reports, on stdout", args)
		assert.Empty(t, stderr)
	}

	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"serve"}, nil, `unknown command "serve"`},
		{[]string{"--backend", "mock", "hello"}, nil, `unexpected argument "hello"`},
		{[]string{"--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"ask"}, nil, "want exactly one PROMPT"},
		{[]string{"--openai-base-url", "localhost:11434/v1"}, nil,
			`--openai-base-url "localhost:11434/v1" must start with http:// or https:// (did you mean http://localhost:11434/v1?)`},
		{nil, []string{"OPENAI_BASE_URL=localhost:11434/v1"}, `OPENAI_BASE_URL "localhost:11434/v1" must start with http://`},
		{[]string{"ask", "--backend", "mock", "hi"}, []string{"OPENAI_BASE_URL=localhost:11434/v1"}, `OPENAI_BASE_URL "localhost:11434/v1"`},
	} {
		t.Run(strings.Join(append(tc.env, tc.args...), " "), func(t *testing.T) {
			code, stdout, stderr := runBinary(t, bin, "", tc.env, tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout, "stdout is for the protocol or the answer")
			assert.Contains(t, stderr, tc.want)
		})
	}
	code, _, stderr := runBinary(t, bin, "", nil, "--backend", "mock")
	assert.Equal(t, 0, code)
	assert.NotContains(t, stderr, "tether ask", "stdin is a pipe: a program, which needs no hint")

	code, _, stderr = runBinary(t, bin, "", nil, "hello")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "Commands: ask, ", "an unknown command is answered with the commands")
}

func TestBinaryVersionSetByTheBuild(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "tether")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version=9.8.7-test", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "%s", out)
	code, stdout, _ := runBinary(t, bin, "", nil, "version")
	assert.Equal(t, 0, code)
	assert.Equal(t, "9.8.7-test\n", stdout)
	assert.Equal(t, "9.8.7-test", initializeVersion(t, bin))
}

// A person who types tether at a terminal is told what it is for, and it
// serves all the same: a message typed in is answered, Ctrl-D ends it.
func TestBinaryOnATerminalSaysWhatItIs(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		missingInCI(t, "tmux not found: install it (apt-get install tmux; scripts/test.sh does when run as root) to test tether on a terminal")
	}
	bin := tetherBinary(t)
	dir := t.TempDir()
	sock, exitFile := filepath.Join(dir, "s"), filepath.Join(dir, "exit")
	run := func(args ...string) string {
		out, err := exec.Command(tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		require.NoError(t, err, "tmux %q: %s", args, out)
		return string(out)
	}
	// The exit code goes through a file: tmux may leave an exited pane's
	// process unreaped for a while.
	script := bin + " --backend mock --log-level warn; echo $? > " + exitFile
	conf := filepath.Join(dir, "tmux.conf")
	require.NoError(t, os.WriteFile(conf, []byte("set -g remain-on-exit on\n"), 0o644))
	run("-f", conf, "new-session", "-d", "-s", "t", "-x", "200", "-y", "50", "-c", dir,
		"-e", "HOME="+dir, "-e", "PATH=/usr/bin:/bin", "sh", "-c", script)
	t.Cleanup(func() { _ = exec.Command(tmux, "-S", sock, "kill-server").Run() })
	waitScreen := func(what string, cond func(string) bool) string {
		t.Helper()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		deadline := time.After(guard)
		for {
			s := run("capture-pane", "-p", "-J", "-t", "t")
			if cond(s) {
				return s
			}
			select {
			case <-tick.C:
			case <-deadline:
				t.Fatalf("the terminal never showed %s; it shows:\n%s", what, s)
			}
		}
	}
	s := waitScreen("the hint", func(s string) bool { return strings.Contains(s, "tether ask") })
	assert.Contains(t, s, "tether: reading JSON-RPC messages on stdin", "one line says what it does")
	assert.Contains(t, s, "tether help")
	assert.Equal(t, 1, strings.Count(strings.TrimSpace(s), "\n")+1, "and only one line:\n%s", s)

	run("send-keys", "-t", "t", "-l", `{"jsonrpc":"2.0","id":1,"method":"initialize"}`)
	run("send-keys", "-t", "t", "Enter")
	waitScreen("the answer", func(s string) bool { return strings.Contains(s, `"serverInfo"`) })
	run("send-keys", "-t", "t", "C-d")
	var code string
	waitScreen("tether exiting", func(string) bool {
		b, err := os.ReadFile(exitFile)
		code = strings.TrimSpace(string(b))
		return err == nil && code != ""
	})
	assert.Equal(t, "0", code, "the end of input after the answer: exit 0")
}
