//go:build !linux

package ask

import (
	"errors"
	"os"
)

// isTerminal reports false: without the terminal ioctls of Linux, tether
// ask does not prompt, and permissions come from --allow and --deny-all.
func isTerminal(*os.File) bool { return false }

func terminalInput(*os.File) (*os.File, func(), error) {
	return nil, nil, errors.New("interactive prompts need Linux")
}
