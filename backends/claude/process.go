package claude

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tether-dev/tether/supervisor"
)

// process is one running claude CLI. The supervisor package owns the
// process itself: its own group, stdout drained until EOF, Wait called
// once, the stop ladder, descendants ended, a parent-death signal. What is
// claude's is the decoding of its lines into messages.
//
// Goroutines: the supervisor's (stdout reader, stderr reader, waiter),
// started by startProcess and waited for by stop. The stdout reader runs
// handleLine for each line: it decodes it and hands the message to
// whoever reads msgs (the conn's Query), and answers control requests
// nobody handles itself. msgs is closed after the last line.
//
// The owner (a conn) reads msgs only from the goroutine running Query, and
// calls stop once it no longer wants the process.
type process struct {
	sp     *supervisor.Process
	pid    int // also the process group id
	log    *slog.Logger
	msgs   chan message    // closed by the reader at the end of stdout
	exited <-chan struct{} // closed once the CLI has been waited for
	// stopping is closed when stop begins: the reader drops messages from
	// then on instead of waiting for a turn to take them.
	stopping <-chan struct{}
	dec      lineDecoder // used by the stdout reader only

	// announced is set once the process's slash commands were reported;
	// used only by the turn goroutine.
	announced bool
}

// startProcess starts the CLI at path with args in dir. grace is each rung
// of the stop ladder, and how long the CLI's stdout may stay open (held by
// a grandchild) once it has exited.
func startProcess(path string, args []string, dir string, env []string, grace time.Duration, log *slog.Logger) (*process, error) {
	p := &process{log: log, msgs: make(chan message)}
	// New, then Start: handleLine may send (a refused control request) as
	// soon as the first line arrives, so p.sp must be set before.
	p.sp = supervisor.New(supervisor.Config{
		Name:        "claude",
		Path:        path,
		Args:        args,
		Dir:         dir,
		Env:         env,
		Log:         log,
		OnLine:      p.handleLine,
		OnLongLine:  p.longLine,
		OnStdoutEnd: p.stdoutEnded,
		Grace:       grace,
		WaitDelay:   grace,
	})
	p.stopping = p.sp.Stopping()
	if err := p.sp.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	p.pid, p.exited = p.sp.Pid(), p.sp.Exited()
	log.Debug("claude started", "pid", p.pid, "args", args, "dir", dir)
	return p, nil
}

// longLine runs on the stdout reader for a line the supervisor skipped
// for its size: the turn is told, so the user learns that part of the
// agent's output is missing.
func (p *process) longLine(size int64) {
	p.log.Warn("claude wrote a line over the size limit; skipped", "bytes", size)
	m := message{Type: typeLongLine, Result: fmt.Sprintf(
		"claude wrote a line of %d bytes, over the %d MiB limit; skipped", size, supervisor.DefaultMaxLine>>20)}
	select {
	case p.msgs <- m:
	case <-p.stopping:
	}
}

func (p *process) stdoutEnded(err error) {
	if err != nil {
		p.log.Warn("reading claude stdout", "err", err)
	}
	close(p.msgs)
}

// send writes one message as a line on the CLI's stdin. It is safe for
// concurrent use (the reader answers control requests while Query writes).
func (p *process) send(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding message for claude: %w", err)
	}
	if err := p.sp.Send(line); err != nil {
		if errors.Is(err, supervisor.ErrStopped) {
			return errStopped
		}
		return fmt.Errorf("writing to claude: %w", err)
	}
	return nil
}

// hasExited reports whether the process has exited (and been waited for).
func (p *process) hasExited() bool { return p.sp.HasExited() }

// exitStatus describes how the process ended ("exit status 1", "signal:
// killed"), or "running".
func (p *process) exitStatus() string { return p.sp.ExitStatus() }

// stderrTail is the last of the CLI's stderr, for error messages.
func (p *process) stderrTail() string { return p.sp.StderrTail() }

// stop ends the process with the supervisor's ladder (close stdin, grace,
// SIGTERM to its tree, grace, SIGKILL), at once with SIGKILL when ctx
// ends, and returns when it and everything it started are gone.
func (p *process) stop(ctx context.Context) error {
	if err := p.sp.Stop(ctx); err != nil {
		return fmt.Errorf("stopping claude (pid %d): %w", p.pid, err)
	}
	return nil
}
