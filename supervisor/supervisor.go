package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of [Config].
const (
	DefaultMaxLine   = 64 << 20
	DefaultGrace     = 5 * time.Second
	DefaultWaitDelay = 5 * time.Second
)

// stderrTailSize is how much of a child's stderr is kept for error messages.
const stderrTailSize = 64 << 10

var (
	// ErrStopped means the child's input is closed: Stop or CloseStdin was
	// called.
	ErrStopped = errors.New("input closed")
	// ErrSurvived means processes of a child's tree were still alive after
	// SIGKILL and its bounded wait.
	ErrSurvived = errors.New("processes survived SIGKILL")
	// ErrOutputHeld means a reader stopped reading because, after the child
	// exited, its output pipe stayed open (a descendant holds it) with
	// nothing written for WaitDelay.
	ErrOutputHeld = errors.New("output held open after the process exited")
)

// Config says what to run and who receives its output.
type Config struct {
	// Name names the child in logs and errors ("claude"); default the base
	// name of Path.
	Name string
	Path string   // the program; looked up in PATH when it has no slash
	Args []string // the arguments, without the program name
	Dir  string   // the working directory; "" is Tether's
	// Env is the child's environment; nil is Tether's. The supervisor adds
	// its marker variable to it.
	Env []string
	Log *slog.Logger // nil: slog.Default()

	// OnLine receives each line of stdout, without its '\n', in order, on
	// the stdout reader goroutine. line is only valid until OnLine returns.
	// OnLine must not call Stop or Kill, and must not block forever: Stop
	// waits for it (select on [Process.Stopping]). Required.
	OnLine func(line []byte)
	// OnLongLine is told the size of each line above MaxLine, which was
	// dropped (and logged). Optional; called on the stdout reader goroutine.
	OnLongLine func(size int64)
	// OnStdoutEnd is called once, after the last OnLine, with nil at EOF,
	// ErrOutputHeld, or a read error. Optional; on the stdout reader
	// goroutine, and like OnLine it must not call Stop or Kill.
	OnStdoutEnd func(err error)
	// OnExit is called once when the child has exited and been waited for,
	// on the waiter goroutine (ExitStatus is final). It must not call Stop
	// or Kill. Optional.
	OnExit func(p *Process)

	// MaxLine bounds the length of a stdout line; default DefaultMaxLine.
	MaxLine int
	// Grace is how long each rung of the stop ladder waits; default
	// DefaultGrace.
	Grace time.Duration
	// WaitDelay is how long, after the child exited, a reader waits for
	// more output on a pipe a descendant still holds; default
	// DefaultWaitDelay.
	WaitDelay time.Duration
}

// Process is one child, run in its own process group.
//
// Goroutines: Start starts three (the stdout reader, the stderr reader and
// the waiter, see the package doc) and Stop or Kill waits for all of them.
// The owner must call Stop or Kill once it no longer wants the child, even
// after the child exited by itself: that ends its descendants and releases
// its goroutines. Once Start has returned, every method is safe for
// concurrent use.
type Process struct {
	cfg    Config
	name   string
	log    *slog.Logger
	cmd    *exec.Cmd
	pid    int // also the process group id
	start  uint64
	marker string // the marker entry "NAME=n" in the child's environment

	stdinMu     sync.Mutex // serialises writes, so lines never interleave
	stdin       *os.File
	stdinClosed atomic.Bool

	stdout *pipeReader
	stderr *pipeReader
	tail   *stderrTail

	exited   chan struct{} // closed by the waiter after Wait
	state    *os.ProcessState
	waitErr  error
	exitTick uint64 // clock ticks since boot when Wait returned (Linux)

	stopping  chan struct{} // closed when Stop or Kill begins (by the ladder)
	hurry     chan struct{} // closed when the ladder must skip to SIGKILL
	hurryOnce sync.Once
	stopBegun atomic.Bool
	stopped   chan struct{} // closed when the ladder is done; stopErr is set
	stopErr   error
	tree      tree // the platform's view of the child's descendants
	wg        sync.WaitGroup

	startBegun atomic.Bool
	started    atomic.Bool // Start succeeded
}

// Pid is the child's process id, which is also its process group id.
func (p *Process) Pid() int { return p.pid }

// Exited is closed once the child has exited and been waited for.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Stopping is closed when Stop or Kill begins, so that an OnLine blocked
// handing a line on can give up.
func (p *Process) Stopping() <-chan struct{} { return p.stopping }

// HasExited reports whether the child has exited and been waited for.
func (p *Process) HasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// ExitStatus describes how the child ended ("exit status 1", "signal:
// killed"), or is "running" (or "not started").
func (p *Process) ExitStatus() string {
	if !p.started.Load() {
		return "not started"
	}
	if !p.HasExited() {
		return "running"
	}
	if p.state != nil {
		return p.state.String()
	}
	if p.waitErr != nil {
		return p.waitErr.Error()
	}
	return "exited"
}

// State is the child's exit state, or nil while it runs.
func (p *Process) State() *os.ProcessState {
	if !p.HasExited() {
		return nil
	}
	return p.state
}

// StderrTail is the last 64 KiB of the child's stderr (from a rune
// boundary), for error messages.
func (p *Process) StderrTail() string {
	if !p.started.Load() {
		return ""
	}
	return p.tail.String()
}

// Send writes line to the child's stdin, adding a '\n' when line does not end
// with one (include it to save a write). Lines from concurrent callers never
// interleave. A Send blocked on a child that does not read is ended by
// CloseStdin, Stop or Kill.
func (p *Process) Send(line []byte) error {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if !p.started.Load() || p.stdinClosed.Load() {
		return ErrStopped
	}
	_, err := p.stdin.Write(line)
	if err == nil && (len(line) == 0 || line[len(line)-1] != '\n') {
		_, err = p.stdin.Write(newline)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, os.ErrClosed):
		return ErrStopped
	default:
		return fmt.Errorf("writing to %s: %w", p.name, err)
	}
}

var newline = []byte{'\n'}

// CloseStdin ends the child's input, which asks a well-behaved child to
// finish and exit. It does not wait for the lock Send holds, so it also ends
// a Send blocked on a full pipe.
func (p *Process) CloseStdin() {
	if p.started.Load() && p.stdinClosed.CompareAndSwap(false, true) {
		p.stdin.Close()
	}
}

// live counts the processes started and not yet stopped.
var live atomic.Int64

// Live is the number of children started in this process whose Stop or Kill
// has not yet returned, whether or not they have exited: what a registry
// bounding live backend processes counts.
func Live() int { return int(live.Load()) }
