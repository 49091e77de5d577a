//go:build linux

// The tests run each program in its own process group and check that the
// group is gone afterwards, with Linux's process-group semantics.

package acptest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/acpdrive"
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

// event is a line drive.mjs printed.
type event = acpdrive.Event

// drive runs drive.mjs (on Node 22) with the steps against the agent
// command, and returns its events and exit status. drive.mjs ends the
// agent before it exits; the test's own deadline bounds the run.
func drive(t testing.TB, tl tools, env []string, cwd string, steps any, agent ...string) ([]event, int) {
	t.Helper()
	args := append([]string{tl.drive, "--cwd", cwd, acpdrive.WriteSteps(t, steps), "--"}, agent...)
	stdout, stderr, code := run(t, env, cwd, tl.node22, args...)
	t.Logf("drive.mjs stderr:\n%s", stderr)
	return acpdrive.Parse(t, stdout), code
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
