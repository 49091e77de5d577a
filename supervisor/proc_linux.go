//go:build linux

package supervisor

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"syscall"
)

// procInfo is what the supervisor reads of /proc/PID/stat.
type procInfo struct {
	pid, ppid, pgid int
	state           byte
	start           uint64 // clock ticks after boot
}

// alive is false for a zombie: it runs nothing, and only a wait ends it.
func (p procInfo) alive() bool { return p.state != 'Z' && p.state != 'X' }

// parseStat reads /proc/PID/stat: "pid (comm) state ppid pgrp session tty
// tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
// priority nice threads itrealvalue starttime ...". comm may hold spaces and
// parentheses, so the fields are counted from the last ')'.
func parseStat(b []byte) (procInfo, bool) {
	open := bytes.IndexByte(b, '(')
	close := bytes.LastIndexByte(b, ')')
	if open < 1 || close < open {
		return procInfo{}, false
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return procInfo{}, false
	}
	f := bytes.Fields(b[close+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return procInfo{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgid, err2 := strconv.Atoi(string(f[2]))
	start, err3 := strconv.ParseUint(string(f[19]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procInfo{}, false
	}
	return procInfo{pid: pid, ppid: ppid, pgid: pgid, state: f[0][0], start: start}, true
}

// readStat reads pid's stat; false when it is gone.
func readStat(pid int) (procInfo, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	return parseStat(b)
}

// startTime is pid's start time, or 0 when it cannot be read.
func startTime(pid int) uint64 {
	info, _ := readStat(pid)
	return info.start
}

// ticksPerSecond is the unit of start times (USER_HZ, 100 on every
// architecture Go supports).
const ticksPerSecond = 100

// nowTick is the time since boot in the unit of start times, rounded up.
func nowTick() uint64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	secs, _, _ := bytes.Cut(b, []byte{' '})
	whole, frac, _ := bytes.Cut(secs, []byte{'.'})
	w, err := strconv.ParseUint(string(whole), 10, 64)
	if err != nil {
		return 0
	}
	ticks := w * ticksPerSecond
	if len(frac) >= 2 {
		if f, err := strconv.ParseUint(string(frac[:2]), 10, 64); err == nil {
			ticks += f
		}
	}
	return ticks + 1
}

// listProcs reads every process that started at or after minStart (a
// descendant never started before its ancestor).
func listProcs(minStart uint64) []procInfo {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	procs := make([]procInfo, 0, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if info, ok := readStat(pid); ok && info.start >= minStart {
			procs = append(procs, info)
		}
	}
	return procs
}

// environHas reports whether pid's environment (as it was at exec) has an
// entry for which match is true. Another user's process cannot be read, and
// has no entry.
func environHas(pid int, match func(entry []byte) bool) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return false
	}
	for len(b) > 0 {
		entry, rest, _ := bytes.Cut(b, []byte{0})
		if match(entry) {
			return true
		}
		b = rest
	}
	return false
}

// collectTree picks out of procs the processes of one tree: those seed
// accepts, those seen holds (same pid and start time), those whose
// environment envMatch accepts, and the descendants of all of these (a
// child started no earlier than its parent). It adds them all to seen.
// Zombies are included, since their children still hang from them.
func collectTree(procs []procInfo, seed func(procInfo) bool, envMatch func([]byte) bool, seen map[int]uint64) []procInfo {
	in := make(map[int]procInfo)
	children := make(map[int][]procInfo)
	var queue []procInfo
	add := func(p procInfo) {
		if _, ok := in[p.pid]; !ok {
			in[p.pid] = p
			queue = append(queue, p)
		}
	}
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p)
		if start, ok := seen[p.pid]; (ok && start == p.start) || seed(p) {
			add(p)
		}
	}
	descend := func() {
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			for _, c := range children[p.pid] {
				if c.start >= p.start {
					add(c)
				}
			}
		}
	}
	descend()
	if envMatch != nil {
		for _, p := range procs {
			if _, ok := in[p.pid]; !ok && environHas(p.pid, envMatch) {
				add(p)
			}
		}
		descend()
	}
	tree := make([]procInfo, 0, len(in))
	for _, p := range procs {
		if _, ok := in[p.pid]; ok {
			tree = append(tree, p)
			seen[p.pid] = p.start
		}
	}
	return tree
}

// errReused means a pid now names another process than the one seen.
var errReused = errors.New("pid reused by another process")

// signalIfSame sends sig (0: none) to pid if it is still the process that
// started at start, and reports whether that process is alive. The process
// is pinned with a pidfd (os.FindProcess opens one) before its start time
// is read, so if it checks out, the signal reaches it and never a process
// that reused its pid. (Without pidfds, before Linux 5.3, a window of
// microseconds remains between the check and the signal.)
func signalIfSame(pid int, start uint64, sig syscall.Signal) (alive bool, err error) {
	proc, err := os.FindProcess(pid)
	if err != nil {
		return false, nil
	}
	defer proc.Release()
	info, ok := readStat(pid)
	switch {
	case !ok:
		return false, nil
	case info.start != start:
		return false, errReused
	case !info.alive():
		return false, nil
	case sig == 0:
		return true, nil
	}
	if err := proc.Signal(sig); err != nil {
		if errors.Is(err, os.ErrProcessDone) {
			return false, nil
		}
		return true, err
	}
	return true, nil
}
