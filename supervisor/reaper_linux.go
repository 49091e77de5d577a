//go:build linux

package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER (linux/prctl.h).
const prSetChildSubreaper = 36

// reaperKick wakes the reaper; nil until Init made Tether a subreaper.
var reaperKick atomic.Pointer[chan struct{}]

// enableSubreaper makes this process a child subreaper and starts the
// reaper goroutine, which runs for the life of the process (once orphans
// can be re-parented to us, someone must reap them until we exit).
func enableSubreaper(log *slog.Logger) error {
	if !goHoldsChildPidfds() {
		return errors.New("os/exec holds no pidfd for its children here (Linux before 5.4?), so adopted orphans cannot be told from them; not a subreaper")
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGCHLD)
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); e != 0 {
		signal.Stop(sigs)
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", e)
	}
	kick := make(chan struct{}, 1)
	reaperKick.Store(&kick)
	go runReaper(sigs, kick, log)
	return nil
}

// kickReaper asks the reaper to look for zombies now.
func kickReaper() {
	if k := reaperKick.Load(); k != nil {
		select {
		case *k <- struct{}{}:
		default:
		}
	}
}

// runReaper is the reaper goroutine. It reaps on each SIGCHLD or kick, and
// looks again, backing off, while zombies it had to leave remain.
func runReaper(sigs <-chan os.Signal, kick <-chan struct{}, log *slog.Logger) {
	var retry <-chan time.Time
	backoff := 50 * time.Millisecond
	for {
		select {
		case <-sigs:
			backoff = 50 * time.Millisecond
		case <-kick:
			backoff = 50 * time.Millisecond
		case <-retry:
			backoff = min(2*backoff, 2*time.Second)
		}
		retry = nil
		if reapAdopted(log) {
			retry = time.After(backoff)
		}
	}
}

// reapAdopted reaps the zombies among our children that nothing else in
// this process will wait for: orphans re-parented to us. A child that an
// exec.Cmd (or os.Process) will wait for is one whose pidfd this process
// holds, so a zombie is reaped only when the pidfd the reaper pinned it with
// is the only one. It reports whether zombies were left for later (a pidfd
// held for a moment, by a signal being sent, looks the same as one held by
// a waiter).
func reapAdopted(log *slog.Logger) (again bool) {
	self := os.Getpid()
	type pinned struct {
		info procInfo
		proc *os.Process
	}
	var pins []pinned
	for _, q := range listProcs(0) {
		if q.ppid != self || q.alive() {
			continue
		}
		proc, err := os.FindProcess(q.pid)
		if err != nil {
			continue
		}
		// Pinned now; make sure it is still the zombie we listed.
		if info, ok := readStat(q.pid); !ok || info != q {
			proc.Release()
			continue
		}
		pins = append(pins, pinned{q, proc})
	}
	if len(pins) == 0 {
		return false
	}
	held := pidfdCounts()
	for _, pin := range pins {
		if held[pin.info.pid] != 1 {
			pin.proc.Release()
			again = true
			continue
		}
		state, err := pin.proc.Wait()
		if err != nil {
			log.Debug("reaping an orphan", "pid", pin.info.pid, "err", err)
			continue
		}
		log.Debug("reaped an orphan", "pid", pin.info.pid, "status", state.String())
	}
	return again
}

// pidfdCounts counts the pidfds this process holds, by the pid they name.
func pidfdCounts() map[int]int {
	counts := make(map[int]int)
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return counts
	}
	for _, e := range entries {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || !strings.Contains(link, "pidfd") {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(info), "\n") {
			if v, ok := strings.CutPrefix(line, "Pid:"); ok {
				if pid, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && pid > 0 {
					counts[pid]++
				}
			}
		}
	}
	return counts
}

// goHoldsChildPidfds reports whether the os package uses pidfds here: it
// does for FindProcess exactly when it does for the children it starts.
func goHoldsChildPidfds() bool {
	self := os.Getpid()
	proc, err := os.FindProcess(self)
	if err != nil {
		return false
	}
	defer proc.Release()
	return pidfdCounts()[self] > 0
}
