//go:build linux

package supervisor

import (
	"bytes"
	"syscall"
	"testing"
)

// leftovers lists the live processes that carry this test process's marker
// (every child a test started, and whatever those started).
func leftovers() []procInfo {
	prefix := []byte(markerName() + "=")
	var left []procInfo
	for _, p := range listProcs(0) {
		if p.alive() && environHas(p.pid, func(e []byte) bool { return bytes.HasPrefix(e, prefix) }) {
			left = append(left, p)
		}
	}
	return left
}

// assertNoneLeft fails the test if any process a test started is alive.
func assertNoneLeft(t *testing.T) {
	t.Helper()
	if left := leftovers(); len(left) > 0 {
		t.Errorf("processes left behind: %+v", left)
		for _, p := range left { // so that the next test starts clean
			_, _ = signalIfSame(p.pid, p.start, syscall.SIGKILL)
		}
	}
}

// aliveAs reports whether pid is alive and still the process that started
// at start.
func aliveAs(pid int, start uint64) bool {
	info, ok := readStat(pid)
	return ok && info.start == start && info.alive()
}
