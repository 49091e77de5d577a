//go:build !linux

package store

import (
	"errors"
	"os"
	"syscall"
)

// currentOwner is this process, by pid alone: other systems offer no
// portable start time.
func currentOwner() owner { return owner{pid: os.Getpid()} }

// alive reports whether a process with o's pid exists. Where the system
// cannot say (no signal 0 on Windows, no permission), it counts as alive:
// taking a live session over is worse than refusing a stale one.
func (o owner) alive() bool {
	p, err := os.FindProcess(o.pid)
	if err != nil {
		return false
	}
	defer p.Release()
	err = p.Signal(syscall.Signal(0))
	return !errors.Is(err, os.ErrProcessDone)
}
