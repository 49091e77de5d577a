package sessions

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-dev/tether/backends"
)

// DefaultQueueLimit is how many prompts may wait behind the running one.
const DefaultQueueLimit = 16

// Causes a turn's context is cancelled with by the session rather than by
// its request: the turn then ends normally with stop reason "cancelled"
// rather than with an error.
var (
	errSessionCancel  = errors.New(ReasonCancelled)     // session/cancel
	errSessionClosing = errors.New(ReasonSessionClosed) // close, shutdown, exit, a signal
)

// Session is one agent session: an actor that exclusively owns the
// session's backend connection and runs its prompts one at a time, in the
// order they arrived.
//
// Goroutines:
//   - run, the actor, started by the Registry when the session is created.
//     It owns the queue and decides which job runs. It never blocks on the
//     backend or on the editor for long, so requests handed to it from a
//     dialect's read loop are taken at once. It stops when the session's
//     context is cancelled (close, shutdown): it cancels the running turn,
//     answers the queued prompts "cancelled", waits for the turn goroutine,
//     closes the backend connection and closes done. The Registry waits
//     for done.
//   - one turn goroutine at a time, started by run for the job at the head
//     of the queue (a prompt, or opening the backend ahead of the first
//     prompt) and awaited by run (turnDone). It opens the backend
//     connection if there is none, runs the prompt, delivers every event of
//     the turn and then its reply, so the editor sees them in order. While
//     it runs it is the only user of the connection.
//   - short-lived context.AfterFunc callbacks, one per queued prompt, that
//     tell run a waiting prompt was cancelled; each is stopped when its
//     prompt ends.
type Session struct {
	id        string
	instance  uint64 // unique per session ever made: remembered rules are keyed by it
	backend   backends.Backend
	opts      backends.Options
	createdAt time.Time
	events    Events // the session's events outside turns
	registry  *Registry
	broker    *Broker
	log       *slog.Logger
	limit     int
	// stored: the session is in the registry's store, claimed by this
	// process; its turns are recorded (store.go).
	stored bool

	ctx    context.Context // cancelled to close the session
	cancel context.CancelFunc
	// killCtx ends when Tether must stop now (shutdown's deadline passed):
	// closing the backend then kills its processes rather than waiting.
	killCtx context.Context
	inbox   *mailbox      // commands for run; see the cmd types below
	done    chan struct{} // closed when run has returned

	// conn is touched by the turn goroutine while a job runs and by run
	// only when none runs; the turnDone channel orders the two.
	conn backends.Conn

	mu     sync.Mutex // guards the fields below, read by List, Configure and the process limit
	status string
	model  string
	mode   string
	turns  int
	// title is the first line of the first prompt; updatedAt when the
	// session was made or a turn started or ended.
	title     string
	updatedAt time.Time
	// procLive: the backend's process counts against the limit (started,
	// or a slot reserved for its start). busy: a job runs or waits.
	// lastUsed: when the last job ended, for choosing whom to stop.
	procLive bool
	busy     bool
	lastUsed time.Time
}

// Commands sent to run through inbox.
type (
	cmdEnqueue struct{ j *job }
	// cmdDequeue says a queued prompt's context ended.
	cmdDequeue struct{ j *job }
	// cmdCancel cancels the running prompt and every queued one, and
	// reports how many to reply.
	cmdCancel struct{ reply func(int) }
	// cmdDrain asks to be told (done closed) once no job runs or waits.
	cmdDrain struct{ done chan struct{} }
	// cmdSuspend asks to stop the backend's process once the session is
	// idle (the process limit needs its slot).
	cmdSuspend struct{}
)

// job is a Prompt in the session's hands; or (ready set, no prompt) a
// request to open the backend now; or (suspend set) to stop its process.
type job struct {
	Prompt
	ready     func(error) // for an open job
	suspend   bool
	stopWatch func() bool // stops the AfterFunc watching Ctx while queued
	once      sync.Once
	answered  atomic.Bool // set before Reply is called
}

func (j *job) isOpen() bool { return j.ready != nil }

// counts reports whether the job is a prompt the client sent (for the queue
// limit and session/cancel's count).
func (j *job) counts() bool { return !j.isOpen() && !j.suspend }

// finish replies to the job. Only the goroutine that owns the job at the
// time (run while queued, the turn goroutine while running) calls it.
func (j *job) finish(res TurnResult, err error) {
	j.once.Do(func() {
		if j.stopWatch != nil {
			j.stopWatch()
		}
		j.answered.Store(true)
		if j.suspend {
			return
		}
		if j.isOpen() {
			j.ready(err)
			return
		}
		j.Reply(res, err)
	})
}

// send hands a command to run. It reports false when the session has
// closed; it never waits.
func (s *Session) send(cmd any) bool { return s.inbox.put(cmd) }

// enqueue hands a job to the session. Its reply is called exactly once,
// whatever happens.
func (s *Session) enqueue(j *job) {
	if !s.send(cmdEnqueue{j}) {
		j.finish(TurnResult{}, ErrClosed)
	}
}

// run is the actor; see the Session doc comment.
func (s *Session) run() {
	defer close(s.done)
	var (
		queue      []*job
		running    *job
		turnCancel context.CancelCauseFunc // of the running job, nil when idle
		turnDone   chan struct{}
		drains     []chan struct{}
		// idle fires when the session has been idle for the registry's
		// idle-stop period with a process running.
		idle      *time.Timer
		idleC     <-chan time.Time
		suspended bool // a suspend job is queued or runs
	)
	defer func() {
		if idle != nil {
			idle.Stop()
		}
	}()
	suspendJob := func() {
		if !suspended {
			suspended = true
			queue = append(queue, &job{Prompt: Prompt{Ctx: s.ctx}, suspend: true})
		}
	}
	defer func() {
		for _, d := range drains {
			close(d)
		}
	}()
	// startNext starts the job at the head of the queue if none runs, so
	// that a prompt never waits in the queue while the session is idle
	// (and the queue limit counts only prompts behind a running one).
	startNext := func() {
		for turnDone == nil && len(queue) > 0 {
			j := queue[0]
			queue = queue[1:]
			if j.stopWatch != nil && !j.stopWatch() {
				// The watcher fired: a cmdDequeue for j is on its way and
				// finds j gone; answer it here.
				j.finish(TurnResult{}, context.Cause(j.Ctx))
				continue
			}
			j.stopWatch = nil
			var ctx context.Context
			ctx, turnCancel = context.WithCancelCause(j.Ctx)
			running, turnDone = j, make(chan struct{})
			go s.runTurn(ctx, j, turnDone)
		}
		if turnDone == nil && len(drains) > 0 {
			for _, d := range drains {
				close(d)
			}
			drains = nil
		}
		s.mu.Lock()
		wasBusy := s.busy
		s.busy = turnDone != nil || len(queue) > 0
		nowIdle := wasBusy && !s.busy && s.procLive
		armIdle := !s.busy && s.procLive && s.registry.idleStop > 0
		s.mu.Unlock()
		if nowIdle {
			// A session waiting for a process slot may take this one.
			s.registry.processesChanged()
		}
		switch {
		case armIdle && idle == nil:
			idle = time.NewTimer(s.registry.idleStop)
			idleC = idle.C
		case armIdle:
			idle.Reset(s.registry.idleStop)
			idleC = idle.C
		case idle != nil:
			idle.Stop()
			idleC = nil
		}
	}
	for {
		startNext()
		select {
		case <-s.inbox.ready:
			for _, cmd := range s.inbox.take() {
				switch cmd := cmd.(type) {
				case cmdEnqueue:
					j := cmd.j
					if waiting := countPrompts(queue); waiting >= s.limit {
						j.finish(TurnResult{}, ErrBusy)
						continue
					}
					j.stopWatch = context.AfterFunc(j.Ctx, func() { s.send(cmdDequeue{j}) })
					queue = append(queue, j)
					startNext()
				case cmdDequeue:
					for i, j := range queue {
						if j == cmd.j {
							queue = append(queue[:i], queue[i+1:]...)
							j.finish(TurnResult{}, context.Cause(j.Ctx))
							break
						}
					}
				case cmdCancel:
					n := 0
					kept := queue[:0]
					for _, j := range queue {
						if j.suspend {
							kept = append(kept, j)
							continue
						}
						if j.counts() {
							n++
						}
						j.finish(s.cancelledResult(), nil)
					}
					queue = kept
					// A prompt already answered is not counted: its client
					// may have seen the answer before this.
					if running != nil && !running.answered.Load() {
						turnCancel(errSessionCancel)
						if running.counts() {
							n++
						}
					}
					cmd.reply(n)
				case cmdDrain:
					drains = append(drains, cmd.done)
				case cmdSuspend:
					suspendJob()
					startNext()
				}
			}
		case <-idleC:
			idleC = nil
			suspendJob()
		case <-turnDone:
			if running.suspend {
				suspended = false
			}
			turnCancel(nil)
			running, turnCancel, turnDone = nil, nil, nil
		case <-s.ctx.Done():
			for _, j := range queue {
				j.finish(s.cancelledResult(), nil)
			}
			if turnCancel != nil {
				turnCancel(errSessionClosing)
				<-turnDone
				turnCancel(nil)
			}
			s.shutdown()
			return
		}
	}
}

// shutdown closes the backend connection and tells the editor the session
// is gone. It runs on the actor once no turn runs.
func (s *Session) shutdown() {
	s.broker.forget(s.instance)
	if s.conn != nil {
		if err := s.conn.Close(s.killCtx); err != nil {
			s.log.Warn("closing backend", "err", err)
		}
		s.conn = nil
	}
	// Commands that arrived after the last take are answered here; later
	// ones are refused by send, so no reply is lost.
	for _, cmd := range s.inbox.close() {
		switch cmd := cmd.(type) {
		case cmdEnqueue:
			cmd.j.finish(s.cancelledResult(), nil)
		case cmdCancel:
			cmd.reply(0)
		case cmdDrain:
			close(cmd.done)
		}
	}
	s.registry.releaseProcess(s)
	s.registry.closed(s)
	s.setStatus(s.events, StateClosed, "")
}

// countPrompts is how many of the jobs are prompts a client sent.
func countPrompts(jobs []*job) int {
	n := 0
	for _, j := range jobs {
		if j.counts() {
			n++
		}
	}
	return n
}

func (s *Session) cancelledResult() TurnResult {
	return TurnResult{SessionID: s.id, StopReason: backends.StopCancelled}
}

// setStatus records the state and tells ev.
func (s *Session) setStatus(ev Events, state, detail string) {
	s.mu.Lock()
	s.status = state
	s.mu.Unlock()
	ev.Status(Status{State: state, Detail: detail})
}

// Info describes a session for a session list.
type Info struct {
	SessionID string
	Backend   string
	Model     string
	Mode      string
	Cwd       string
	Status    string
	// Process is ProcessRunning or ProcessStopped for a backend that holds
	// a process, else empty.
	Process   string
	CreatedAt time.Time
	Turns     int
	// Title names the session: the first line of its first prompt.
	Title string
	// UpdatedAt is when the session was made, or a turn of it started or
	// ended, last.
	UpdatedAt time.Time
	// Usage and CostUSD are the totals of the session's ended turns, and
	// ResumeHandle the backend's handle to continue it, as the store keeps
	// them (Lookup, Replay); zero where the store is not asked.
	Usage        backends.Usage
	CostUSD      float64
	ResumeHandle string
}

// info describes the session for List.
func (s *Session) info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Info{
		SessionID: s.id,
		Backend:   s.backend.Name(),
		Model:     s.model,
		Mode:      s.mode,
		Cwd:       s.opts.Cwd,
		Status:    s.status,
		Process:   s.processState(),
		CreatedAt: s.createdAt,
		Turns:     s.turns,
		Title:     s.title,
		UpdatedAt: s.updatedAt,
	}
}
