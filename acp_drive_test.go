//go:build linux

// The ACP client tests find what they leave behind through /proc
// (orphans_e2e_test.go's marked).

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/internal/acpdrive"
)

// acpTools are the programs of testdeps/ and testdata/acp/ that the ACP
// tests run: clients nobody here wrote that drive `tether acp` (the
// official TypeScript SDK's client, through drive.mjs, and acpx), and ACP
// agents Tether drives as backends (the scripted agent, claude-agent-acp),
// all on testdeps' Node 22.
type acpTools struct {
	node      string // testdeps' Node 22 (acpx needs >= 22.13)
	drive     string // testdata/acp/drive.mjs, a client on @agentclientprotocol/sdk
	acpx      string // acpx's CLI script
	agent     string // testdata/acp/agent.mjs, a scripted agent on the SDK
	claudeACP string // claude-agent-acp's entry script
	claudeCLI string // the pinned claude CLI
}

// findACPTools returns the tools' paths, or skips the test when
// `npm ci --prefix testdeps` has not been run (and fails it under CI).
func findACPTools(t testing.TB) acpTools {
	t.Helper()
	root, err := os.Getwd() // the root package's tests run in the module root
	require.NoError(t, err)
	nm := filepath.Join(root, "testdeps", "node_modules")
	tl := acpTools{
		node:      filepath.Join(nm, ".bin", "node"),
		drive:     filepath.Join(root, "testdata", "acp", "drive.mjs"),
		acpx:      filepath.Join(nm, "acpx", "dist", "cli.js"),
		agent:     filepath.Join(root, "testdata", "acp", "agent.mjs"),
		claudeACP: filepath.Join(nm, "@agentclientprotocol", "claude-agent-acp", "dist", "index.js"),
		claudeCLI: filepath.Join(nm, "@anthropic-ai", "claude-code", "bin", "claude.exe"),
	}
	for _, p := range []string{tl.node, tl.acpx, filepath.Join(nm, "@agentclientprotocol", "sdk", "package.json")} {
		if _, err := os.Stat(p); err != nil {
			missingInCI(t, "run `npm ci --prefix testdeps` (scripts/test.sh does) for the ACP tests: "+err.Error())
		}
	}
	return tl
}

// needClaudeACP skips (or under CI fails) a test that runs claude-agent-acp
// when it is not installed.
func (tl acpTools) needClaudeACP(t testing.TB) {
	t.Helper()
	for _, p := range []string{tl.claudeACP, tl.claudeCLI} {
		if _, err := os.Stat(p); err != nil {
			missingInCI(t, p+" is missing (run npm ci --prefix testdeps)")
		}
	}
}

// acpEvent is one line drive.mjs printed, acpUpdate a session/update
// among them (internal/acpdrive).
type (
	acpEvent  = acpdrive.Event
	acpUpdate = acpdrive.Update
)

// acpRun is what one drive.mjs run printed.
type acpRun struct {
	evs  []acpEvent
	code int // drive.mjs's exit status: 0 when every step passed and no protocol error was seen
}

// acpUpdates are the session/update notifications among evs.
func acpUpdates(t *testing.T, evs []acpEvent) []acpUpdate { return acpdrive.Updates(t, evs) }

// result decodes the result of the nth (from 0) response to a request of
// method, failing when it is an error.
func (r acpRun) result(t *testing.T, method string, nth int, v any) {
	t.Helper()
	ev := r.response(t, method, nth)
	require.Empty(t, ev.Error, "%s #%d failed", method, nth)
	require.NoError(t, json.Unmarshal(ev.Result, v))
}

// response is the nth (from 0) response to a request of method.
func (r acpRun) response(t *testing.T, method string, nth int) acpEvent {
	t.Helper()
	i := r.responseAt(t, method, nth)
	return r.evs[i]
}

// responseAt is the index in evs of the nth response to method.
func (r acpRun) responseAt(t *testing.T, method string, nth int) int {
	t.Helper()
	n := 0
	for i, ev := range r.evs {
		if ev.Event == "response" && ev.Method == method {
			if n == nth {
				return i
			}
			n++
		}
	}
	require.Failf(t, "no such response", "%s #%d: only %d", method, nth, n)
	return -1
}

// turn is the events of the nth session/prompt: from its send to its
// response, both included.
func (r acpRun) turn(t *testing.T, nth int) []acpEvent {
	t.Helper()
	n := 0
	for i, ev := range r.evs {
		if ev.Event != "send" || ev.Method != "session/prompt" {
			continue
		}
		if n < nth {
			n++
			continue
		}
		for j := i; j < len(r.evs); j++ {
			if r.evs[j].Event == "response" && bytes.Equal(r.evs[j].ID, ev.ID) {
				return r.evs[i : j+1]
			}
		}
		require.Failf(t, "prompt not answered", "session/prompt #%d (id %s)", nth, ev.ID)
	}
	require.Failf(t, "no such prompt", "session/prompt #%d", nth)
	return nil
}

// of lists the events of a kind ("request", "notification", ...) and
// method among evs.
func of(evs []acpEvent, event, method string) []acpEvent {
	var out []acpEvent
	for _, ev := range evs {
		if ev.Event == event && ev.Method == method {
			out = append(out, ev)
		}
	}
	return out
}

// driveTether runs drive.mjs (the SDK's client) with steps against `tether
// acp` with args, built from this tree, in cwd, with env (HOME and PATH
// included; nothing else of the test's environment). Every process of the
// run carries a mark in its environment: once drive.mjs has exited (it
// closes Tether's input and waits for it to exit), none may be left,
// whatever Tether started.
func driveTether(t *testing.T, tl acpTools, env []string, cwd string, steps any, args ...string) acpRun {
	t.Helper()
	stepsFile := acpdrive.WriteSteps(t, steps)

	mark := newMark()
	cmd := exec.Command(tl.node, append([]string{tl.drive, "--cwd", cwd, stepsFile, "--", tetherBinary(t), "acp"}, args...)...)
	cmd.Dir = cwd
	cmd.Env = append(env, orphanMarkEnv+"="+mark)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	run := acpRun{}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		run.code = exit.ExitCode()
	} else {
		require.NoError(t, err, "running drive.mjs")
	}
	waitGone(t, mark, "", "after drive.mjs and tether acp exited")

	out := stdout.Bytes()
	run.evs = acpdrive.Parse(t, out)
	if run.code != 0 || t.Failed() {
		t.Logf("drive.mjs exited %d; stderr (Tether's too):\n%s", run.code, stderr.String())
		for _, ev := range run.evs {
			if ev.Event == "failure" || ev.Event == "end" || ev.Event == "dropped" {
				t.Logf("%s %s %s %v %v", ev.Event, ev.What, ev.Msg, ev.Paths, ev.Failures)
			}
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("drive.mjs events:\n%s", out)
		}
	})
	return run
}

// acpEnv is a clean environment for Tether and its clients: a temp HOME,
// a PATH without the test's own (no claude CLI is found by chance), and
// the session store in a directory of its own.
func acpEnv(t *testing.T) []string {
	return []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin", "TETHER_STATE_DIR=" + t.TempDir()}
}

// strictSteps is a steps file for drive.mjs in strict mode: every field
// Tether sends must survive the SDK's schemas, except the prompt answer's
// usage, which is not in ACP's stable v1 schema yet.
func strictSteps(permissions []any, steps ...map[string]any) map[string]any {
	return map[string]any{
		"timeoutMs":    30000,
		"strict":       true,
		"allowDropped": []string{"usage"},
		"permissions":  permissions,
		"steps":        steps,
	}
}
