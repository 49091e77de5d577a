package sessions

import (
	"context"
	"fmt"
	"time"

	"github.com/tether-dev/tether/backends"
)

// Defaults of the process limits (issue 8 item 18): an idle CLI holds
// about 220 MB, so a session nobody uses for half an hour gives its
// process back, and at most 16 run at once.
const (
	DefaultIdleStop     = 30 * time.Minute
	DefaultMaxProcesses = 16
)

// Process states, as List reports them for sessions whose backend holds a
// process.
const (
	ProcessRunning = "running"
	ProcessStopped = "stopped"
)

// processes counts the live backend processes of every session and keeps
// them under the limit: a session about to start one waits for a slot,
// after asking the least recently used idle session to stop its own. The
// session's conversation is kept: its next prompt starts a process again
// and resumes it (backends.Suspender).
//
// The counts live in each Session (procLive, busy, lastUsed, under its mu);
// the Registry's mu guards the walk over sessions, and changed is closed
// and replaced every time a slot is given back or a session with a
// process becomes idle, so waiters wake and look again.
type processes struct {
	max     int
	changed chan struct{}
}

// needsProcess reports whether the next job starts a backend process:
// the backend holds processes and the session has none running.
func (s *Session) needsProcess() bool {
	if !s.backend.Info().Processes {
		return false
	}
	if s.conn == nil {
		return true
	}
	sus, ok := s.conn.(backends.Suspender)
	return ok && !sus.Running()
}

// acquireProcess waits until s may start a process, and counts it as
// live. It runs on s's turn goroutine; ctx is the job's.
func (r *Registry) acquireProcess(ctx context.Context, s *Session) error {
	for {
		r.mu.Lock()
		live := 0
		var victim *Session
		var victimUsed time.Time
		for _, o := range r.sessions {
			o.mu.Lock()
			if o != s && o.procLive {
				live++
				if !o.busy && (victim == nil || o.lastUsed.Before(victimUsed)) {
					victim, victimUsed = o, o.lastUsed
				}
			}
			o.mu.Unlock()
		}
		changed := r.procs.changed
		spares := r.spareProcesses()
		if r.procs.max <= 0 || live+spares < r.procs.max {
			s.mu.Lock()
			s.procLive = true
			s.mu.Unlock()
			r.mu.Unlock()
			return nil
		}
		r.mu.Unlock()
		if spares > 0 && r.stopSpare(ctx) {
			// A process started ahead for a session to come gives its
			// slot to a session here now.
			continue
		}
		if victim != nil {
			r.log.Info("process limit reached; stopping the least recently used idle session's process",
				"session", s.id, "stopping", victim.id, "limit", r.procs.max)
			victim.suspendSoon()
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for a backend process slot: %w", context.Cause(ctx))
		}
	}
}

// releaseProcess records that s's process is gone, and wakes whoever waits
// for a slot.
func (r *Registry) releaseProcess(s *Session) {
	s.mu.Lock()
	was := s.procLive
	s.procLive = false
	s.mu.Unlock()
	if was {
		r.processesChanged()
	}
}

// processesChanged wakes whoever waits for a process slot.
func (r *Registry) processesChanged() {
	if r.procs.max <= 0 {
		return
	}
	r.mu.Lock()
	close(r.procs.changed)
	r.procs.changed = make(chan struct{})
	r.mu.Unlock()
}

// suspendSoon asks the actor to stop the session's process when it is
// idle. It never waits.
func (s *Session) suspendSoon() { s.send(cmdSuspend{}) }

// suspend stops the session's process, keeping the conversation for the
// next prompt. It runs on the turn goroutine, as a job.
func (s *Session) suspend() {
	sus, ok := s.conn.(backends.Suspender)
	if ok && sus.Running() {
		if err := sus.Suspend(s.killCtx); err != nil {
			s.logger().Warn("stopping the idle backend process", "err", err)
		}
		s.logger().Info("backend process stopped; the next prompt resumes the session")
	}
	s.registry.releaseProcess(s)
}

// processState is what List says of the session's process: "" for a
// backend without one. Called with s.mu held.
func (s *Session) processState() string {
	if !s.backend.Info().Processes {
		return ""
	}
	if s.procLive {
		return ProcessRunning
	}
	return ProcessStopped
}

// spareProcesses counts the processes backends keep started ahead.
func (r *Registry) spareProcesses() int {
	n := 0
	for _, b := range r.backends {
		if sp, ok := b.(backends.Spares); ok {
			n += sp.SpareProcesses()
		}
	}
	return n
}

// stopSpare stops one spare process of any backend; false when none was.
func (r *Registry) stopSpare(ctx context.Context) bool {
	for _, name := range r.names {
		if sp, ok := r.backends[name].(backends.Spares); ok && sp.StopSpare(ctx) {
			r.log.Info("process limit reached; stopped a spare process", "backend", name)
			return true
		}
	}
	return false
}
