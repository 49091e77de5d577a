//go:build linux

// Package term answers the two questions Tether's command line asks of a
// terminal: is this file one, and how wide is it. Linux only, through the
// terminal's own ioctls; elsewhere nothing is a terminal.
package term

import (
	"os"
	"syscall"
	"unsafe"
)

// IsTerminal reports whether f is a terminal: whether it answers the
// terminal's own ioctl (a character device such as /dev/null does not).
func IsTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}

// Width returns the number of columns of the terminal f, or 0 when f is
// not a terminal or does not say.
func Width(f *os.File) int {
	var ws struct{ row, col, xpixel, ypixel uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TIOCGWINSZ, uintptr(unsafe.Pointer(&ws)))
	if errno != 0 {
		return 0
	}
	return int(ws.col)
}
