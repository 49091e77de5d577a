package supervisor

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// seq numbers the children of this process, for their markers.
var seq atomic.Uint64

// Start runs cfg.Path in a new process group and starts reading its output:
// New(cfg).Start(). On error nothing is left running.
func Start(cfg Config) (*Process, error) {
	p := New(cfg)
	if err := p.Start(); err != nil {
		return nil, err
	}
	return p, nil
}

// New returns a Process for cfg that is not started yet, for an owner whose
// callbacks use the Process (OnLine answering the child with Send, say): it
// stores the Process where they find it, then calls Start.
func New(cfg Config) *Process {
	cfg = cfg.withDefaults()
	return &Process{
		cfg:      cfg,
		name:     cfg.Name,
		log:      cfg.Log,
		exited:   make(chan struct{}),
		stopping: make(chan struct{}),
		hurry:    make(chan struct{}),
		stopped:  make(chan struct{}),
	}
}

// Start starts the child in a new process group and starts reading its
// output. It may be called once, and the other methods only after it has
// returned nil (Stop and Kill return nil at once on a Process that never
// started). On error nothing is left running.
func (p *Process) Start() error {
	cfg := p.cfg
	switch {
	case !p.startBegun.CompareAndSwap(false, true):
		return errors.New("supervisor: Start called twice")
	case cfg.Path == "":
		return errors.New("supervisor: Config.Path is empty")
	case cfg.OnLine == nil:
		return errors.New("supervisor: Config.OnLine is nil")
	}
	name := p.name
	p.marker = fmt.Sprintf("%s=%d", markerName(), seq.Add(1))

	var files []*os.File // every pipe end, closed on error
	closeAll := func() {
		for _, f := range files {
			f.Close()
		}
	}
	pipe := func() (r, w *os.File, err error) {
		if r, w, err = os.Pipe(); err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	inR, inW, err := pipe()
	if err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	outR, outW, err := pipe()
	if err != nil {
		closeAll()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	errR, errW, err := pipe()
	if err != nil {
		closeAll()
		return fmt.Errorf("starting %s: %w", name, err)
	}

	cmd := exec.Command(cfg.Path, cfg.Args...)
	cmd.Dir = cfg.Dir
	cmd.Env = withMarker(cfg.Env, p.marker)
	// *os.File ends go to the child as they are: exec starts no copier.
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	ensureJanitor()
	if err := startCommand(cmd); err != nil {
		closeAll()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	// The child has its own copies now; ours would keep the pipes open.
	inR.Close()
	outW.Close()
	errW.Close()

	p.cmd = cmd
	p.pid = cmd.Process.Pid
	p.stdin = inW
	p.stdout = &pipeReader{f: outR, delay: cfg.WaitDelay}
	p.stderr = &pipeReader{f: errR, delay: cfg.WaitDelay}
	p.tail = newStderrTail(stderrTailSize, name, cfg.Log)
	// Not yet waited for, so the pid still names the child (or its zombie).
	p.start = startTime(p.pid)
	p.tree = newTree(p)
	p.started.Store(true)
	live.Add(1)
	janitorRegister(p.pid, p.start)
	p.log.Debug("process started", "name", name, "pid", p.pid, "args", cfg.Args, "dir", cfg.Dir)

	p.wg.Add(3)
	go p.wait()
	go p.readStdout()
	go p.readStderr()
	return nil
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = filepath.Base(c.Path)
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.MaxLine <= 0 {
		c.MaxLine = DefaultMaxLine
	}
	if c.Grace <= 0 {
		c.Grace = DefaultGrace
	}
	if c.WaitDelay <= 0 {
		c.WaitDelay = DefaultWaitDelay
	}
	return c
}

// wait is the waiter goroutine: the only caller of Wait.
func (p *Process) wait() {
	defer p.wg.Done()
	err := p.cmd.Wait()
	p.exitTick = nowTick()
	p.state, p.waitErr = p.cmd.ProcessState, err
	// From now on a reader that waits WaitDelay for nothing gives up.
	p.stdout.childExited()
	p.stderr.childExited()
	close(p.exited)
	p.log.Debug("process exited", "name", p.name, "pid", p.pid, "status", p.ExitStatus())
	if p.cfg.OnExit != nil {
		p.cfg.OnExit(p)
	}
}

// pipeReader is one output pipe. Before the child exits, Read blocks for as
// long as it takes; after, each Read waits at most delay for data, so a
// descendant that holds the pipe open cannot keep its reader forever.
type pipeReader struct {
	f     *os.File
	delay time.Duration

	mu     sync.Mutex // orders childExited's deadline before Read's
	exited bool
}

var _ io.Reader = (*pipeReader)(nil)

func (r *pipeReader) Read(b []byte) (int, error) {
	r.mu.Lock()
	if r.exited {
		// Errors mean deadlines are unsupported (non-unix): unbounded.
		_ = r.f.SetReadDeadline(time.Now().Add(r.delay))
	}
	r.mu.Unlock()
	return r.f.Read(b)
}

// childExited bounds a Read that is already waiting.
func (r *pipeReader) childExited() {
	r.mu.Lock()
	r.exited = true
	_ = r.f.SetReadDeadline(time.Now().Add(r.delay))
	r.mu.Unlock()
}
