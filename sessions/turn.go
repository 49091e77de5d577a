package sessions

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/store"
)

// Prompt is one prompt handed to the Registry.
type Prompt struct {
	// Options name the session (SessionID is required), and create it with
	// the rest when it does not exist, unless MustExist is set.
	Options   Options
	MustExist bool
	Turn      backends.Turn
	// Ctx ends when the request is cancelled or the connection closes; the
	// prompt then ends with Ctx's cause as its error.
	Ctx context.Context
	// Events receive the turn's events.
	Events Events
	// Reply is called exactly once, from the goroutine that delivered the
	// turn's events, after the last of them.
	Reply func(TurnResult, error)
}

// TurnResult is how a turn ended.
type TurnResult struct {
	SessionID        string
	StopReason       string
	Text             Text // the turn's tokens, concatenated
	Usage            backends.Usage
	Duration         time.Duration
	CostUSD          float64
	NumTurns         int
	BackendSessionID string
}

// runTurn runs one job on the turn goroutine (see Session). It delivers the
// turn's events and then its reply, and returns. cancel cancels ctx.
func (s *Session) runTurn(ctx context.Context, cancel context.CancelCauseFunc, j *job) {
	start := time.Now()
	defer s.jobEnded()
	if j.suspend {
		s.suspend()
		return
	}
	ev := j.Events
	if ev == nil {
		ev = s.events
	}
	if s.needsProcess() {
		if err := s.registry.acquireProcess(ctx, s); err != nil {
			if err := s.turnError(ctx, err); err != nil {
				j.finish(TurnResult{}, err)
				return
			}
			j.finish(s.cancelledResult(), nil)
			return
		}
	}
	if s.conn == nil {
		s.setStatus(ev, StateStarting, s.backend.Name())
		conn, err := s.backend.Open(ctx, s.opts)
		if err != nil {
			s.registry.releaseProcess(s)
			if ctx.Err() != nil {
				// Cancelled while starting: the session stays usable, and
				// the next prompt starts the backend again.
				s.setStatus(ev, StateIdle, "")
				if err := s.turnError(ctx, nil); err != nil {
					j.finish(TurnResult{}, err)
					return
				}
				j.finish(s.cancelledResult(), nil)
				return
			}
			err = fmt.Errorf("starting %s backend: %w", s.backend.Name(), err)
			s.setStatus(ev, StateFailed, err.Error())
			j.finish(TurnResult{}, err)
			return
		}
		s.conn = conn
		if j.isOpen() {
			s.setStatus(ev, StateIdle, "")
		}
	}
	if j.isOpen() {
		j.finish(TurnResult{}, nil)
		return
	}

	turn := j.Turn
	var title string
	s.mu.Lock()
	needTitle := s.title == ""
	s.mu.Unlock()
	if needTitle {
		title = store.Title(backends.PromptText(turn.Prompt))
	}
	var switchModel, switchMode string
	s.mu.Lock()
	s.turns++
	if turn.Model != "" && turn.Model != s.model {
		s.model, switchModel = turn.Model, turn.Model
	}
	if turn.PermissionMode != "" && turn.PermissionMode != s.mode {
		s.mode, switchMode = turn.PermissionMode, turn.PermissionMode
	}
	if s.title == "" {
		s.title = title
	}
	s.updatedAt = time.Now().UTC()
	turn.Model, turn.PermissionMode = s.model, s.mode
	s.mu.Unlock()
	s.recordSwitch(switchModel, switchMode)

	sink := &turnSink{s: s, ctx: ctx, cancel: cancel, ev: ev, rec: s.beginRecord(turn.Prompt), unrecorded: unrecordedText{at: time.Now()}}
	s.setStatus(ev, StateBusy, "")
	res, err := s.conn.Query(ctx, turn, sink)
	// No permission request outlives its turn: whatever is still pending
	// is denied for the backend and withdrawn for the editor.
	sink.withdrawAll(withdrawReason(ctx))
	if ctx.Err() != nil {
		err = nil
		res.StopReason = backends.StopCancelled
	}
	sink.endRecord(res, err)
	s.mu.Lock()
	s.updatedAt = time.Now().UTC()
	s.mu.Unlock()
	if err == nil {
		s.setStatus(ev, StateIdle, "")
	} else {
		s.setStatus(ev, StateFailed, err.Error())
	}
	if err := s.turnError(ctx, err); err != nil {
		j.finish(TurnResult{}, err)
		return
	}
	j.finish(TurnResult{
		SessionID:        s.id,
		StopReason:       res.StopReason,
		Text:             sink.text,
		Usage:            res.Usage,
		Duration:         time.Since(start),
		CostUSD:          res.CostUSD,
		NumTurns:         res.NumTurns,
		BackendSessionID: res.BackendSessionID,
	}, nil)
}

// jobEnded notes when the session was last used, and gives back the
// process slot of a process that is gone (it crashed, or a cancel stopped
// it): the next job takes a slot again before it starts one.
func (s *Session) jobEnded() {
	s.mu.Lock()
	s.lastUsed = time.Now()
	s.mu.Unlock()
	if sus, ok := s.conn.(backends.Suspender); ok && !sus.Running() {
		s.registry.releaseProcess(s)
	}
}

// withdrawReason is why the permission requests of a turn that ended are
// withdrawn.
func withdrawReason(ctx context.Context) string {
	if ctx.Err() == nil {
		return ReasonTurnEnded
	}
	if errors.Is(context.Cause(ctx), errSessionClosing) {
		return ReasonSessionClosed
	}
	return ReasonCancelled
}

// turnError decides how a turn that ended with err (maybe nil) is answered.
// A request cancelled by itself (its dialect's cancel) or by the connection
// closing is answered with the cancellation's cause; one cancelled through
// its session ends normally ("cancelled"), so nil.
func (s *Session) turnError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		cause := context.Cause(ctx)
		if errors.Is(cause, errSessionCancel) || errors.Is(cause, errSessionClosing) {
			return nil
		}
		return cause
	}
	return err
}

// turnSink is the backends.Sink of one turn. It is used only from the turn
// goroutine, except noteWithdrawn, which the broker may call from any.
type turnSink struct {
	s       *Session
	ctx     context.Context
	cancel  context.CancelCauseFunc // cancels ctx: a decision may cancel the turn
	ev      Events
	text    Text
	asked   []string // permission request ids of this turn, still pending
	waiting bool     // status is waiting_permission
	// rec records the turn in the store: nil (recording nothing) for a
	// session that is not stored. The token path only notes the text for
	// it (unrecorded; store.go).
	rec        *store.TurnRecorder
	unrecorded unrecordedText

	// Withdrawals noted by the broker, told to the editor by the turn
	// goroutine before the next event: the editor then sees a request's
	// withdrawal after the request and before anything that follows it.
	hasWithdrawn atomic.Bool
	mu           sync.Mutex
	withdrawn    []withdrawal
}

type withdrawal struct{ id, reason string }

var _ backends.Sink = (*turnSink)(nil)

// before runs before every event: it tells the editor of withdrawn
// requests, and puts the status back to busy once no request of the
// session waits any more. It costs an atomic load and a branch unless a
// permission request is involved.
func (t *turnSink) before() {
	if t.hasWithdrawn.Load() {
		t.flushWithdrawn()
	}
	if t.waiting && t.s.broker.waiting(t.s.instance) == 0 {
		t.waiting = false
		t.s.setStatus(t.ev, StateBusy, "")
	}
}

func (t *turnSink) Token(text string) {
	if text == "" {
		return
	}
	t.before()
	t.text.write(text)
	t.recordText()
	t.ev.Token(text)
}

func (t *turnSink) Thinking(text string) {
	if text == "" {
		return
	}
	t.before()
	t.recordThinking(text)
	t.ev.Thinking(text)
}

func (t *turnSink) ToolUse(u backends.ToolUse) {
	t.before()
	if len(u.Input) == 0 {
		u.Input = emptyObject
	}
	t.recordToolUse(u)
	t.ev.ToolUse(u)
}

func (t *turnSink) ToolResult(r backends.ToolResult) {
	t.before()
	t.recordToolResult(r)
	t.ev.ToolResult(r)
}

func (t *turnSink) Plan(entries []backends.PlanEntry) {
	t.before()
	t.ev.Plan(entries)
}

func (t *turnSink) Usage(u backends.ContextUsage) {
	t.before()
	t.ev.Usage(u)
}

func (t *turnSink) Commands(cmds []backends.Command) {
	t.before()
	t.ev.Commands(cmds)
}

func (t *turnSink) Progress(detail string) {
	t.before()
	if !t.waiting {
		t.s.setStatus(t.ev, StateBusy, detail)
	}
}

var emptyObject = []byte("{}")

func (t *turnSink) AskPermission(req backends.PermissionRequest) backends.Permission {
	if t.ctx.Err() != nil {
		// Nobody can answer a request of a cancelled turn.
		deny := make(chan backends.Decision, 1)
		deny <- backends.Decision{Reason: withdrawReason(t.ctx), Withdrawn: true}
		return backends.Permission{Decision: deny}
	}
	t.before()
	if len(req.ToolInput) == 0 {
		req.ToolInput = emptyObject
	}
	t.flushText() // the text before the request is recorded before its decision
	rule := alwaysRule(req)
	if !req.AgentRemembers {
		// What the editor shows is what the session remembers.
		req.Rule = rule.String()
	}
	id := uuid.NewString()
	p, ask := t.s.broker.ask(id, t.s.instance, req, rule, func(reason string) { t.noteWithdrawn(id, reason) }, t.decided(req))
	if !ask {
		return p
	}
	t.asked = append(t.asked, id)
	// The session is waiting_permission (session/list says so) from the
	// moment the editor can see the request; the status event follows
	// the request on the wire.
	first := !t.waiting
	if first {
		t.waiting = true
		t.s.recordStatus(StateWaitingPermission)
	}
	t.ev.PermissionRequested(PermissionRequest{ID: id, PermissionRequest: req})
	if first {
		t.ev.Status(Status{State: StateWaitingPermission, Detail: req.ToolName})
	}
	return p
}

// decided returns what the broker tells of the decision on req, just
// before the backend hears it, on whatever goroutine decides (the
// dialect's, answering): a decision that cancels the turn cancels it
// first, so the backend sees the deny within a cancelled turn; and the
// decision is recorded in the store (when the turn is), with the rule
// "always" remembered.
func (t *turnSink) decided(req backends.PermissionRequest) func(backends.Decision) {
	cancel, rec := t.cancel, t.rec
	return func(d backends.Decision) {
		if d.CancelTurn {
			cancel(errSessionCancel)
		}
		if rec == nil {
			return
		}
		p := store.Permission{ToolUseID: req.ToolUseID, Tool: req.ToolName, Allow: d.Allow, Reason: d.Reason}
		if d.Allow && d.Remember {
			p.Rule = req.Rule
		}
		rec.Permission(p)
	}
}

func (t *turnSink) noteWithdrawn(id, reason string) {
	t.mu.Lock()
	t.withdrawn = append(t.withdrawn, withdrawal{id, reason})
	t.mu.Unlock()
	t.hasWithdrawn.Store(true)
}

func (t *turnSink) flushWithdrawn() {
	t.mu.Lock()
	list := t.withdrawn
	t.withdrawn = nil
	t.hasWithdrawn.Store(false)
	t.mu.Unlock()
	for _, w := range list {
		for i, id := range t.asked {
			if id == w.id {
				t.asked = append(t.asked[:i], t.asked[i+1:]...)
				break
			}
		}
		t.ev.PermissionWithdrawn(w.id, w.reason)
	}
}

func (t *turnSink) WithdrawPermission(requestID, reason string) {
	t.s.broker.withdraw(requestID, reason)
	t.before()
}

// withdrawAll withdraws every request of this turn still pending, and
// tells the editor of every withdrawal not yet told.
func (t *turnSink) withdrawAll(reason string) {
	for _, id := range append([]string(nil), t.asked...) {
		t.s.broker.withdraw(id, reason)
	}
	t.flushWithdrawn()
	t.asked = nil
	t.waiting = false
}

func (t *turnSink) CallTool(ctx context.Context, call backends.ToolCall) (backends.ToolCallResult, error) {
	t.before()
	if len(call.Arguments) == 0 {
		call.Arguments = emptyObject
	}
	out, err := t.ev.CallTool(ctx, call)
	if err != nil {
		return out, fmt.Errorf("calling the editor's tool %s: %w", call.Name, err)
	}
	return out, nil
}
