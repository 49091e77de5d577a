//go:build linux

package supervisor

import (
	"errors"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requireSubreaper fails the test when Init could not make this process a
// subreaper (Linux before 5.4).
func requireSubreaper(t *testing.T) {
	t.Helper()
	require.NotNil(t, reaperKick.Load(), "TestMain's Init did not enable the subreaper")
}

func TestOrphansAreAdoptedAndReaped(t *testing.T) {
	requireSubreaper(t)
	// The child exits at once; its setsid'ed grandchild notices it was
	// re-parented and exits too, leaving a zombie only we can reap.
	p, rec := startFake(t, Config{}, "spawn", "orphan", "exit")
	pids := rec.until(t, "ready")
	require.Len(t, pids["grandchild"], 1)
	gc := pids["grandchild"][0]
	info, ok := readStat(gc)
	require.True(t, ok)
	<-p.Exited()

	eventually(t, "the orphan is re-parented to us", func() bool {
		now, ok := readStat(gc)
		return !ok || now.start != info.start || now.ppid == os.Getpid()
	})
	eventually(t, "the orphan's zombie is reaped", func() bool {
		now, ok := readStat(gc)
		return !ok || now.start != info.start
	})
	require.NoError(t, stopWithin(t, t.Context(), p))
}

func TestReaperNeverTakesAnExecChildsExitStatus(t *testing.T) {
	requireSubreaper(t)
	// Children started with plain os/exec exit while the reaper is kicked
	// as often as it can run; each Wait must still see its own status.
	stop := make(chan struct{})
	var kicker sync.WaitGroup
	kicker.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				kickReaper()
				time.Sleep(time.Millisecond)
			}
		}
	})
	defer func() {
		close(stop)
		kicker.Wait()
	}()

	fake := fakeConfig("exit", "7")
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			cmd := exec.Command(fake.Path, fake.Args...)
			cmd.Env = fake.Env
			err := cmd.Run()
			var exit *exec.ExitError
			if assert.True(t, errors.As(err, &exit), "Wait: %v", err) {
				assert.Equal(t, 7, exit.ExitCode())
			}
		})
	}
	wg.Wait()
}
