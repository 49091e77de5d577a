//go:build linux

package ask

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// terminalInput returns a pollable copy of the terminal f, so that a read
// waiting for the user's answer can be woken by a deadline when the
// question is withdrawn; a blocking descriptor cannot be woken at all. The
// non-blocking flag belongs to the terminal's open file, which the shell
// shares: restore clears it again, and must be called before the process
// ends, however it ends. restore may be called more than once.
func terminalInput(f *os.File) (in *os.File, restore func(), err error) {
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		return nil, nil, fmt.Errorf("duplicating the terminal: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, nil, fmt.Errorf("making the terminal pollable: %w", err)
	}
	in = os.NewFile(uintptr(fd), f.Name())
	var once sync.Once
	return in, func() {
		once.Do(func() {
			_ = syscall.SetNonblock(fd, false)
			in.Close()
		})
	}, nil
}
