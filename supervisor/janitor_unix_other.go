//go:build unix && !linux

package supervisor

import (
	"errors"
	"fmt"
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
	found := signalAll(syscall.SIGTERM)
	if found == 0 {
		return 0, nil
	}
	if untilNone(grace, func() int { return signalAll(0) }) {
		return found, nil
	}
	if !untilNone(killWait, func() int { return signalAll(syscall.SIGKILL) }) {
		return found, fmt.Errorf("%w", ErrSurvived)
	}
	return found, nil
}
