package store_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

// noSuchPID is above every system's pid limit.
const noSuchPID = 2147483646

// writeClaim puts a claim into the file as another process would.
func writeClaim(t *testing.T, path, id string, pid int, start string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	defer db.Close()
	_, err = db.Exec(`INSERT OR REPLACE INTO claims (session_id, pid, pid_start, claimed_at) VALUES (?, ?, ?, 0)`, id, pid, start)
	require.NoError(t, err)
}

// claimOf reads who holds id; 0 when nobody.
func claimOf(t *testing.T, path, id string) int {
	t.Helper()
	var pid int
	err := rawDB(t, path).QueryRow(`SELECT pid FROM claims WHERE session_id = ?`, id).Scan(&pid)
	if err == sql.ErrNoRows {
		return 0
	}
	require.NoError(t, err)
	return pid
}

func TestClaimReleaseAndClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), store.FileName)
	st, err := store.Open(path, store.Options{})
	require.NoError(t, err)
	require.NoError(t, st.Claim("a"), "a session need not be stored to be claimed")
	require.NoError(t, st.Claim("a"), "claiming again")
	require.NoError(t, st.Claim("b"))
	assert.Equal(t, os.Getpid(), claimOf(t, path, "a"))

	require.NoError(t, st.Release("a"))
	assert.Zero(t, claimOf(t, path, "a"))
	require.NoError(t, st.Release("never"), "releasing what is not held")

	require.NoError(t, st.Close())
	assert.Zero(t, claimOf(t, path, "b"), "Close releases")
}

func TestClaimOfADeadProcessIsTakenOver(t *testing.T) {
	st := openStore(t, store.Options{})
	writeClaim(t, st.Path(), "s", noSuchPID, "")
	require.NoError(t, st.Claim("s"))
	assert.Equal(t, os.Getpid(), claimOf(t, st.Path(), "s"))
}

func TestClaimOfAReusedPIDIsTakenOver(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux tells a process's start time; elsewhere a reused pid holds the claim")
	}
	st := openStore(t, store.Options{})
	// This very pid, but a process that started at another time: the
	// claim's owner died and its pid went to us.
	writeClaim(t, st.Path(), "s", os.Getpid(), "1")
	require.NoError(t, st.Claim("s"))
}

func TestReleaseLeavesAnotherProcesssClaim(t *testing.T) {
	st := openStore(t, store.Options{})
	writeClaim(t, st.Path(), "s", noSuchPID, "")
	require.NoError(t, st.Release("s"))
	assert.Equal(t, noSuchPID, claimOf(t, st.Path(), "s"))
}

func TestPruneKeepsClaimedSessionsAndDropsStaleClaims(t *testing.T) {
	clock := newClock()
	st := openStore(t, store.WithClock(store.Options{}, clock.Now))
	for _, id := range []string{"mine", "dead-owner", "free"} {
		newSession(t, st, id, "/a")
	}
	require.NoError(t, st.Claim("mine"))
	writeClaim(t, st.Path(), "dead-owner", noSuchPID, "")
	clock.Advance(48 * time.Hour)

	n, err := st.Prune(24 * time.Hour)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	_, err = st.Get("mine")
	require.NoError(t, err, "a session live here is kept")
	for _, id := range []string{"dead-owner", "free"} {
		_, err = st.Get(id)
		require.ErrorIs(t, err, store.ErrNotFound, id)
	}
	assert.Zero(t, claimOf(t, st.Path(), "dead-owner"))
}
