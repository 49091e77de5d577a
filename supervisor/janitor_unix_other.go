//go:build unix && !linux

package supervisor

import (
	"errors"
	"syscall"
	"time"
)

// janitorSweep ends the registered process groups of the Tether that is
// gone: SIGTERM, a grace period, SIGKILL. Without /proc, processes that left
// their group are not found and start times are not checked.
func janitorSweep(_ string, groups map[int]uint64, grace time.Duration) (int, error) {
	signalAll := func(sig syscall.Signal) int {
		n := 0
		for pgid := range groups {
			if err := syscall.Kill(-pgid, sig); !errors.Is(err, syscall.ESRCH) {
				n++
			}
		}
		return n
	}
	return stopAll(signalAll, grace)
}
