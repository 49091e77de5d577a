//go:build unix

package supervisor

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The janitor is this binary re-executed with janitorEnv naming the marker
// variable of the Tether it cleans up after. Its stdin is a pipe whose only
// writer is that Tether, which writes a line per child: "+PGID START" when
// it starts one, "-PGID" when its tree is gone. EOF means Tether is gone.
const (
	janitorEnv      = "TETHER_SUPERVISOR_JANITOR"
	janitorGraceEnv = "TETHER_SUPERVISOR_JANITOR_GRACE"
)

// janitorReady is what the janitor writes on stdout once it is guarding.
const janitorReady = "ready\n"

// janitorStartTimeout bounds how long Init waits for the janitor.
const janitorStartTimeout = 10 * time.Second

// janitorLink is Tether's end of the janitor's pipe.
type janitorLink struct {
	pid int
	log *slog.Logger

	mu     sync.Mutex
	w      *os.File
	broken bool
}

var janitor atomic.Pointer[janitorLink]

// The janitor starts with the first child, not at Init, so that a Tether
// that runs no child (mock backend only, --version) runs no janitor either.
var (
	janitorOpts atomic.Pointer[Options] // set by Init unless NoJanitor
	janitorOnce sync.Once
)

// ensureJanitor starts the janitor before the first child, if Init asked
// for one; Start calls it. Concurrent first Starts wait until it guards.
func ensureJanitor() {
	opts := janitorOpts.Load()
	if opts == nil {
		return
	}
	janitorOnce.Do(func() {
		if err := startJanitor(*opts); err != nil {
			opts.Log.Warn("no janitor: children will live on if Tether is killed", "err", err)
		}
	})
}

// startJanitor starts the janitor and a goroutine that waits for it (it
// ends only after we do, unless something kills it).
func startJanitor(opts Options) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	r, w, err := os.Pipe() // close-on-exec: no child inherits the write end
	if err != nil {
		return err
	}
	cmd := exec.Command(exe)
	cmd.Args = []string{"tether-janitor"}
	cmd.Env = append(os.Environ(),
		janitorEnv+"="+markerName(),
		janitorGraceEnv+"="+opts.JanitorGrace.String())
	cmd.Dir = "/"
	cmd.Stdin = r
	if opts.JanitorStderr != nil {
		cmd.Stderr = opts.JanitorStderr
	}
	// Its own group, so a ^C for the terminal's foreground group misses it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	readyR, readyW, err := os.Pipe()
	if err != nil {
		r.Close()
		w.Close()
		return err
	}
	cmd.Stdout = readyW
	err = cmd.Start()
	r.Close()
	readyW.Close()
	if err != nil {
		readyR.Close()
		w.Close()
		return err
	}
	// Wait until it is guarding (its signals ignored), so that nothing
	// Tether starts afterwards is unguarded.
	_ = readyR.SetReadDeadline(time.Now().Add(janitorStartTimeout))
	ready := make([]byte, len(janitorReady))
	_, err = io.ReadFull(readyR, ready)
	readyR.Close()
	if err != nil || string(ready) != janitorReady {
		_ = cmd.Process.Kill()
		w.Close()
		_ = cmd.Wait()
		return fmt.Errorf("the janitor did not start: %q, %v", ready, err)
	}
	link := &janitorLink{pid: cmd.Process.Pid, log: opts.Log, w: w}
	janitor.Store(link)
	go func() {
		err := cmd.Wait()
		link.fail(fmt.Errorf("janitor ended: %v", err))
	}()
	return nil
}

// janitorPid is the janitor's pid, or 0.
func janitorPid() int {
	if l := janitor.Load(); l != nil {
		return l.pid
	}
	return 0
}

func janitorRegister(pgid int, start uint64) {
	if l := janitor.Load(); l != nil {
		l.write(fmt.Sprintf("+%d %d\n", pgid, start))
	}
}

func janitorUnregister(pgid int) {
	if l := janitor.Load(); l != nil {
		l.write(fmt.Sprintf("-%d\n", pgid))
	}
}

func (l *janitorLink) write(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.broken {
		return
	}
	if _, err := l.w.WriteString(line); err != nil {
		l.failLocked(err)
	}
}

func (l *janitorLink) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failLocked(err)
}

func (l *janitorLink) failLocked(err error) {
	if !l.broken {
		l.broken = true
		l.log.Warn("the janitor is gone: children will not be cleaned up if Tether is killed", "err", err)
	}
}

// RunJanitorIfAsked runs the janitor and exits when this process was
// started as one, and returns at once otherwise. Init calls it; a TestMain
// whose test binary calls Init (or runs code that does) calls it first.
func RunJanitorIfAsked() {
	name := os.Getenv(janitorEnv)
	if name == "" {
		return
	}
	grace, err := time.ParseDuration(os.Getenv(janitorGraceEnv))
	if err != nil || grace <= 0 {
		grace = 2 * time.Second
	}
	os.Exit(runJanitor(name, grace))
}

// runJanitor follows the registrations on stdin until EOF, then ends what
// is left of Tether's children.
func runJanitor(name string, grace time.Duration) int {
	// Tether's terminal and a pkill aimed at Tether must not end us first.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE)
	os.Stdout.WriteString(janitorReady)
	os.Stdout.Close()
	groups := make(map[int]uint64) // pgid → its leader's start time
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "+"):
			pgid, start, _ := strings.Cut(line[1:], " ")
			p, err1 := strconv.Atoi(pgid)
			s, err2 := strconv.ParseUint(start, 10, 64)
			if err1 == nil && err2 == nil {
				groups[p] = s
			}
		case strings.HasPrefix(line, "-"):
			if p, err := strconv.Atoi(line[1:]); err == nil {
				delete(groups, p)
			}
		}
	}
	ended, err := janitorSweep(name, groups, grace)
	if ended > 0 {
		fmt.Fprintf(os.Stderr, "tether janitor: Tether is gone; ended %d processes it left\n", ended)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "tether janitor: %v\n", err)
		return 1
	}
	return 0
}

// stopAll is the janitor's ladder over what signalAll reaches (it sends
// sig to each process or group left and returns how many it reached; sig 0
// only counts them): SIGTERM, grace for them to exit, then SIGKILL until
// none is left or killWait has passed. It returns how many it found.
func stopAll(signalAll func(sig syscall.Signal) int, grace time.Duration) (int, error) {
	found := signalAll(syscall.SIGTERM)
	if found == 0 {
		return 0, nil
	}
	if untilNone(grace, func() int { return signalAll(0) }) {
		return found, nil
	}
	if !untilNone(killWait, func() int { return signalAll(syscall.SIGKILL) }) {
		return found, fmt.Errorf("%w", ErrSurvived)
	}
	return found, nil
}

// untilNone calls count until it returns 0 or d has passed, polling with
// back-off, and reports whether it reached 0.
func untilNone(d time.Duration, count func() int) bool {
	deadline := time.Now().Add(d)
	poll := pollMin
	for {
		if count() == 0 {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(poll)
		poll = min(2*poll, pollMax)
	}
}
