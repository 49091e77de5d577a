//go:build linux

// The tests run each program in its own process group and check that the
// group is gone afterwards, with Linux's process-group semantics.

package acptest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/testenv"
)

// tools are the paths of the programs the tests run.
type tools struct {
	node22    string // testdeps' Node 22 (acpx and claude-agent-acp need it)
	drive     string // testdata/acp/drive.mjs
	agent     string // testdata/acp/agent.mjs
	acpx      string // acpx's CLI script
	claudeACP string // claude-agent-acp's entry script
	claudeCLI string // the pinned claude CLI binary
}

func findTools(t testing.TB) tools {
	t.Helper()
	root := testenv.ModuleRoot(t)
	nm := testenv.NodeModules(t)
	return tools{
		node22:    filepath.Join(nm, ".bin", "node"),
		drive:     filepath.Join(root, "testdata", "acp", "drive.mjs"),
		agent:     filepath.Join(root, "testdata", "acp", "agent.mjs"),
		acpx:      filepath.Join(nm, "acpx", "dist", "cli.js"),
		claudeACP: filepath.Join(nm, "@agentclientprotocol", "claude-agent-acp", "dist", "index.js"),
		claudeCLI: filepath.Join(nm, "@anthropic-ai", "claude-code", "bin", "claude.exe"),
	}
}

// event is one line drive.mjs printed.
type event struct {
	Event  string          `json:"event"`
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
	OK     *bool           `json:"ok"`
	Code   *int            `json:"code"`
	What   string          `json:"what"`
	Msg    string          `json:"message"`
	Paths  []string        `json:"paths"`
	T      float64         `json:"t"` // ms since drive.mjs started
}

// update is the part of a session/update the tests look at.
type update struct {
	SessionID string `json:"sessionId"`
	Update    struct {
		Kind string `json:"sessionUpdate"`
		// Content is a content block for chunks, a list for tool calls.
		Content    json.RawMessage `json:"content"`
		ToolCallID string          `json:"toolCallId"`
		Title      string          `json:"title"`
		ToolKind   string          `json:"kind"`
		Status     string          `json:"status"`
	} `json:"update"`
}

// chunkText is the text of a message or thought chunk's text block.
func (u update) chunkText() string {
	var block struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(u.Update.Content, &block) != nil || block.Type != "text" {
		return ""
	}
	return block.Text
}

func parseEvents(t testing.TB, out []byte) []event {
	t.Helper()
	var evs []event
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), "drive.mjs printed %q", sc.Text())
		evs = append(evs, ev)
	}
	require.NoError(t, sc.Err())
	return evs
}

func updates(t testing.TB, evs []event) []update {
	t.Helper()
	var ups []update
	for _, ev := range evs {
		if ev.Event == "notification" && ev.Method == "session/update" {
			var u update
			require.NoError(t, json.Unmarshal(ev.Params, &u))
			ups = append(ups, u)
		}
	}
	return ups
}

// writeSteps writes drive.mjs's steps file into a temp dir.
func writeSteps(t testing.TB, steps any) string {
	t.Helper()
	b, err := json.Marshal(steps)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "steps.json")
	require.NoError(t, os.WriteFile(path, b, 0o644))
	return path
}

// drive runs drive.mjs (on Node 22) with the steps against the agent
// command, and returns its events and exit status. drive.mjs ends the
// agent before it exits; the test's own deadline bounds the run.
func drive(t testing.TB, tl tools, env []string, cwd string, steps any, agent ...string) ([]event, int) {
	t.Helper()
	args := append([]string{tl.drive, "--cwd", cwd, writeSteps(t, steps), "--"}, agent...)
	stdout, stderr, code := run(t, env, cwd, tl.node22, args...)
	t.Logf("drive.mjs stderr:\n%s", stderr)
	return parseEvents(t, stdout), code
}

// run runs a program in its own process group with the environment plus
// env, and returns its stdout, stderr and exit status. Once it has exited,
// nothing of its group may be left: an agent that outlives its client, or
// a CLI that outlives its agent, fails the test (and is killed).
func run(t testing.TB, env []string, dir, name string, args ...string) (stdout, stderr []byte, code int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	// Grandchildren are not ours to wait for: poll, with a deadline.
	pgid := cmd.Process.Pid
	if left := groupMembers(pgid); len(left) > 0 {
		t.Logf("still running after %s exited: %s", filepath.Base(name), strings.Join(left, "; "))
		start := time.Now()
		for syscall.Kill(-pgid, 0) == nil {
			if time.Since(start) > 10*time.Second {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				t.Errorf("processes of %s's group are still running 10 s after it exited", filepath.Base(name))
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s's group was gone %v after it exited", filepath.Base(name), time.Since(start).Round(time.Millisecond))
	}
	return out.Bytes(), errOut.Bytes(), code
}

// groupMembers lists the processes in process group pgid, as "pid command".
func groupMembers(pgid int) []string {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var members []string
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
		stat := string(b)
		end := strings.LastIndexByte(stat, ')')
		fields := strings.Fields(stat[end+1:])
		if end < 0 || len(fields) < 3 || fields[2] != strconv.Itoa(pgid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "cmdline"))
		members = append(members, filepath.Base(filepath.Dir(path))+" "+strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " "))
	}
	return members
}
