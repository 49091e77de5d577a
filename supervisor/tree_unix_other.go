//go:build unix && !linux

package supervisor

import (
	"errors"
	"os/exec"
	"syscall"
)

// Without /proc the tree is the child's process group: kill(-pgid) reaches
// every member, a zombie cannot be told from a live process, start times are
// not checked, and descendants that leave the group are not found.

type tree struct{}

func newTree(*Process) tree { return tree{} }

func startTime(int) uint64 { return 0 }

func nowTick() uint64 { return 0 }

// signalTree sends s to the child's group and returns 1 while the group
// exists, 0 once it is gone.
func (p *Process) signalTree(s treeSignal) int {
	if err := syscall.Kill(-p.pid, unixSignal(s)); errors.Is(err, syscall.ESRCH) {
		return 0
	}
	return 1
}

// startCommand starts cmd in a process group of its own.
func startCommand(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.Start()
}
