//go:build linux

package supervisor

import (
	"os/exec"
	"runtime"
	"sync/atomic"
	"syscall"
)

// Linux sends a parent-death signal when the *thread* that forked the child
// exits, not the process, and the Go runtime ends a thread when a goroutine
// locked to it returns. Forking from whatever thread a goroutine runs on
// would let an unrelated goroutine's LockOSThread kill our children. So
// after Init every child is forked on one goroutine that locks its thread
// and never returns: the thread lives exactly as long as Tether.

// startRequest asks the starter goroutine to start cmd.
type startRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// starter is the starter goroutine's queue; nil until Init.
var starter atomic.Pointer[chan startRequest]

// runStarter starts the starter goroutine. It runs for the life of the
// process (its owner is the process: ending it would kill every child).
func runStarter() {
	reqs := make(chan startRequest)
	go func() {
		runtime.LockOSThread() // never unlocked, never returns
		for r := range reqs {
			r.done <- r.cmd.Start()
		}
	}()
	starter.Store(&reqs)
}

// startCommand starts cmd in a process group of its own; after Init, on the
// starter's thread with a parent-death SIGKILL.
func startCommand(cmd *exec.Cmd) error {
	attr := &syscall.SysProcAttr{Setpgid: true}
	cmd.SysProcAttr = attr
	reqs := starter.Load()
	if reqs == nil {
		return cmd.Start()
	}
	attr.Pdeathsig = syscall.SIGKILL
	done := make(chan error, 1)
	*reqs <- startRequest{cmd: cmd, done: done}
	return <-done
}
