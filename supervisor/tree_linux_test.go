//go:build linux

package supervisor

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	line := "4242 (a (b) c) d) S 7 4200 4100 0 -1 4194560 120 0 0 0 1 2 0 0 20 0 1 0 98765 1000 100 18446744073709551615\n"
	info, ok := parseStat([]byte(line))
	require.True(t, ok)
	assert.Equal(t, procInfo{pid: 4242, ppid: 7, pgid: 4200, state: 'S', start: 98765}, info)
	_, ok = parseStat([]byte("4242 (x) S 7"))
	assert.False(t, ok, "too few fields")

	self, ok := readStat(os.Getpid())
	require.True(t, ok)
	assert.Equal(t, os.Getppid(), self.ppid)
	assert.LessOrEqual(t, self.start, nowTick(), "start times and nowTick share a clock")
}

func TestCollectTreeFollowsParentsSeedsAndWhatWasSeen(t *testing.T) {
	procs := []procInfo{
		{pid: 10, ppid: 1, pgid: 10, start: 100},  // the child (seed)
		{pid: 11, ppid: 10, pgid: 10, start: 101}, // its child
		{pid: 12, ppid: 11, pgid: 12, start: 102}, // grandchild, own group
		{pid: 13, ppid: 10, pgid: 13, start: 90},  // "child" older than its parent: a reused ppid
		{pid: 14, ppid: 1, pgid: 14, start: 105},  // unrelated
		{pid: 15, ppid: 1, pgid: 15, start: 106},  // orphan seen by an earlier scan
		{pid: 16, ppid: 15, pgid: 15, start: 107}, // its child
		{pid: 17, ppid: 1, pgid: 17, start: 108},  // same pid as seen, other start
	}
	seen := map[int]uint64{15: 106, 17: 1}
	tree := collectTree(procs, func(p procInfo) bool { return p.pid == 10 }, nil, seen)
	var pids []int
	for _, p := range tree {
		pids = append(pids, p.pid)
	}
	assert.Equal(t, []int{10, 11, 12, 15, 16}, pids)
	assert.Equal(t, uint64(102), seen[12], "what it found is remembered")
}

func TestSignalIfSameSparesAReusedPid(t *testing.T) {
	p, rec := startFake(t, Config{Grace: 200 * time.Millisecond}, "ignore-term")
	require.Equal(t, "ready", rec.next(t))
	info, ok := readStat(p.Pid())
	require.True(t, ok)

	// The same pid with another start time is another process: untouched.
	alive, err := signalIfSame(p.Pid(), info.start+1, syscall.SIGKILL)
	assert.ErrorIs(t, err, errReused)
	assert.False(t, alive)
	alive, err = signalIfSame(p.Pid(), info.start, 0)
	require.NoError(t, err)
	assert.True(t, alive, "the child was hit")
	assert.False(t, p.HasExited())

	alive, err = signalIfSame(p.Pid(), info.start, syscall.SIGKILL)
	require.NoError(t, err)
	assert.True(t, alive)
	<-p.Exited()
	assert.Equal(t, "signal: killed", p.ExitStatus())
	alive, err = signalIfSame(p.Pid(), info.start, syscall.SIGKILL)
	assert.False(t, alive)
	assert.NoError(t, err)
}

// startFamily starts a fake that spawns a grandchild and returns the
// grandchild's pid and start time.
func startFamily(t *testing.T, cfg Config, mode, then string) (*Process, int, uint64) {
	t.Helper()
	p, rec := startFake(t, cfg, "spawn", mode, then)
	pids := rec.until(t, "ready")
	require.Len(t, pids["grandchild"], 1)
	gc := pids["grandchild"][0]
	info, ok := readStat(gc)
	require.True(t, ok && info.alive(), "grandchild %d not running", gc)
	t.Cleanup(func() {
		// An unmarked grandchild escapes assertNoneLeft; should the test
		// fail, it must not outlive it either.
		_, _ = signalIfSame(gc, info.start, syscall.SIGKILL)
	})
	return p, gc, info.start
}

func TestStopTermsAGroupMemberBeforeKillingIt(t *testing.T) {
	// The child exits when its input closes; the MCP-server-like grandchild
	// must get SIGTERM and a grace, not an immediate SIGKILL (L7).
	marker := filepath.Join(t.TempDir(), "termed")
	p, gc, start := startFamily(t, Config{Grace: 2 * time.Second}, "group-trap:"+marker, "wait-stdin")
	require.NoError(t, stopWithin(t, t.Context(), p))
	assert.Equal(t, "exit status 0", p.ExitStatus())
	got, err := os.ReadFile(marker)
	require.NoError(t, err, "the grandchild never saw SIGTERM")
	assert.Equal(t, "SIGTERM\n", string(got))
	assert.False(t, aliveAs(gc, start))
}

func TestStopKillsAGroupMemberIgnoringSIGTERM(t *testing.T) {
	p, gc, start := startFamily(t, Config{Grace: 100 * time.Millisecond}, "group", "wait-stdin")
	require.NoError(t, stopWithin(t, t.Context(), p))
	assert.False(t, aliveAs(gc, start))
}

func TestStopEndsASetsidGrandchild(t *testing.T) {
	p, gc, start := startFamily(t, Config{Grace: 100 * time.Millisecond}, "setsid", "wait-stdin")
	require.NoError(t, stopWithin(t, t.Context(), p))
	assert.False(t, aliveAs(gc, start))
}

func TestStopEndsASetsidGrandchildOfAChildThatAlreadyExited(t *testing.T) {
	p, gc, start := startFamily(t, Config{Grace: 100 * time.Millisecond}, "setsid", "exit")
	<-p.Exited()
	require.True(t, aliveAs(gc, start))
	require.NoError(t, stopWithin(t, t.Context(), p))
	assert.False(t, aliveAs(gc, start))
}

func TestStopEndsAnUnmarkedSetsidGrandchildThroughItsParent(t *testing.T) {
	// No marker, own session: only its parent links it to the tree.
	p, gc, start := startFamily(t, Config{Grace: 100 * time.Millisecond}, "setsid-scrubbed", "ignore-all")
	require.NoError(t, stopWithin(t, t.Context(), p))
	assert.Equal(t, "signal: killed", p.ExitStatus())
	assert.False(t, aliveAs(gc, start))
}

func TestStopEndsAnUnmarkedOrphanOfTheGroup(t *testing.T) {
	// No marker, and its parent exits on the first rung: the group links
	// it to the tree.
	p, gc, start := startFamily(t, Config{Grace: 100 * time.Millisecond}, "group-scrubbed", "wait-stdin")
	require.NoError(t, stopWithin(t, t.Context(), p))
	assert.Equal(t, "exit status 0", p.ExitStatus())
	assert.False(t, aliveAs(gc, start))
}

func TestKillEndsTheWholeTree(t *testing.T) {
	p, gc, start := startFamily(t, Config{Grace: time.Hour}, "setsid", "ignore-all")
	require.NoError(t, p.Kill())
	assert.Equal(t, "signal: killed", p.ExitStatus())
	assert.False(t, aliveAs(gc, start))
}
