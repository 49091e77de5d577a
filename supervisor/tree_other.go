//go:build !unix

package supervisor

import "os/exec"

// Without process groups the tree is the child alone: the ladder closes its
// input and then kills it; what it started may outlive it.

type tree struct{}

func newTree(*Process) tree { return tree{} }

func startTime(int) uint64 { return 0 }

func nowTick() uint64 { return 0 }

// signalTree kills the child for any rung but sigCheck (there is no
// SIGTERM) and returns 1 until it has exited.
func (p *Process) signalTree(s treeSignal) int {
	if p.HasExited() {
		return 0
	}
	if s != sigCheck {
		_ = p.cmd.Process.Kill()
	}
	return 1
}

func startCommand(cmd *exec.Cmd) error { return cmd.Start() }
