package supervisor

import (
	"context"
	"fmt"
	"time"
)

// killWait bounds how long the last rung waits for the tree to be gone after
// SIGKILL.
const killWait = 5 * time.Second

// How often the ladder looks whether a child's descendants are gone: they
// are not our children, so there is nothing to wait on.
const (
	pollMin = 5 * time.Millisecond
	pollMax = 100 * time.Millisecond
)

// Stop ends the child and its tree with the ladder (see the package doc):
// close stdin and wait Grace for the child to exit; SIGTERM to the tree and
// wait Grace for all of it to be gone; SIGKILL until nothing is left. When
// ctx ends first, it skips to SIGKILL at once and still waits. It returns
// once every goroutine of the process has ended, with ErrSurvived (wrapped)
// if something outlived SIGKILL for 5 s; then, if the child itself is among
// them, it returns without waiting for its goroutines.
//
// Stop is idempotent and safe from any goroutine but the process's own
// callbacks: every call waits for the one ladder, and a call whose ctx ends
// first hurries it to SIGKILL.
func (p *Process) Stop(ctx context.Context) error {
	if !p.started.Load() {
		return nil
	}
	if p.stopBegun.CompareAndSwap(false, true) {
		p.stopErr = p.ladder(ctx)
		close(p.stopped)
		return p.stopErr
	}
	select {
	case <-p.stopped:
	case <-ctx.Done():
		p.escalate()
		<-p.stopped
	}
	return p.stopErr
}

// Kill is Stop without the grace: SIGKILL to the child's tree at once, then
// wait until it is gone.
func (p *Process) Kill() error {
	p.escalate()
	return p.Stop(context.Background())
}

func (p *Process) escalate() { p.hurryOnce.Do(func() { close(p.hurry) }) }

// ladder runs the stop ladder, in the first Stop's goroutine.
func (p *Process) ladder(ctx context.Context) (err error) {
	close(p.stopping)
	defer func() {
		live.Add(-1)
		if err == nil {
			janitorUnregister(p.pid)
		}
		kickReaper() // orphans of the tree may be our zombies now
	}()
	grace := p.cfg.Grace

	// Rung 1: ask.
	p.CloseStdin()
	urgent := false
	if !p.HasExited() {
		urgent = p.await(ctx, grace)
	}

	// Rung 2: SIGTERM to the child if it did not exit, and to whatever it
	// left behind if it did.
	if !urgent {
		alive := !p.HasExited()
		if n := p.signalTree(sigTerm); n > 0 || alive {
			if alive {
				p.log.Warn("process did not exit after its input was closed; sent SIGTERM", "name", p.name, "pid", p.pid, "processes", n, "grace", grace)
			} else {
				p.log.Info("process exited leaving processes behind; sent SIGTERM", "name", p.name, "pid", p.pid, "processes", n, "grace", grace)
			}
			urgent = p.awaitGone(ctx, grace)
		}
	}
	if urgent {
		p.log.Warn("stop hurried; sending SIGKILL", "name", p.name, "pid", p.pid)
	}

	// Rung 3: SIGKILL until nothing is left.
	err = p.killTree()
	if err != nil {
		// A survivor may hold the pipes and keep writing: stop reading.
		p.stdout.f.Close()
		p.stderr.f.Close()
	}
	if err == nil || p.HasExited() {
		p.wg.Wait() // the readers end at EOF, or WaitDelay after exit
	}
	return err
}

// await waits up to d for the child to exit. urgent is true when ctx ended
// or the stop was hurried first.
func (p *Process) await(ctx context.Context, d time.Duration) (urgent bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return false
	case <-t.C:
		return false
	case <-ctx.Done():
		return true
	case <-p.hurry:
		return true
	}
}

// awaitGone waits up to d for the child and its whole tree to be gone.
// urgent is true when ctx ended or the stop was hurried first.
func (p *Process) awaitGone(ctx context.Context, d time.Duration) (urgent bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := pollMin
	for {
		if p.HasExited() && p.signalTree(sigCheck) == 0 {
			return false
		}
		tick := time.NewTimer(poll)
		select {
		case <-p.exitedOrNil():
		case <-tick.C:
		case <-deadline.C:
			tick.Stop()
			return false
		case <-ctx.Done():
			tick.Stop()
			return true
		case <-p.hurry:
			tick.Stop()
			return true
		}
		tick.Stop()
		poll = min(2*poll, pollMax)
	}
}

// killTree sends SIGKILL to the tree, again for whatever appears, until the
// child has been waited for and nothing of its tree is alive, for at most
// killWait.
func (p *Process) killTree() error {
	deadline := time.Now().Add(killWait)
	poll := pollMin
	logged := false
	for {
		n := p.signalTree(sigKill)
		if n == 0 && p.HasExited() {
			return nil
		}
		if !logged && n > 0 {
			p.log.Warn("sent SIGKILL", "name", p.name, "pid", p.pid, "processes", n)
			logged = true
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("stopping %s (pid %d): %d %w", p.name, p.pid, max(n, 1), ErrSurvived)
		}
		tick := time.NewTimer(poll)
		select {
		case <-p.exitedOrNil():
		case <-tick.C:
		}
		tick.Stop()
		poll = min(2*poll, pollMax)
	}
}

// exitedOrNil is Exited until the child has exited, then nil (a select on it
// blocks rather than spins).
func (p *Process) exitedOrNil() <-chan struct{} {
	if p.HasExited() {
		return nil
	}
	return p.exited
}
