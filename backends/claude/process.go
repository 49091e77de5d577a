package claude

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"
)

// stderrTailSize is how much of the CLI's stderr is kept for error messages.
const stderrTailSize = 64 << 10

// process is one running claude CLI, in its own process group.
//
// Goroutines: startProcess starts two, and stop waits for both.
//   - The stdout reader (readStdout) decodes one message per line and hands
//     it to whoever reads msgs (the conn's Query); it answers control
//     requests nobody handles itself. It runs until stdout ends, which the
//     waiter guarantees, and closes msgs.
//   - The waiter calls cmd.Wait exactly once, records the exit, closes
//     exited, and then ends the reader's input. Wait itself drains stderr
//     (into stderr, via exec's copier) and stdout (into the reader's pipe)
//     until EOF, or for cmd.WaitDelay after the process exits if a
//     grandchild holds them open.
//
// The owner (a conn) reads msgs only from the goroutine running Query, and
// calls stop once it no longer wants the process.
type process struct {
	cmd  *exec.Cmd
	pid  int // also the process group id
	log  *slog.Logger
	msgs chan message // closed by the reader at the end of stdout

	stdinMu sync.Mutex
	stdin   io.WriteCloser // nil once closed

	stderr *tailWriter
	// announced is set once the process's slash commands were reported;
	// used only by the turn goroutine.
	announced bool
	stdoutW   *io.PipeWriter // closed by the waiter after Wait

	closing     chan struct{} // closed by stop: the reader drops messages from then on
	closingOnce sync.Once
	exited      chan struct{} // closed by the waiter once Wait has returned
	waitErr     error         // Wait's error; read only after exited is closed
	wg          sync.WaitGroup
}

// startProcess starts the CLI at path with args in dir. waitDelay bounds how
// long Wait waits for stdout/stderr after the process has exited.
func startProcess(path string, args []string, dir string, env []string, waitDelay time.Duration, log *slog.Logger) (*process, error) {
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = env
	setProcessGroup(cmd)
	cmd.WaitDelay = waitDelay
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("claude stdin: %w", err)
	}
	stdoutR, stdoutW := io.Pipe()
	p := &process{
		cmd:     cmd,
		log:     log,
		msgs:    make(chan message),
		stdin:   stdin,
		stderr:  newTailWriter(stderrTailSize, log),
		stdoutW: stdoutW,
		closing: make(chan struct{}),
		exited:  make(chan struct{}),
	}
	cmd.Stdout = stdoutW
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		stdoutW.Close()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	p.pid = cmd.Process.Pid
	log.Debug("claude started", "pid", p.pid, "args", args, "dir", dir)
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		p.readStdout(stdoutR)
	}()
	go func() {
		defer p.wg.Done()
		p.waitErr = cmd.Wait()
		close(p.exited)
		stdoutW.Close()
		p.log.Debug("claude exited", "pid", p.pid, "status", p.exitStatus())
	}()
	return p, nil
}

// send writes one message as a line on the CLI's stdin. It is safe for
// concurrent use (the reader answers control requests while Query writes).
func (p *process) send(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding message for claude: %w", err)
	}
	line = append(line, '\n')
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin == nil {
		return errStopped
	}
	if _, err := p.stdin.Write(line); err != nil {
		return fmt.Errorf("writing to claude: %w", err)
	}
	return nil
}

// closeStdin ends the CLI's input, which asks it to finish and exit.
func (p *process) closeStdin() {
	p.stdinMu.Lock()
	defer p.stdinMu.Unlock()
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
	}
}

// hasExited reports whether the process has exited (and been waited for).
func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to exit; it gives up at once
// when ctx ends (the caller then escalates).
func (p *process) waitExit(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// exitStatus describes how the process ended ("exit status 1", "signal:
// killed"), or "running".
func (p *process) exitStatus() string {
	if !p.hasExited() {
		return "running"
	}
	if p.cmd.ProcessState != nil {
		return p.cmd.ProcessState.String()
	}
	if p.waitErr != nil {
		return p.waitErr.Error()
	}
	return "exited"
}

// stop ends the process with the ladder: close stdin, wait grace, SIGTERM
// to the group, wait grace, SIGKILL to the group, wait. Whatever is left of
// the group once the CLI itself is gone (a grandchild) is killed too. It
// returns when both goroutines have ended; it is idempotent. The error says
// if something of the group survived.
func (p *process) stop(ctx context.Context, grace time.Duration) error {
	p.closingOnce.Do(func() { close(p.closing) })
	p.closeStdin()
	if !p.waitExit(ctx, grace) {
		p.log.Warn("claude did not exit after its input was closed; sending SIGTERM", "pid", p.pid, "grace", grace)
		signalGroup(p.pid, sigTerm)
		if !p.waitExit(ctx, grace) {
			p.log.Warn("claude ignored SIGTERM; sending SIGKILL", "pid", p.pid)
			signalGroup(p.pid, sigKill)
			<-p.exited // SIGKILL cannot be ignored; WaitDelay bounds the pipes
		}
	}
	err := killGroupRemains(p.pid)
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("stopping claude (pid %d): %w", p.pid, err)
	}
	return nil
}

// errGroupSurvived means processes of a stopped CLI's group outlived
// SIGKILL.
var errGroupSurvived = errors.New("process group still alive after SIGKILL")

// stderrTail is the last of the CLI's stderr, for error messages.
func (p *process) stderrTail() string { return p.stderr.String() }

// tailWriter keeps the last size bytes written to it and logs each complete
// line at debug level. exec's stderr copier is its only writer; String may
// be called from anywhere.
type tailWriter struct {
	size int
	log  *slog.Logger

	mu      sync.Mutex
	buf     []byte
	partial []byte // an unfinished line, for the log (bounded)
}

func newTailWriter(size int, log *slog.Logger) *tailWriter {
	return &tailWriter{size: size, log: log}
}

const maxLoggedLine = 1 << 10

func (w *tailWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	if len(w.buf) > w.size {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-w.size:]...)
	}
	for _, c := range b {
		if c == '\n' {
			w.log.Debug("claude stderr", "line", truncate(string(w.partial), maxLoggedLine))
			w.partial = w.partial[:0]
			continue
		}
		if len(w.partial) < maxLoggedLine*4 {
			w.partial = append(w.partial, c)
		}
	}
	return len(b), nil
}

// String is the kept tail, starting on a rune boundary.
func (w *tailWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return validUTF8Suffix(w.buf)
}
