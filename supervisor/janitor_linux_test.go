//go:build linux

package supervisor

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type ident struct {
	what  string
	pid   int
	start uint64
}

// startTetherlike starts a fake Tether (Init, two children with
// grandchildren, one setsid'ed) and returns it with what it reported.
func startTetherlike(t *testing.T, args ...string) (*Process, []ident) {
	t.Helper()
	p, rec := startFake(t, Config{Grace: 100 * time.Millisecond}, "tetherlike", args...)
	var family []ident
	for what, pids := range rec.until(t, "ready") {
		for _, pid := range pids {
			info, ok := readStat(pid)
			require.True(t, ok && info.alive(), "%s %d is not running", what, pid)
			family = append(family, ident{what, pid, info.start})
		}
	}
	return p, family
}

func count(family []ident, what string) int {
	n := 0
	for _, m := range family {
		if m.what == what {
			n++
		}
	}
	return n
}

func TestTetherKilledLeavesNothing(t *testing.T) {
	tether, family := startTetherlike(t)
	require.Equal(t, 1, count(family, "janitor"))
	require.Equal(t, 2, count(family, "child"))
	require.Equal(t, 2, count(family, "grandchild"))
	// A bystander of the same user that is none of that Tether's business.
	bystander, rec := startFake(t, Config{Grace: 100 * time.Millisecond}, "ignore-term")
	require.Equal(t, "ready", rec.next(t))

	require.NoError(t, syscall.Kill(tether.Pid(), syscall.SIGKILL))
	<-tether.Exited()
	eventually(t, "every child, grandchild and the janitor gone", func() bool {
		for _, m := range family {
			if aliveAs(m.pid, m.start) {
				return false
			}
		}
		return true
	})
	assert.False(t, bystander.HasExited(), "the janitor hit a process that was not its Tether's")
}

func TestTetherKilledWithoutJanitorStillEndsItsChildren(t *testing.T) {
	// The parent-death signal alone: the children go, their own children
	// are the janitor's job (and here the test's cleanup).
	tether, family := startTetherlike(t, "NOJANITOR")
	require.Equal(t, 0, count(family, "janitor"))
	require.Equal(t, 2, count(family, "child"))

	require.NoError(t, syscall.Kill(tether.Pid(), syscall.SIGKILL))
	<-tether.Exited()
	eventually(t, "both children gone", func() bool {
		for _, m := range family {
			if m.what == "child" && aliveAs(m.pid, m.start) {
				return false
			}
		}
		return true
	})
}

func TestATetherWithoutChildrenHasNoJanitor(t *testing.T) {
	p, rec := startFake(t, Config{Grace: 100 * time.Millisecond}, "tetherlike", "IDLE")
	assert.Equal(t, map[string][]int{"janitor": {0}}, rec.until(t, "ready"))
	require.NoError(t, stopWithin(t, t.Context(), p))
}

func TestJanitorIgnoresTheSignalsAimedAtTether(t *testing.T) {
	// ^C at a terminal or a pkill of Tether must not take the janitor
	// first: it would leave nobody to clean up.
	tether, family := startTetherlike(t)
	var janitor ident
	for _, m := range family {
		if m.what == "janitor" {
			janitor = m
		}
	}
	require.NotZero(t, janitor.pid)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM} {
		require.NoError(t, syscall.Kill(janitor.pid, sig), fmt.Sprint(sig))
	}
	// kill may return before the janitor has handled them; that it still
	// does its job afterwards is the proof it survived them.
	require.NoError(t, syscall.Kill(tether.Pid(), syscall.SIGKILL))
	<-tether.Exited()
	eventually(t, "the grandchildren gone", func() bool {
		for _, m := range family {
			if m.what == "grandchild" && aliveAs(m.pid, m.start) {
				return false
			}
		}
		return true
	})
}
