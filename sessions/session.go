package sessions

import (
	"context"
	"errors"
	"log/slog"
	"slices"
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
// Goroutines (the Registry's WaitGroup counts each, and the session itself
// from its creation until it has closed, so Shutdown waits for all):
//   - the actor, which handles the commands sent to the session's inbox
//     (see the cmd types): the inbox starts it when a command arrives and
//     it ends as soon as the inbox is empty, so an idle session has no
//     goroutine at all (10,000 idle sessions would otherwise park 10,000
//     stacks). At most one runs at a time. It owns the queue and decides
//     which job runs; it never blocks on the backend or on the editor for
//     long, so commands sent from a dialect's read loop are taken at once.
//     Closing (cmdClose, from Close or Shutdown) cancels the running turn,
//     answers the queued prompts "cancelled", and once no turn runs closes
//     the backend connection and the inbox, and answers whoever asked.
//   - one turn goroutine at a time, started by the actor for the job at
//     the head of the queue (a prompt, or opening the backend ahead of the
//     first prompt). It opens the backend connection if there is none, runs
//     the prompt, delivers every event of the turn and then its reply, so
//     the editor sees them in order, and ends by sending cmdTurnDone. While
//     it runs it is the only user of the connection.
//   - short-lived context.AfterFunc callbacks, one per queued prompt, that
//     tell the actor a waiting prompt was cancelled; each is stopped when
//     its prompt ends. And a time.AfterFunc while the session is idle with
//     a backend process, that tells the actor the registry's idle-stop
//     period has passed; it is stopped when a job comes or the session
//     closes.
type Session struct {
	id        string
	instance  uint64 // unique per session ever made: remembered rules are keyed by it
	backend   backends.Backend
	opts      backends.Options
	createdAt time.Time
	events    Events // the session's events outside turns
	registry  *Registry
	broker    *Broker
	log       *slog.Logger // the Registry's; see logger
	limit     int
	wg        *sync.WaitGroup // the Registry's
	// stored: the session is in the registry's store, claimed by this
	// process; its turns are recorded (store.go).
	stored bool

	// killCtx ends when Tether must stop now (shutdown's deadline passed):
	// closing the backend then kills its processes rather than waiting.
	killCtx context.Context
	inbox   mailbox

	// conn is touched by the turn goroutine while a job runs and by the
	// actor only when none runs; cmdTurnDone orders the two.
	conn backends.Conn

	// The actor's state, touched only by the actor (one at a time, ordered
	// by the inbox's lock).
	queue      []*job
	running    *job
	turnCancel context.CancelCauseFunc // of the running job
	drains     []chan struct{}
	closing    bool     // cmdClose arrived: no new job starts
	closed     bool     // the inbox is closed and every command answered
	onClosed   []func() // called once closed
	suspended  bool     // a suspend job is queued or runs
	idle       *time.Timer
	idleGen    uint64 // counts the idle timer's arms and stops: a cmdIdle of an older one is stale

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

// Commands sent to the actor through inbox.
type (
	cmdEnqueue struct{ j *job }
	// cmdDequeue says a queued prompt's context ended.
	cmdDequeue struct{ j *job }
	// cmdCancel cancels the running prompt and every queued one, and
	// reports how many to reply.
	cmdCancel struct{ reply func(int) }
	// cmdDrain asks to be told (done closed) once no job runs or waits.
	cmdDrain struct{ done chan struct{} }
	// cmdTurnDone says the turn goroutine has finished its job.
	cmdTurnDone struct{}
	// cmdClose closes the session; closed (may be nil) is called once it
	// has.
	cmdClose struct{ closed func() }
	// cmdSuspend asks to stop the backend's process once the session is
	// idle (the process limit needs its slot).
	cmdSuspend struct{}
	// cmdIdle says the idle timer armed as gen fired.
	cmdIdle struct{ gen uint64 }
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
// time (the actor while queued, the turn goroutine while running) calls it.
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

// send hands a command to the actor. It reports false when the session has
// closed; it never waits.
func (s *Session) send(cmd any) bool { return s.inbox.put(cmd) }

// enqueue hands a job to the session. Its reply is called exactly once,
// whatever happens.
func (s *Session) enqueue(j *job) {
	if !s.send(cmdEnqueue{j}) {
		j.finish(TurnResult{}, ErrClosed)
	}
}

// startActor is the inbox's start: it runs the actor on a new goroutine.
func (s *Session) startActor() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.act()
	}()
}

// act is the actor; see the Session doc comment. It handles commands until
// the inbox is empty.
func (s *Session) act() {
	for {
		cmds := s.inbox.take()
		if cmds == nil {
			return
		}
		for _, cmd := range cmds {
			s.handle(cmd)
		}
		s.startNext()
	}
}

func (s *Session) handle(cmd any) {
	if s.closed {
		s.refuse(cmd)
		return
	}
	switch cmd := cmd.(type) {
	case cmdEnqueue:
		j := cmd.j
		switch {
		case s.closing:
			j.finish(s.cancelledResult(), nil)
		case countPrompts(s.queue) >= s.limit:
			j.finish(TurnResult{}, ErrBusy)
		default:
			j.stopWatch = context.AfterFunc(j.Ctx, func() { s.send(cmdDequeue{j}) })
			s.queue = append(s.queue, j)
			s.startNext()
		}
	case cmdDequeue:
		for i, j := range s.queue {
			if j == cmd.j {
				s.queue = slices.Delete(s.queue, i, i+1)
				j.finish(TurnResult{}, context.Cause(j.Ctx))
				break
			}
		}
	case cmdCancel:
		n := s.cancelQueue(true)
		// A prompt already answered is not counted: its client may have
		// seen the answer before this.
		if s.running != nil && !s.running.answered.Load() {
			s.turnCancel(errSessionCancel)
			if s.running.counts() {
				n++
			}
		}
		cmd.reply(n)
	case cmdDrain:
		s.drains = append(s.drains, cmd.done)
	case cmdSuspend:
		s.suspendJob()
	case cmdIdle:
		if cmd.gen == s.idleGen {
			s.suspendJob()
		}
	case cmdTurnDone:
		if s.running.suspend {
			s.suspended = false
		}
		s.turnCancel(nil)
		s.running, s.turnCancel = nil, nil
		if s.closing {
			s.finishClosing()
		}
	case cmdClose:
		if cmd.closed != nil {
			s.onClosed = append(s.onClosed, cmd.closed)
		}
		if s.closing {
			return
		}
		s.closing = true
		s.stopIdle()
		s.cancelQueue(false)
		if s.running != nil {
			s.turnCancel(errSessionClosing) // cmdTurnDone finishes closing
			return
		}
		s.finishClosing()
	}
}

// cancelQueue answers every queued job "cancelled", keeping a suspend job
// when keepSuspend is set, and returns how many were prompts.
func (s *Session) cancelQueue(keepSuspend bool) int {
	n := 0
	kept := s.queue[:0]
	for _, j := range s.queue {
		if j.suspend && keepSuspend {
			kept = append(kept, j)
			continue
		}
		if j.counts() {
			n++
		}
		j.finish(s.cancelledResult(), nil)
	}
	clear(s.queue[len(kept):])
	s.queue = kept
	if len(s.queue) == 0 {
		s.queue = nil
	}
	return n
}

// suspendJob queues a job that stops the backend's process, unless one is
// queued or runs already.
func (s *Session) suspendJob() {
	if !s.suspended && !s.closing {
		s.suspended = true
		s.queue = append(s.queue, &job{Prompt: Prompt{Ctx: s.registry.ctx}, suspend: true})
	}
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

// startNext starts the job at the head of the queue if none runs, so that
// a prompt never waits in the queue while the session is idle (and the
// queue limit counts only prompts behind a running one); and tells the
// drains once no job runs or waits.
func (s *Session) startNext() {
	for s.running == nil && !s.closing && len(s.queue) > 0 {
		j := s.queue[0]
		s.queue[0] = nil // the backing array must not keep a finished job
		s.queue = s.queue[1:]
		if len(s.queue) == 0 {
			s.queue = nil
		}
		if j.stopWatch != nil && !j.stopWatch() {
			// The watcher fired: a cmdDequeue for j is on its way and
			// finds j gone; answer it here.
			j.finish(TurnResult{}, context.Cause(j.Ctx))
			continue
		}
		j.stopWatch = nil
		ctx, cancel := context.WithCancelCause(j.Ctx)
		s.running, s.turnCancel = j, cancel
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.runTurn(ctx, cancel, j)
			s.send(cmdTurnDone{}) // the inbox is open: it closes only once no turn runs
		}()
	}
	if s.running == nil && len(s.drains) > 0 {
		for _, d := range s.drains {
			close(d)
		}
		s.drains = nil
	}
	if s.closing {
		return
	}
	s.mu.Lock()
	wasBusy := s.busy
	s.busy = s.running != nil || len(s.queue) > 0
	nowIdle := wasBusy && !s.busy && s.procLive
	armIdle := !s.busy && s.procLive && s.registry.idleStop > 0
	s.mu.Unlock()
	if nowIdle {
		// A session waiting for a process slot may take this one.
		s.registry.processesChanged()
	}
	switch {
	case armIdle && (wasBusy || s.idle == nil):
		s.armIdle()
	case !armIdle:
		s.stopIdle()
	}
}

// armIdle (re)starts the idle timer: when the session has been idle with a
// backend process for the registry's idle-stop period, the actor hears of
// it (cmdIdle) and stops the process.
func (s *Session) armIdle() {
	s.stopIdle()
	gen := s.idleGen
	s.idle = time.AfterFunc(s.registry.idleStop, func() { s.send(cmdIdle{gen}) })
}

// stopIdle stops the idle timer; a cmdIdle it already sent is stale.
func (s *Session) stopIdle() {
	if s.idle != nil {
		s.idle.Stop()
		s.idle = nil
	}
	s.idleGen++
}

// finishClosing closes the backend connection and tells the editor the
// session is gone, once no turn runs; then answers every command still in
// the inbox, and whoever asked to close.
func (s *Session) finishClosing() {
	s.broker.forget(s.instance)
	if s.conn != nil {
		if err := s.conn.Close(s.killCtx); err != nil {
			s.logger().Warn("closing backend", "err", err)
		}
		s.conn = nil
	}
	s.closed = true
	// Commands that arrived after the last take are answered here; later
	// ones are refused by send, so no reply is lost.
	for _, cmd := range s.inbox.close() {
		s.refuse(cmd)
	}
	s.registry.releaseProcess(s)
	s.registry.closed(s)
	s.setStatus(s.events, StateClosed, "")
	for _, d := range s.drains {
		close(d)
	}
	s.drains = nil
	for _, f := range s.onClosed {
		f()
	}
	s.onClosed = nil
	s.wg.Done() // the session's own count, taken when it was made
}

// refuse answers a command that came too late: the session has closed.
func (s *Session) refuse(cmd any) {
	switch cmd := cmd.(type) {
	case cmdEnqueue:
		cmd.j.finish(s.cancelledResult(), nil)
	case cmdCancel:
		cmd.reply(0)
	case cmdDrain:
		close(cmd.done)
	case cmdClose:
		if cmd.closed != nil {
			cmd.closed()
		}
	}
}

// logger is the session's logger, made when needed: most sessions never
// log, and a logger with attributes costs a few hundred bytes each.
func (s *Session) logger() *slog.Logger { return s.log.With("session", s.id) }

func (s *Session) cancelledResult() TurnResult {
	return TurnResult{SessionID: s.id, StopReason: backends.StopCancelled}
}

// setStatus records the state and tells ev.
func (s *Session) setStatus(ev Events, state, detail string) {
	s.recordStatus(state)
	ev.Status(Status{State: state, Detail: detail})
}

// recordStatus records the state, which List reports.
func (s *Session) recordStatus(state string) {
	s.mu.Lock()
	s.status = state
	s.mu.Unlock()
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
