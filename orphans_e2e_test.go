//go:build linux

package main

import (
	"bytes"
	"encoding/json"
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

	"github.com/tether-dev/tether/backends/claude/claudetest"
)

// orphanMarkEnv is set, to a value unique to one test, in the environment
// of the Tether a test starts; the CLI and everything it starts inherit it
// (a Bash tool's setsid'ed process too), so marked finds them all.
const orphanMarkEnv = "TETHER_TEST_ORPHAN_MARK"

// marked lists the live processes carrying mark, except those running
// exe (Tether itself, and its janitor, while Tether lives).
func marked(mark, exe string) []string {
	var found []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(filepath.Join(d, "environ"))
		if err != nil || !bytes.Contains(env, []byte(orphanMarkEnv+"="+mark+"\x00")) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(stat, ')'); i >= 0 && len(stat) > i+2 && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			continue
		}
		if exe != "" {
			if target, err := os.Readlink(filepath.Join(d, "exe")); err == nil && target == exe {
				continue
			}
		}
		cmd, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		found = append(found, filepath.Base(d)+": "+strings.ReplaceAll(string(cmd), "\x00", " "))
	}
	return found
}

// waitGone polls until no marked process is left, for at most a few
// seconds: the processes are not the test's children, so there is nothing
// to wait on.
func waitGone(t *testing.T, mark, exe, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := marked(mark, exe)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: still running after 10s: %v", what, left)
			for _, p := range left {
				if pid, err := strconv.Atoi(strings.SplitN(p, ":", 2)[0]); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline, not pacing
	}
}

// A Bash tool's process that escapes the CLI's process group with setsid
// must not outlive its session (session/cleanup), nor Tether, even when
// Tether is killed with SIGKILL (issue 8 items 16 and 17).
func TestNoProcessOutlivesItsSessionOrTether(t *testing.T) {
	cli := claudetest.RealCLI(t)
	bin := tetherBinary(t)
	api := claudetest.NewFakeAPI(t, func(req claudetest.Request) []claudetest.Event {
		if strings.HasPrefix(req.LastUserText(), "tool_result:") {
			return claudetest.TextReply(req.Model, "Started", " it.")
		}
		return claudetest.ToolReply(req.Model, "toolu_orphan", "Bash",
			`{"command":"setsid sleep 600 </dev/null >/dev/null 2>&1 & echo spawned","description":"Start a server"}`)
	})
	for _, end := range []string{"cleanup", "SIGKILL"} {
		t.Run(end, func(t *testing.T) {
			mark := newMark()
			cmd := exec.Command(bin, "--backend", "claude", "--claude-path", cli, "--framing", "ndjson")
			cmd.Env = append(claudetest.Env(t, api.URL()), orphanMarkEnv+"="+mark, "PATH="+os.Getenv("PATH"))
			cmd.Dir = t.TempDir()
			stdin, err := cmd.StdinPipe()
			require.NoError(t, err)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
				waitGone(t, mark, "", "after the test")
			})
			dec := json.NewDecoder(stdout)
			send := func(id int, method string, params any) {
				b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
				_, err := stdin.Write(append(b, '\n'))
				require.NoError(t, err)
			}
			answer := func(id int) {
				for {
					var m map[string]json.RawMessage
					require.NoError(t, dec.Decode(&m))
					if string(m["id"]) == strconv.Itoa(id) {
						require.NotContains(t, m, "error", "request %d failed: %s", id, m["error"])
						return
					}
				}
			}
			send(1, "session/query", map[string]any{"sessionId": "s", "prompt": "start a server",
				"cwd": cmd.Dir, "allowedTools": []string{"Bash"}})
			answer(1)
			require.NotEmpty(t, marked(mark, bin), "the tool's setsid'ed process runs")

			if end == "cleanup" {
				send(2, "session/cleanup", map[string]any{"sessionId": "s"})
				answer(2)
				waitGone(t, mark, bin, "after session/cleanup")
				stdin.Close()
				_, _ = io.Copy(io.Discard, stdout)
				assert.NoError(t, cmd.Wait())
				return
			}
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = cmd.Wait()
			waitGone(t, mark, "", "after Tether was killed")
		})
	}
}
