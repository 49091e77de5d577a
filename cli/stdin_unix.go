//go:build unix

package cli

import (
	"io"
	"os"
	"sync"
	"syscall"
)

// pollable returns stdin in a form whose Close wakes a Read in progress, so
// that Serve can wait for its read loop even when the client never closes
// its end: a descriptor in non-blocking mode goes through Go's poller. The
// flag belongs to the open file, which a terminal shares with the shell, so
// it is cleared again on Close, and by restore (for the paths that never
// close stdin), before Tether exits. Anything but os.Stdin (a pipe in
// tests) is returned as it is.
func pollable(in io.ReadCloser) (io.ReadCloser, func()) {
	f, ok := in.(*os.File)
	if !ok || f != os.Stdin {
		return in, func() {}
	}
	fd := int(f.Fd())
	if err := syscall.SetNonblock(fd, true); err != nil {
		return in, func() {}
	}
	p := &pollableStdin{File: os.NewFile(uintptr(fd), "stdin"), fd: fd}
	return p, p.restore
}

type pollableStdin struct {
	*os.File
	fd   int
	once sync.Once
}

func (p *pollableStdin) restore() {
	p.once.Do(func() { _ = syscall.SetNonblock(p.fd, false) })
}

func (p *pollableStdin) Close() error {
	p.restore()
	return p.File.Close()
}
