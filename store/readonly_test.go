//go:build unix

package store_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

// nobody is the unprivileged user the read-only tests run as when the tests
// run as root, which ignores permission bits.
const nobody = 65534

// asUnprivileged returns how to run an open in a process that file
// permissions bind: this one, or a child as nobody when we are root. For
// the child it copies the test binary where nobody can run it and makes
// root's temp dirs on the way to base passable.
func asUnprivileged(t *testing.T, base string) func(path string) openResult {
	if os.Geteuid() != 0 {
		return func(path string) openResult {
			st, err := store.Open(path, store.Options{})
			if err != nil {
				return openResult{Err: err.Error(), Unusable: isUnusable(err)}
			}
			require.NoError(t, st.Close())
			return openResult{}
		}
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
	for dir := base; dir != tmp && dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		require.NoError(t, os.Chmod(dir, 0o755)) // the test's own temp dirs
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	bin := filepath.Join(base, "store.test")
	copyFile(t, exe, bin, 0o755)
	return func(path string) openResult {
		return openInChild(t, path, func(cmd *exec.Cmd) {
			cmd.Path = bin
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
		})
	}
}

func TestOpenInAReadOnlyPlace(t *testing.T) {
	base := t.TempDir()
	open := asUnprivileged(t, base)
	owned := func(path string, mode os.FileMode) {
		require.NoError(t, os.Chmod(path, mode))
		if os.Geteuid() == 0 {
			require.NoError(t, os.Chown(path, nobody, nobody))
		}
	}

	t.Run("read-only directory, no file yet", func(t *testing.T) {
		dir := filepath.Join(base, "ro-dir")
		require.NoError(t, os.Mkdir(dir, 0o755))
		require.NoError(t, os.Chmod(dir, 0o555))
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		res := open(filepath.Join(dir, store.FileName))
		assert.True(t, res.Unusable, "%+v", res)
		assert.Contains(t, res.Err, "permission denied")
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Empty(t, entries)
	})

	t.Run("read-only file", func(t *testing.T) {
		dir := filepath.Join(base, "ro-file")
		require.NoError(t, os.Mkdir(dir, 0o755))
		owned(dir, 0o755)
		path := filepath.Join(dir, store.FileName)
		makeStore(t, path)
		owned(path, 0o444)
		before := readFile(t, path)
		res := open(path)
		assert.True(t, res.Unusable, "%+v", res)
		assert.Contains(t, res.Err, "permission denied")
		assert.Equal(t, before, readFile(t, path))
	})

	t.Run("unreadable file", func(t *testing.T) {
		dir := filepath.Join(base, "no-read")
		require.NoError(t, os.Mkdir(dir, 0o755))
		owned(dir, 0o755)
		path := filepath.Join(dir, store.FileName)
		makeStore(t, path)
		owned(path, 0o200)
		res := open(path)
		assert.True(t, res.Unusable, "%+v", res)
		assert.Contains(t, res.Err, "permission denied")
	})

	t.Run("writable file in a read-only directory", func(t *testing.T) {
		dir := filepath.Join(base, "ro-dir-rw-file")
		require.NoError(t, os.Mkdir(dir, 0o755))
		path := filepath.Join(dir, store.FileName)
		makeStore(t, path)
		owned(path, 0o600)
		require.NoError(t, os.Chmod(dir, 0o555)) // and not nobody's
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		before := readFile(t, path)
		res := open(path)
		// SQLite cannot make the WAL's files next to it.
		assert.True(t, res.Unusable, "%+v", res)
		assert.Contains(t, res.Err, "its directory must be writable")
		assert.Equal(t, before, readFile(t, path))
	})
}

// makeStore makes a closed store file with a session in it.
func makeStore(t *testing.T, path string) {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	newSession(t, st, "s", "/a")
	require.NoError(t, st.Close())
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	return data
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// missingInCI skips a test whose set-up this machine lacks, but fails it
// under CI=1, where it must run (the rule of the root package's tests).
func missingInCI(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI is set: this test must run in CI", why)
	}
	t.Skip(why)
}
