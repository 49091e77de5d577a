package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Spawn starts cmd, a Tether binary with its flags (exec.Command("tether",
// "--backend", "mock")), and connects to it over its stdin and stdout. The
// Client owns the process from then on: Close stops it and waits for it.
// cmd's Stdin and Stdout must be unset; its Stderr, where Tether logs, is
// left as the caller set it (nil discards the logs).
//
// Tether takes SIGINT as "exit now". A host that handles Ctrl-C itself (to
// cancel a query) should start Tether in a process group of its own
// (cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} on Unix), so that
// the terminal's SIGINT reaches only the host.
func Spawn(cmd *exec.Cmd, opts Options) (*Client, error) {
	if cmd.Stdin != nil || cmd.Stdout != nil {
		return nil, errors.New("tether: Spawn needs cmd's Stdin and Stdout unset")
	}
	// os.Pipe rather than cmd.StdoutPipe: Wait closes the latter as soon
	// as the process exits, which could lose the last answers it wrote.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("tether: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("tether: %w", err)
	}
	cmd.Stdin, cmd.Stdout = inR, outW
	err = cmd.Start()
	// The child has its own copies of these ends now (or failed to start).
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("tether: starting %s: %w", cmd.Path, err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	// The waiter goroutine belongs to the process: it ends when the
	// process does, and stop, which Close always calls, waits for it.
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	c := Connect(Duplex(outR, inW), opts)
	c.proc = p
	return c, nil
}

// process is a spawned Tether and its exit.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed when Wait has returned; err is then set
	err    error
}

// stop waits for the process to exit until ctx ends, then asks it to with
// SIGTERM (Tether then closes its sessions, stopping their backends), and
// after grace more kills it. It returns once the process has been waited
// for, with an error unless it exited with 0.
func (p *process) stop(ctx context.Context, grace time.Duration) error {
	select {
	case <-p.exited:
		return p.exitError()
	case <-ctx.Done():
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	return errors.Join(errors.New("tether: the process did not exit after shutdown and was stopped"), p.exitError())
}

func (p *process) exitError() error {
	if p.err != nil {
		return fmt.Errorf("tether: process: %w", p.err)
	}
	return nil
}
