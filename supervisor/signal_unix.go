//go:build unix

package supervisor

import "syscall"

// unixSignal is the signal for a rung; 0 for sigCheck.
func unixSignal(s treeSignal) syscall.Signal {
	switch s {
	case sigTerm:
		return syscall.SIGTERM
	case sigKill:
		return syscall.SIGKILL
	}
	return 0
}
