package acp

import (
	"context"
	"errors"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// The options of every permission request. ACP leaves what "always" means
// to the agent: here it is the request's rule, for the rest of the session
// (the broker's), and the option's name says which rule.
const (
	optionAllowOnce   = "allow_once"
	optionAllowAlways = "allow_always"
	optionRejectOnce  = "reject_once"
)

// permissionCall is a session/request_permission in flight.
type permissionCall struct {
	cancel context.CancelFunc // withdraws it: rpc sends $/cancel_request
	done   chan struct{}      // closed when its goroutine has ended
}

// askPermission asks the client on a goroutine of its own, so that neither
// the session nor any other waits on the client, and feeds the answer to
// the registry's broker. It is called on the session's turn goroutine.
func (d *Dialect) askPermission(sessionID string, r sessions.PermissionRequest, call schema.ToolCallUpdate) {
	ctx, cancel := context.WithCancel(d.ctx)
	pc := &permissionCall{cancel: cancel, done: make(chan struct{})}
	d.mu.Lock()
	d.asked[r.ID] = pc
	d.mu.Unlock()
	params := schema.RequestPermissionRequest{
		SessionId: schema.SessionId(sessionID),
		ToolCall:  call,
		Options: []schema.PermissionOption{
			{OptionId: optionAllowOnce, Kind: schema.PermissionOptionKindAllowOnce, Name: "Allow"},
			{OptionId: optionAllowAlways, Kind: schema.PermissionOptionKindAllowAlways, Name: "Always allow " + alwaysRule(r.PermissionRequest)},
			{OptionId: optionRejectOnce, Kind: schema.PermissionOptionKindRejectOnce, Name: "Reject"},
		},
	}
	log := d.log.With("session", sessionID, "request", r.ID, "tool", r.ToolName)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer close(pc.done)
		defer cancel()
		var res schema.RequestPermissionResponse
		err := d.conn.Call(ctx, schema.ClientMethodSessionRequestPermission, params, &res)
		d.mu.Lock()
		delete(d.asked, r.ID)
		d.mu.Unlock()
		if ctx.Err() != nil || errors.Is(err, rpc.ErrInputEnded) || errors.Is(err, rpc.ErrClosed) {
			// Withdrawn, and the agent was told "deny" already; or no
			// answer can come any more, and the registry denies every
			// pending request itself (Drain, Shutdown) with the reason
			// it gives everywhere.
			return
		}
		dec := decision(res, err)
		if err != nil {
			log.Warn("permission request failed; denied", "err", err)
		}
		if err := d.reg.Respond(r.ID, dec); err != nil {
			// Withdrawn meanwhile (the turn ended, the client's input
			// ended): the agent has its answer.
			log.Debug("permission answer not delivered", "err", err)
		}
	}()
}

// decision turns the client's answer into the broker's. Anything but an
// allow, an error included, is a deny: no tool runs without a yes.
func decision(res schema.RequestPermissionResponse, err error) backends.Decision {
	switch {
	case err != nil:
		return backends.Decision{Reason: "the editor could not be asked: " + err.Error()}
	case res.Outcome.Cancelled != nil:
		// ACP: the prompt turn was cancelled before the user answered.
		return backends.Decision{Reason: "cancelled in the editor", CancelTurn: true}
	case res.Outcome.Selected == nil:
		return backends.Decision{Reason: "the editor answered no option"}
	}
	switch res.Outcome.Selected.OptionId {
	case optionAllowOnce:
		return backends.Decision{Allow: true}
	case optionAllowAlways:
		return backends.Decision{Allow: true, Remember: true}
	case optionRejectOnce:
		return backends.Decision{}
	}
	return backends.Decision{Reason: "unknown option " + string(res.Outcome.Selected.OptionId)}
}

// withdrawPermission cancels the request's call (rpc then sends
// $/cancel_request, unless the client has answered already) and waits for
// its goroutine, so that everything of the request is written before the
// prompt's reply. It is called on the session's turn goroutine.
func (d *Dialect) withdrawPermission(requestID string) {
	d.mu.Lock()
	pc := d.asked[requestID]
	d.mu.Unlock()
	if pc == nil {
		return
	}
	pc.cancel()
	<-pc.done
}

// alwaysRule is the rule remembering adds, as the user reads it.
func alwaysRule(r backends.PermissionRequest) string {
	if r.Rule != "" {
		return r.Rule
	}
	return r.ToolName + "(" + string(r.ToolInput) + ")"
}
