//go:build unix

package claude

import (
	"errors"
	"os/exec"
	"syscall"
	"time"
)

const (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// setProcessGroup puts the CLI in a new process group whose id is its pid,
// so the stop ladder reaches every process it spawned (tool commands, MCP
// servers), not only the CLI.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends sig to every process of group pgid. A group that is gone
// already is not an error worth reporting.
func signalGroup(pgid int, sig syscall.Signal) {
	_ = syscall.Kill(-pgid, sig)
}

// groupRemainsPoll is how often killGroupRemains looks whether the group is
// gone; the processes are not our children, so there is nothing to wait on.
const groupRemainsPoll = 10 * time.Millisecond

// groupRemainsTimeout bounds how long killGroupRemains waits after SIGKILL.
const groupRemainsTimeout = 5 * time.Second

// killGroupRemains kills whatever is left of group pgid after its leader has
// exited (a grandchild the CLI left behind) and waits until it is gone.
func killGroupRemains(pgid int) error {
	if !groupAlive(pgid) {
		return nil
	}
	signalGroup(pgid, syscall.SIGKILL)
	deadline := time.Now().Add(groupRemainsTimeout)
	for groupAlive(pgid) {
		if time.Now().After(deadline) {
			return errGroupSurvived
		}
		time.Sleep(groupRemainsPoll)
	}
	return nil
}

// groupAlive reports whether any process of group pgid is still running.
// Zombies do not count: they run nothing, and an orphaned one is reaped by
// init, not by us.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	return groupHasLiveMember(pgid)
}
