//go:build !linux

// Package term answers the two questions Tether's command line asks of a
// terminal: is this file one, and how wide is it. Linux only, through the
// terminal's own ioctls; elsewhere nothing is a terminal.
package term

import "os"

// IsTerminal reports false: without the terminal ioctls of Linux, Tether
// treats every file as a pipe.
func IsTerminal(*os.File) bool { return false }

// Width returns 0: unknown.
func Width(*os.File) int { return 0 }
