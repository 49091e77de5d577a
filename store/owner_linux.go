package store

import (
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// currentOwner is this process: its pid and its start time from /proc.
func currentOwner() owner {
	pid := os.Getpid()
	start, _ := procStart(pid)
	return owner{pid: pid, start: start}
}

// alive reports whether o's process still runs: a process with o's pid
// exists and, when o has a start time, started then. When /proc cannot
// tell (hidden by hidepid), the process counts as alive: taking a live
// session over is worse than refusing a stale one.
func (o owner) alive() bool {
	start, err := procStart(o.pid)
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err != nil || o.start == "" {
		return true
	}
	return start == o.start
}

// procStart reads a process's start time (field 22 of /proc/PID/stat,
// clock ticks since boot).
func procStart(pid int) (string, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	// The command name (field 2) is in parentheses and may hold spaces
	// and parentheses itself; the fields after the last ')' are plain.
	end := strings.LastIndexByte(string(stat), ')')
	if end < 0 {
		return "", errors.New("unreadable /proc stat")
	}
	fields := strings.Fields(string(stat[end+1:]))
	const startField = 22 - 3 // fields 3.. follow the name
	if len(fields) <= startField {
		return "", errors.New("unreadable /proc stat")
	}
	return fields[startField], nil
}
