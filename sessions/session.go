package sessions

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/protocol"
)

// queueLimit is how many queries may wait behind the running one.
const queueLimit = 16

// errSessionCancel is the cause a turn's context is cancelled with by
// session/cancel, cleanup and shutdown: the query then ends normally with
// stop reason "cancelled" rather than with an error.
var errSessionCancel = errors.New("cancelled by session")

// Session is one agent session: an actor that exclusively owns the
// session's backend connection and runs its queries one at a time, in the
// order they arrived.
//
// Goroutines:
//   - run, the actor, started by the Registry when the session is created.
//     It owns the queue and decides which query runs. It never blocks on the
//     backend or on the editor for long, so requests handed to it from
//     jsonrpc2's read loop are taken at once. It stops when the session's
//     context is cancelled (cleanup, shutdown): it cancels the running
//     turn, answers the queued queries "cancelled", waits for the turn
//     goroutine, closes the backend connection and closes done. The
//     Registry waits for done.
//   - one turn goroutine at a time, started by run for the query at the
//     head of the queue and awaited by run (turnDone). It opens the backend
//     connection if there is none, runs the query, writes every
//     notification of the query and then its reply, so the editor sees them
//     in order. While it runs it is the only user of the connection.
//   - short-lived context.AfterFunc callbacks, one per queued query, that
//     tell run a waiting query was cancelled; each is stopped when its query
//     ends.
type Session struct {
	id        string
	backend   backends.Backend
	opts      backends.Options
	createdAt time.Time
	client    Client
	broker    *Broker
	log       *slog.Logger

	ctx    context.Context // cancelled to close the session
	cancel context.CancelFunc
	// notifyCtx is ctx without its cancellation: the last notifications of
	// a closing session must still go out. Made once, as it is used for
	// every token.
	notifyCtx context.Context
	inbox     *mailbox      // commands for run; see the cmd types below
	done      chan struct{} // closed when run has returned

	// conn is touched by the turn goroutine while a turn runs and by run
	// only when no turn runs; the turnDone channel orders the two.
	conn backends.Conn

	mu     sync.Mutex // guards the fields below, read by List
	status string
	model  string
	turns  int
}

// Commands sent to run through inbox.
type (
	cmdEnqueue struct{ q *query }
	// cmdDequeue says a queued query's context ended.
	cmdDequeue struct{ q *query }
	// cmdCancel cancels the running query and every queued one, and
	// reports how many to reply.
	cmdCancel struct{ reply func(int) }
	// cmdDrain asks to be told (done closed) once no query runs or waits.
	cmdDrain struct{ done chan struct{} }
)

// query is a Query in the session's hands.
type query struct {
	Query
	stopWatch func() bool // stops the AfterFunc watching Ctx while queued
	once      sync.Once
	answered  atomic.Bool // set before Reply is called
}

// finish replies to the query. Only the goroutine that owns the query at the
// time (run while queued, the turn goroutine while running) calls it.
func (q *query) finish(res protocol.QueryResult, err error) {
	q.once.Do(func() {
		if q.stopWatch != nil {
			q.stopWatch()
		}
		q.answered.Store(true)
		q.Reply(res, err)
	})
}

func newSession(parent context.Context, id string, b backends.Backend, opts backends.Options, client Client, broker *Broker, log *slog.Logger) *Session {
	ctx, cancel := context.WithCancel(parent)
	return &Session{
		id:        id,
		backend:   b,
		opts:      opts,
		createdAt: time.Now().UTC(),
		client:    client,
		broker:    broker,
		log:       log.With("session", id),
		ctx:       ctx,
		cancel:    cancel,
		notifyCtx: context.WithoutCancel(ctx),
		inbox:     newMailbox(),
		done:      make(chan struct{}),
		status:    protocol.StatusStarting,
		model:     opts.Model,
	}
}

// send hands a command to run. It reports false when the session has
// closed; it never waits.
func (s *Session) send(cmd any) bool { return s.inbox.put(cmd) }

// enqueue hands a query to the session. The query's Reply is called exactly
// once, whatever happens.
func (s *Session) enqueue(q Query) {
	sq := &query{Query: q}
	if !s.send(cmdEnqueue{sq}) {
		sq.finish(protocol.QueryResult{}, ErrClosed)
	}
}

// run is the actor; see the Session doc comment.
func (s *Session) run() {
	defer close(s.done)
	var (
		queue      []*query
		running    *query
		turnCancel context.CancelCauseFunc // of the running query, nil when idle
		turnDone   chan struct{}
		drains     []chan struct{}
	)
	defer func() {
		for _, d := range drains {
			close(d)
		}
	}()
	for {
		if turnDone == nil && len(queue) > 0 {
			q := queue[0]
			queue = queue[1:]
			if q.stopWatch != nil && !q.stopWatch() {
				// The watcher fired: a cmdDequeue for q is on its way and
				// finds q gone; answer it here.
				q.finish(protocol.QueryResult{}, context.Cause(q.Ctx))
				continue
			}
			q.stopWatch = nil
			var ctx context.Context
			ctx, turnCancel = context.WithCancelCause(q.Ctx)
			running, turnDone = q, make(chan struct{})
			go s.runTurn(ctx, q, turnDone)
		}
		if turnDone == nil && len(drains) > 0 {
			for _, d := range drains {
				close(d)
			}
			drains = nil
		}
		select {
		case <-s.inbox.ready:
			for _, cmd := range s.inbox.take() {
				switch cmd := cmd.(type) {
				case cmdEnqueue:
					q := cmd.q
					if len(queue) >= queueLimit {
						q.finish(protocol.QueryResult{}, ErrBusy)
						continue
					}
					q.stopWatch = context.AfterFunc(q.Ctx, func() { s.send(cmdDequeue{q}) })
					queue = append(queue, q)
				case cmdDequeue:
					for i, q := range queue {
						if q == cmd.q {
							queue = append(queue[:i], queue[i+1:]...)
							q.finish(protocol.QueryResult{}, context.Cause(q.Ctx))
							break
						}
					}
				case cmdCancel:
					n := len(queue)
					for _, q := range queue {
						q.finish(cancelledResult(s.id), nil)
					}
					queue = nil
					// A query already answered is not counted: its
					// client may have seen the answer before this.
					if running != nil && !running.answered.Load() {
						turnCancel(errSessionCancel)
						n++
					}
					cmd.reply(n)
				case cmdDrain:
					drains = append(drains, cmd.done)
				}
			}
		case <-turnDone:
			turnCancel(nil)
			running, turnCancel, turnDone = nil, nil, nil
		case <-s.ctx.Done():
			for _, q := range queue {
				q.finish(cancelledResult(s.id), nil)
			}
			if turnCancel != nil {
				turnCancel(errSessionCancel)
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
	s.broker.forget(s.id)
	if s.conn != nil {
		if err := s.conn.Close(); err != nil {
			s.log.Warn("closing backend", "err", err)
		}
		s.conn = nil
	}
	// Commands that arrived after the last take are answered here; later
	// ones are refused by send, so no reply is lost.
	for _, cmd := range s.inbox.close() {
		switch cmd := cmd.(type) {
		case cmdEnqueue:
			cmd.q.finish(cancelledResult(s.id), nil)
		case cmdCancel:
			cmd.reply(0)
		case cmdDrain:
			close(cmd.done)
		}
	}
	s.setStatus(nil, protocol.StatusClosed, "")
}

func cancelledResult(sessionID string) protocol.QueryResult {
	return protocol.QueryResult{SessionID: sessionID, StopReason: protocol.StopCancelled}
}

// setStatus records the status and tells the editor. queryID is nil for
// changes outside a query.
func (s *Session) setStatus(queryID []byte, status, detail string) {
	s.mu.Lock()
	s.status = status
	s.mu.Unlock()
	s.notify(protocol.MethodStatus, protocol.StatusParams{
		Event:  protocol.Event{SessionID: s.id, QueryID: queryID},
		Status: status, Detail: detail,
	})
}

func (s *Session) notify(method string, params any) {
	if err := s.client.Notify(s.notifyCtx, method, params); err != nil {
		s.log.Debug("notify", "method", method, "err", err)
	}
}

// info describes the session for session/list.
func (s *Session) info() protocol.SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return protocol.SessionInfo{
		SessionID: s.id,
		Backend:   s.backend.Name(),
		Model:     s.model,
		Cwd:       s.opts.Cwd,
		Status:    s.status,
		CreatedAt: s.createdAt.Format(time.RFC3339Nano),
		Turns:     s.turns,
	}
}
