//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/protocol"
	"github.com/tether-dev/tether/store"
)

// keepSession runs Tether once on the store in state and leaves a session
// "kept" there, and returns the text of its one turn.
func keepSession(t *testing.T, state string) string {
	t.Helper()
	r := startRun(t, stateEnv(state))
	var res protocol.QueryResult
	r.call(protocol.MethodSessionQuery, map[string]any{"sessionId": "kept", "prompt": "keep me\n/tokens 5"}, &res)
	r.stop()
	return res.Text
}

// assertKept checks, with a Tether of its own, that the turn keepSession
// recorded in session "kept" is in the store in state as it was left (a
// later run may have added turns).
func assertKept(t *testing.T, state, text string) {
	t.Helper()
	r := startRun(t, stateEnv(state))
	var init protocol.InitializeResult
	r.call(protocol.MethodInitialize, nil, &init)
	require.True(t, init.Store.Enabled, "the store still opens: %s", init.Store.Error)
	notes, res := r.load("kept")
	assert.Equal(t, text, tokens(t, byQuery(t, notes)["1"]), "nothing of the earlier session was lost")
	require.NotEmpty(t, res.Queries)
	assert.Equal(t, protocol.StopEndTurn, res.Queries[0].StopReason)
	r.stop()
}

// A full disk fails the store's writes, not the turns: Tether answers
// every query, logs why the writes failed, and loses nothing it stored
// before. The disk is made full with a file size limit on the Tether
// process (RLIMIT_FSIZE, through bash's ulimit), which needs no flag, no
// root and no mount: SQLite's writes past it fail as a full disk's do.
func TestAFullDiskFailsWritesNotTurns(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		missingInCI(t, "bash is needed to limit the file size: "+err.Error())
	}
	state := t.TempDir()
	text := keepSession(t, state)
	fi, err := os.Stat(filepath.Join(state, store.FileName))
	require.NoError(t, err)
	// Room for the -shm file (32 KiB) and a little growth: enough to
	// open, not to record a long turn.
	limitKiB := max(fi.Size()/1024, 32) + 32

	cmd := exec.Command(bash, "-c", `ulimit -f "$1" && shift && exec "$@"`, "bash",
		strconv.FormatInt(limitKiB, 10), tetherBinary(t), "--framing", "ndjson")
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}, stateEnv(state)...)
	cmd.Dir = t.TempDir()
	r := runOf(t, startCommand(t, cmd))
	var res protocol.QueryResult
	r.call(protocol.MethodSessionQuery, map[string]any{"sessionId": "big", "prompt": "/tokens 20000"}, &res)
	assert.Equal(t, protocol.StopEndTurn, res.StopReason, "the turn ends as it would")
	assert.True(t, strings.HasSuffix(res.Text, " tok20000"), "with all its text")
	r.call(protocol.MethodSessionQuery, map[string]any{"sessionId": "kept", "prompt": "/tokens 3"}, &res)
	assert.Equal(t, "tok1 tok2 tok3", res.Text, "a stored session comes back and answers")
	stderr := r.stop()
	assert.Contains(t, stderr, "store: write failed", "the failed writes are logged")
	assert.Contains(t, stderr, "recording a turn of session big")

	assertKept(t, state, text)
}

// A store in a directory Tether may not write to never stops it: it says
// why, serves without the store, and leaves the file as it was.
func TestAReadOnlyStateDirIsReportedAndLeftAlone(t *testing.T) {
	state := t.TempDir()
	text := keepSession(t, state)
	path := filepath.Join(state, store.FileName)
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	cmd := exec.Command(tetherBinary(t), "--framing", "ndjson")
	home := t.TempDir()
	cmd.Env = append([]string{"HOME=" + home, "PATH=/usr/bin:/bin"}, stateEnv(state)...)
	cmd.Dir = home
	asUnprivileged(t, cmd, state, home)
	require.NoError(t, os.Chmod(state, 0o555))
	t.Cleanup(func() { os.Chmod(state, 0o755) })

	r := runOf(t, startCommand(t, cmd))
	var init protocol.InitializeResult
	r.call(protocol.MethodInitialize, nil, &init)
	assert.False(t, init.Store.Enabled)
	assert.Contains(t, init.Store.Error, "must be writable", "%s", init.Store.Error)
	var res protocol.QueryResult
	r.call(protocol.MethodSessionQuery, map[string]any{"sessionId": "s", "prompt": "still works"}, &res)
	assert.Equal(t, "still works", res.Text)
	stderr := r.stop()
	assert.Contains(t, stderr, "running without a session store")

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the file is untouched")
	require.NoError(t, os.Chmod(state, 0o755))
	assertKept(t, state, text)
}

// nobody is the user a test runs Tether as when it runs as root, which
// file permissions do not bind.
const nobody = 65534

// asUnprivileged makes cmd run as a user that file permissions bind: as
// it is, or, when the test runs as root, as nobody, with the binary
// copied where nobody may run it and the dirs (the test's own temp dirs)
// made nobody's.
func asUnprivileged(t *testing.T, cmd *exec.Cmd, dirs ...string) {
	if os.Geteuid() != 0 {
		return
	}
	tmp := filepath.Clean(os.TempDir())
	for dir := tmp; ; dir = filepath.Dir(dir) {
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		if fi.Mode().Perm()&0o001 == 0 {
			missingInCI(t, "running as root, and user nobody cannot pass "+dir+" on the way to the temp dir")
		}
		if dir == filepath.Dir(dir) {
			break
		}
	}
	bin := filepath.Join(t.TempDir(), "tether")
	data, err := os.ReadFile(cmd.Path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	for _, dir := range append(dirs, filepath.Dir(bin)) {
		require.NoError(t, filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Chown(p, nobody, nobody)
		}))
		for d := dir; d != tmp && d != filepath.Dir(d); d = filepath.Dir(d) {
			require.NoError(t, os.Chmod(d, 0o755))
		}
	}
	cmd.Path = bin
	cmd.Args[0] = bin
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
}
