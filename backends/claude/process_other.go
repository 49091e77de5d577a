//go:build !unix

package claude

import (
	"os"
	"os/exec"
)

// Without process groups only the CLI itself can be signalled; what it
// spawned may survive it.

type signal int

const (
	sigTerm signal = iota
	sigKill
)

func setProcessGroup(*exec.Cmd) {}

func signalGroup(pid int, _ signal) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func killGroupRemains(int) error { return nil }

func groupAlive(int) bool { return false }
