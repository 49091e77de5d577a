//go:build unix

package claude

import (
	"errors"
	"syscall"
)

// groupAlive reports whether any process of group pgid is still running.
// Zombies do not count: they run nothing, and an orphaned one is reaped by
// init (or Tether's subreaper), not by the test.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return groupHasLiveMember(pgid)
}
