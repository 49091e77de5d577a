//go:build linux

package supervisor

import (
	"bytes"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// janitorSweep ends the processes Tether (whose marker variable is name)
// left: every process carrying its marker, every member of a registered
// group that started before now, and their descendants, with SIGTERM, a
// grace period and SIGKILL, checking start times. It returns how many it
// found.
func janitorSweep(name string, groups map[int]uint64, grace time.Duration) (int, error) {
	var tetherStart uint64
	if i := strings.LastIndexByte(name, '_'); i >= 0 {
		tetherStart, _ = strconv.ParseUint(name[i+1:], 10, 64)
	}
	now := nowTick()
	prefix := []byte(name + "=")
	seen := make(map[int]uint64)
	inGroup := func(q procInfo) bool {
		start, ok := groups[q.pgid]
		return ok && q.start >= start && q.start <= now
	}
	marked := func(entry []byte) bool { return bytes.HasPrefix(entry, prefix) }
	signalAll := func(sig syscall.Signal) int {
		n := 0
		for _, m := range collectTree(listProcs(tetherStart), inGroup, marked, seen) {
			if !m.alive() {
				continue
			}
			if alive, _ := signalIfSame(m.pid, m.start, sig); alive {
				n++
			}
		}
		return n
	}
	return stopAll(signalAll, grace)
}
