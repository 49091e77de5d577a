package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/testenv"
	"github.com/tether-dev/tether/rpc"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// TestMain removes the binary tetherBinary built. It points the session
// store at a directory of its own, so that nothing a test runs in-process
// (cli.Main), or starts with this environment, writes to the developer's
// ~/.local/state; tests that start the binary give it a HOME of its own
// too.
func TestMain(m *testing.M) {
	remove := testenv.PrivateStore()
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	remove()
	os.Exit(code)
}

// tetherBinary builds Tether once per test run and returns its path.
func tetherBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tether-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "tether")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	require.NoError(t, buildErr, "building tether")
	return builtBin
}

// missingInCI skips a test whose tool is missing here, but fails it under
// CI (see testenv.MissingInCI).
func missingInCI(t testing.TB, why string) {
	t.Helper()
	testenv.MissingInCI(t, why)
}

// subprocess is Tether running as a child process, as an editor runs it.
type subprocess struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *bytes.Buffer
	waited chan error
}

// startBinary starts the built binary with a clean environment, so that no
// real agent is picked up: the default backend is the mock.
func startBinary(t *testing.T, args ...string) *subprocess {
	t.Helper()
	return startBinaryEnv(t, nil, args...)
}

// startBinaryEnv is startBinary with env added to the clean environment.
func startBinaryEnv(t *testing.T, env []string, args ...string) *subprocess {
	t.Helper()
	cmd := exec.Command(tetherBinary(t), args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}, env...)
	cmd.Dir = t.TempDir()
	return startCommand(t, cmd)
}

// startCommand starts cmd, which runs Tether (perhaps through a wrapper),
// as startBinary does.
func startCommand(t *testing.T, cmd *exec.Cmd) *subprocess {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &subprocess{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(stdout), stderr: &bytes.Buffer{}, waited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-p.waited:
		case <-time.After(guard):
			cmd.Process.Kill()
			t.Errorf("tether did not exit; killed it")
		}
	})
	return p
}

// wait reads stdout to its end and waits for the process; it returns the
// lines of stdout and the exit code.
func (p *subprocess) wait(t *testing.T) ([]string, int) {
	t.Helper()
	out, err := io.ReadAll(p.stdout)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
		p.waited <- werr
	case <-time.After(guard):
		t.Fatalf("tether did not exit within %v", guard)
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(werr, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, werr)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	return lines, code
}

func TestBinaryShellPipe(t *testing.T) {
	p := startBinary(t)
	io.WriteString(p.stdin, `{"jsonrpc":"2.0","id":1,"method":"initialize"}`+"\n"+
		`{"jsonrpc":"2.0","id":2,"method":"session/query","params":{"sessionId":"demo","prompt":"Hello from a pipe\n/tokens 2"}}`+"\n")
	p.stdin.Close()
	lines, code := p.wait(t)
	assert.Equal(t, 0, code, "end of input after the answers: exit 0; stderr:\n%s", p.stderr)

	var text strings.Builder
	var result map[string]any
	for _, line := range lines {
		var m message
		require.NoError(t, json.Unmarshal([]byte(line), &m), "stdout carries JSON-RPC messages only: %q", line)
		switch {
		case m.Method == "session/token":
			text.WriteString(m.param(t, "text"))
		case string(m.ID) == "2":
			require.Nil(t, m.Error)
			require.NoError(t, json.Unmarshal(m.Result, &result))
		}
	}
	require.NotNil(t, result, "the query was answered")
	assert.Equal(t, "Hello from a pipe\ntok1 tok2", result["text"])
	assert.Equal(t, result["text"], text.String())
	assert.Contains(t, p.stderr.String(), "serving", "logs go to stderr")
}

func TestBinaryContentLengthShutdownExit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shutdown bool
		code     int
	}{{"with shutdown", true, 0}, {"without shutdown", false, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			p := startBinary(t)
			frame := func(body string) string { return "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body }
			in := frame(`{"jsonrpc":"2.0","id":1,"method":"session/query","params":{"sessionId":"s","prompt":"hi"}}`)
			if tc.shutdown {
				in += frame(`{"jsonrpc":"2.0","id":2,"method":"shutdown"}`)
			}
			// exit is sent once the answers are in, as an editor does.
			io.WriteString(p.stdin, in)
			want := "1"
			if tc.shutdown {
				want = "2"
			}
			for {
				body, err := readFrame(p.stdout, rpc.FramingLSP)
				require.NoError(t, err)
				var m message
				require.NoError(t, json.Unmarshal(body, &m))
				if m.isResponse() && string(m.ID) == want {
					break
				}
			}
			io.WriteString(p.stdin, frame(`{"jsonrpc":"2.0","method":"exit"}`))
			_, code := p.wait(t)
			assert.Equal(t, tc.code, code)
		})
	}
}

func TestBinarySIGTERMCancelsAndExits(t *testing.T) {
	p := startBinary(t)
	io.WriteString(p.stdin, `{"jsonrpc":"2.0","id":1,"method":"session/query","params":{"sessionId":"s","prompt":"/tokens 1\n/sleep 60000"}}`+"\n")
	// Wait until the query runs.
	for {
		line, err := p.stdout.ReadString('\n')
		require.NoError(t, err)
		if strings.Contains(line, "session/token") {
			break
		}
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	lines, code := p.wait(t)
	assert.Equal(t, 1, code)
	assert.Contains(t, lines[len(lines)-2], `"stopReason":"cancelled"`, "the running query is answered before Tether goes")
}

func TestBinaryBadFlag(t *testing.T) {
	p := startBinary(t, "--framing", "xml")
	lines, code := p.wait(t)
	assert.Equal(t, 2, code)
	assert.Equal(t, []string{""}, lines, "nothing on stdout")
	assert.Contains(t, p.stderr.String(), "xml")
}

// Exit codes after the end of input: 0 when what was asked was answered,
// 1 when a signal or a reader that went away cut it short.
func TestBinaryExitCodesAfterEndOfInput(t *testing.T) {
	query := `{"jsonrpc":"2.0","id":1,"method":"session/query","params":{"sessionId":"s","prompt":"/tokens 1\n/sleep 60000"}}` + "\n"
	t.Run("SIGTERM", func(t *testing.T) {
		p := startBinary(t)
		io.WriteString(p.stdin, query)
		p.stdin.Close()
		waitForLine(t, p, "session/token")
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
		_, code := p.wait(t)
		assert.Equal(t, 1, code, "stderr:\n%s", p.stderr)
	})
	t.Run("reader gone", func(t *testing.T) {
		cmd := exec.Command(tetherBinary(t))
		cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
		cmd.Stdin = strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"session/query","params":{"sessionId":"s","prompt":"/tokens 10000000"}}` + "\n")
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		r := bufio.NewReader(stdout)
		for {
			line, err := r.ReadString('\n')
			require.NoError(t, err)
			if strings.Contains(line, "session/token") {
				break
			}
		}
		stdout.Close() // the reader goes away; Tether notices at its next write
		err = cmd.Wait()
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit)
		assert.Equal(t, 1, exit.ExitCode())
	})
}

func waitForLine(t *testing.T, p *subprocess, substr string) {
	t.Helper()
	for {
		line, err := p.stdout.ReadString('\n')
		require.NoError(t, err)
		if strings.Contains(line, substr) {
			return
		}
	}
}
