package store_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

// child is this test binary running a role (see main_test.go).
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // stdout, a line at a time; closed at EOF

	waitOnce sync.Once
	waitErr  error
	stderr   bytes.Buffer
}

// startChild starts a child with role on the store at path. Cleanup kills
// it if it still runs and waits for it, so no test leaves one behind.
func startChild(t *testing.T, role, path, arg string, prep ...func(*exec.Cmd)) *child {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	c := &child{lines: make(chan string, 16)}
	c.cmd = exec.Command(exe, "-test.run=^$")
	c.cmd.Env = append(os.Environ(), roleEnv+"="+role, pathEnv+"="+path, argEnv+"="+arg,
		// Under -race, a process sleeps a second before it exits.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	c.cmd.Stderr = &c.stderr
	for _, p := range prep {
		p(c.cmd)
	}
	c.stdin, err = c.cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := c.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start())
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		c.cmd.Process.Kill()
		c.wait()
	})
	return c
}

// next returns the child's next line.
func (c *child) next(t *testing.T) string {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			require.FailNow(t, "child ended early", "%v\nstderr: %s", c.wait(), &c.stderr)
		}
		return line
	case <-time.After(guard):
		require.FailNow(t, "child said nothing", "stderr: %s", &c.stderr)
		return ""
	}
}

// expect reads the child's next line and checks it.
func (c *child) expect(t *testing.T, want string) {
	t.Helper()
	require.Equal(t, want, c.next(t), "stderr: %s", &c.stderr)
}

// wait waits for the child once (its stdout read to EOF first).
func (c *child) wait() error {
	c.waitOnce.Do(func() {
		for range c.lines {
		}
		c.waitErr = c.cmd.Wait()
	})
	return c.waitErr
}

// Two processes open a new file at once, migrate it once, and write
// sessions concurrently: neither loses any, and the file is intact.
func TestTwoProcessesWriteAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	const perProcess = 30
	a := startChild(t, "writer", path, fmt.Sprint(perProcess))
	b := startChild(t, "writer", path, fmt.Sprint(perProcess))
	a.expect(t, "ready")
	b.expect(t, "ready")
	fmt.Fprintln(a.stdin, "go")
	fmt.Fprintln(b.stdin, "go")
	a.expect(t, "done")
	b.expect(t, "done")
	a.stdin.Close()
	b.stdin.Close()
	require.NoError(t, a.wait(), "stderr: %s", &a.stderr)
	require.NoError(t, b.wait(), "stderr: %s", &b.stderr)

	st := openAt(t, path, store.Options{})
	var check string
	require.NoError(t, rawDB(t, path).QueryRow(`PRAGMA integrity_check`).Scan(&check))
	assert.Equal(t, "ok", check)

	page, err := st.List(store.ListOptions{Limit: store.MaxListLimit})
	require.NoError(t, err)
	assert.Len(t, page.Sessions, 2*perProcess)
	for _, c := range []*child{a, b} {
		for i := range perProcess {
			id := fmt.Sprintf("p%d-%d", c.cmd.Process.Pid, i)
			checkProcessSession(t, st, id)
		}
	}
	// The writers closed their stores, releasing their claims.
	assert.Zero(t, count(t, rawDB(t, path), `SELECT count(*) FROM claims`))
}

// checkProcessSession checks what writeProcessSession wrote.
func checkProcessSession(t *testing.T, st *store.Store, id string) {
	t.Helper()
	got, err := st.Get(id)
	require.NoError(t, err, id)
	assert.Equal(t, 1, got.Turns, id)
	assert.Equal(t, "go "+id, got.Title)
	assert.Equal(t, int64(50), got.Usage.OutputTokens, id)
	turns, err := st.Turns(id)
	require.NoError(t, err, id)
	require.Len(t, turns, 1, id)
	assert.Equal(t, []store.Event{
		{Kind: store.EventText, Text: string(bytes.Repeat([]byte("tok "), 50))},
		{Kind: store.EventToolUse, ToolUse: &store.ToolUse{ID: "t-" + id, Name: "Read", Input: json.RawMessage(`{}`)}},
		{Kind: store.EventToolResult, ToolResult: &store.ToolResult{ID: "t-" + id, Name: "Read", Summary: "ok"}},
	}, turns[0].Events, id)
	history, err := st.History(id)
	require.NoError(t, err)
	assert.Len(t, history, 1, id)
}

// A session live in one process cannot be claimed or deleted by another
// until the first lets go, by closing its store or by dying.
func TestSecondProcessCannotClaimALiveSession(t *testing.T) {
	for _, how := range []string{"closes", "dies"} {
		t.Run(how, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), store.FileName)
			st := openAt(t, path, store.Options{})
			newSession(t, st, "s", "/a")

			holder := startChild(t, "holder", path, "s")
			holder.expect(t, "claimed")
			pid := holder.cmd.Process.Pid

			err := st.Claim("s")
			require.ErrorIs(t, err, store.ErrClaimed)
			var claimed *store.ClaimedError
			require.True(t, errors.As(err, &claimed))
			assert.Equal(t, pid, claimed.PID)
			assert.Contains(t, err.Error(), fmt.Sprintf("pid %d", pid))
			require.ErrorIs(t, st.Delete("s"), store.ErrClaimed)

			if how == "closes" {
				holder.stdin.Close()
				require.NoError(t, holder.wait(), "stderr: %s", &holder.stderr)
				assert.Zero(t, claimOf(t, path, "s"), "the holder released it")
			} else {
				require.NoError(t, holder.cmd.Process.Kill())
				holder.wait()
				assert.Equal(t, pid, claimOf(t, path, "s"), "a dead holder's claim stays in the file")
			}
			require.NoError(t, st.Claim("s"))
			assert.Equal(t, os.Getpid(), claimOf(t, path, "s"))
		})
	}
}

// A process killed mid-turn loses only what the writer had not committed.
func TestKilledProcessKeepsWhatWasCommitted(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	crasher := startChild(t, "crasher", path, "")
	crasher.expect(t, "flushed")
	require.NoError(t, crasher.cmd.Process.Kill())
	crasher.wait()

	st := openAt(t, path, store.Options{})
	turns, err := st.Turns("c")
	require.NoError(t, err)
	require.Len(t, turns, 1)
	committed := []store.Event{
		{Kind: store.EventText, Text: "committed text"},
		{Kind: store.EventToolUse, ToolUse: &store.ToolUse{ID: "t", Name: "Bash", Input: json.RawMessage(`{"command":"ls"}`)}},
	}
	// The tail may have made it too, if the writer had a wake-up pending
	// when it was recorded; it is there whole or not at all.
	tail := store.Event{Kind: store.EventText, Text: "the tail a crash loses"}
	if len(turns[0].Events) == len(committed)+1 {
		committed = append(committed, tail)
	}
	assert.Equal(t, committed, turns[0].Events)
	assert.True(t, turns[0].EndedAt.IsZero(), "the turn never ended")
	var check string
	require.NoError(t, rawDB(t, path).QueryRow(`PRAGMA integrity_check`).Scan(&check))
	assert.Equal(t, "ok", check)
}

// openInChild opens path in a child process and returns what it reported.
func openInChild(t *testing.T, path string, prep ...func(*exec.Cmd)) openResult {
	t.Helper()
	c := startChild(t, "open", path, "", prep...)
	var res openResult
	require.NoError(t, json.Unmarshal([]byte(c.next(t)), &res))
	require.NoError(t, c.wait(), "stderr: %s", &c.stderr)
	return res
}
