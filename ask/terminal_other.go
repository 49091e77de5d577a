//go:build !linux

package ask

import (
	"errors"
	"os"
)

// terminalInput fails: without the terminal ioctls of Linux, tether ask
// does not prompt, and permissions come from --allow and --deny-all.
func terminalInput(*os.File) (*os.File, func(), error) {
	return nil, nil, errors.New("interactive prompts need Linux")
}
