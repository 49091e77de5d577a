package acpagent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/rpc"
)

// turn is the state of one Query's prompt: it maps the agent's updates
// onto the sink and the editor's permission decisions back onto the
// agent's requests.
//
// Goroutines: the prompt's caller, which waits for session/prompt's answer
// and hands it over through answered; and one forwarder per permission
// request asked of the editor, which waits for its Decision (or for the
// agent to withdraw it) and hands it to the turn's loop through decided,
// or gives up when the turn ends (done is closed). runTurn closes done
// and waits for all of them before it returns.
type turn struct {
	c    *conn
	p    *process
	sink backends.Sink

	tools map[string]*toolCall // by toolCallId
	// pending are the agent's permission requests the editor has not
	// answered, by Tether's request id.
	pending   map[string]*pendingAsk
	cancelled bool // ctx ended and session/cancel was sent

	decided chan decided
	done    chan struct{}
	wg      sync.WaitGroup
}

// pendingAsk is one of the agent's permission requests, asked of the
// editor.
type pendingAsk struct {
	ask     *permissionAsk
	options []schema.PermissionOption
}

// decided is a forwarded Decision, or (withdrawn) the agent's
// $/cancel_request of the request.
type decided struct {
	id        string
	withdrawn bool
	backends.Decision
}

// promptAnswer is session/prompt's answer.
type promptAnswer struct {
	res schema.PromptResponse
	err error
}

// runTurn sends the prompt and maps the turn until the agent answers it.
// When ctx ends it sends session/cancel, answers the permission requests
// still pending "cancelled", and reads on until the agent answers (with
// stopReason cancelled, as ACP requires); an agent that takes longer than
// --agent-grace loses its answer, and the turn ends cancelled.
func (c *conn) runTurn(ctx context.Context, prompt []any, sink backends.Sink) (backends.Result, error) {
	t := &turn{
		c: c, p: c.proc, sink: sink,
		tools:   make(map[string]*toolCall),
		pending: make(map[string]*pendingAsk),
		decided: make(chan decided),
		done:    make(chan struct{}),
	}
	r := c.route
	f := r.startTurn()
	r.mu.Lock()
	costBefore := r.costUSD
	r.mu.Unlock()

	callCtx, abandon := context.WithCancel(context.Background())
	answered := make(chan promptAnswer, 1)
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		var a promptAnswer
		a.err = t.p.conn.Call(callCtx, schema.AgentMethodSessionPrompt, promptParams{SessionID: c.sessionID, Prompt: prompt}, &a.res)
		answered <- a
	}()
	defer func() {
		r.endTurn(f)
		abandon()
		close(t.done)
		t.wg.Wait()
	}()

	if c.note != "" {
		sink.Progress(c.note)
		c.note = ""
	}
	t.reportCommands()

	ctxDone := ctx.Done()
	var grace <-chan time.Time
	var a promptAnswer
loop:
	for {
		select {
		case ev := <-f.events:
			t.handle(ev)
		case d := <-t.decided:
			t.answer(d)
		case a = <-answered:
			// Everything the agent wrote before its answer is in the feed
			// already: the read loop handed it over before it read the
			// answer.
			for {
				select {
				case ev := <-f.events:
					t.handle(ev)
					continue
				default:
				}
				break loop
			}
		case <-ctxDone:
			ctxDone = nil
			t.cancel()
			timer := time.NewTimer(c.b.cfg.Grace)
			defer timer.Stop()
			grace = timer.C
		case <-grace:
			c.log.Warn("the agent did not end the cancelled turn in time; its answer is dropped", "grace", c.b.cfg.Grace)
			abandon()
			a = <-answered
			a.err = nil
			a.res = schema.PromptResponse{StopReason: schema.StopReasonCancelled}
			break loop
		}
	}
	t.answerPending()

	if a.err != nil {
		if t.cancelled {
			t.endTools("the turn was cancelled")
			return backends.Result{StopReason: backends.StopCancelled, BackendSessionID: c.sessionID}, nil
		}
		var re *rpc.Error
		var err error
		switch {
		case errors.Is(a.err, rpc.ErrInputEnded) || t.p.isGone():
			t.endTools("the agent exited")
			err = t.p.failure(errors.New("the agent exited mid-turn"))
		case errors.As(a.err, &re) && re.Code == codeResourceNotFound:
			// The agent no longer knows the session (it dropped it, or a
			// session/close that seemed to fail went through): let go of
			// the process, so the next query reloads it.
			t.endTools("the prompt failed")
			err = fmt.Errorf("%w: %s: the prompt failed: %w; the next query reloads the session", backends.ErrFailed, c.b.agent.Name, t.p.callError(a.err))
			c.heldBy = 0
			c.lost = true
		case errors.As(a.err, &re):
			t.endTools("the prompt failed")
			err = fmt.Errorf("%w: %s: the prompt failed: %w", backends.ErrFailed, c.b.agent.Name, t.p.callError(a.err))
		default:
			t.endTools("the prompt failed")
			err = t.p.failure(fmt.Errorf("session/prompt: %w", a.err))
		}
		return backends.Result{}, err
	}
	if t.cancelled || a.res.StopReason == schema.StopReasonCancelled {
		t.endTools("the turn was cancelled")
	}
	res := backends.Result{StopReason: stopReason(a.res.StopReason), BackendSessionID: c.sessionID}
	if t.cancelled {
		res.StopReason = backends.StopCancelled
	}
	if u := a.res.Usage; u != nil {
		res.Usage = backends.Usage{InputTokens: int64(u.InputTokens), OutputTokens: int64(u.OutputTokens)}
		if u.CachedReadTokens != nil {
			res.Usage.CacheReadTokens = int64(*u.CachedReadTokens)
		}
		if u.CachedWriteTokens != nil {
			res.Usage.CacheWriteTokens = int64(*u.CachedWriteTokens)
		}
	}
	r.mu.Lock()
	if r.costUSD > costBefore {
		res.CostUSD = r.costUSD - costBefore
	}
	r.mu.Unlock()
	return res, nil
}

// stopReason maps ACP's stop reasons onto the backends'.
func stopReason(s schema.StopReason) string {
	switch s {
	case schema.StopReasonMaxTokens:
		return backends.StopMaxTokens
	case schema.StopReasonMaxTurnRequests:
		return backends.StopMaxTurns
	case schema.StopReasonRefusal:
		return backends.StopRefusal
	case schema.StopReasonCancelled:
		return backends.StopCancelled
	}
	return backends.StopEndTurn
}

// handle maps one event onto the sink.
func (t *turn) handle(ev event) {
	switch ev.kind {
	case evToken:
		t.sink.Token(ev.text)
	case evThinking:
		t.sink.Thinking(ev.text)
	case evToolCall:
		t.toolCall(ev.update.(*wireToolCall))
	case evToolCallUpdate:
		t.toolCallUpdate(ev.update.(*wireToolCall))
	case evPlan:
		t.sink.Plan(planEntries(ev.update.(*schema.SessionUpdatePlan).Entries))
	case evCommands:
		t.reportCommands()
	case evUsage:
		t.sink.Usage(ev.usage)
	case evPermission:
		t.askPermission(ev.ask)
	case evNotice:
		t.sink.Progress(ev.text)
	}
}

// reportCommands passes the agent's slash commands on, once per change.
func (t *turn) reportCommands() {
	r := t.c.route
	r.mu.Lock()
	cmds, report := r.commands, !r.reported && r.commands != nil
	r.reported = true
	r.mu.Unlock()
	if report {
		t.sink.Commands(cmds)
	}
}

// cancel is ctx ending: session/cancel, and every pending permission
// request answered "cancelled" (ACP asks the client to), withdrawn from
// the editor.
func (t *turn) cancel() {
	t.cancelled = true
	if err := t.p.conn.Notify(schema.AgentMethodSessionCancel, schema.CancelNotification{SessionId: schema.SessionId(t.c.sessionID)}); err != nil {
		t.c.log.Warn("sending session/cancel", "err", err)
	}
	for id, pend := range t.pending {
		delete(t.pending, id)
		pend.ask.req.Reply(cancelledOutcome(), nil)
		t.sink.WithdrawPermission(id, "cancelled")
	}
}

// answerPending answers the permission requests the agent left open when
// it answered the prompt (nothing can use an answer now): "cancelled",
// and withdrawn from the editor.
func (t *turn) answerPending() {
	for id, pend := range t.pending {
		delete(t.pending, id)
		pend.ask.req.Reply(cancelledOutcome(), nil)
		t.sink.WithdrawPermission(id, "the turn ended")
	}
}
