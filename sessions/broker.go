package sessions

import (
	"sync"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/permissions"
)

// Broker holds the permission requests that wait for the editor, across all
// sessions, so that an answer (which names only a request id) finds its
// request; and the rules each session instance was told to remember.
//
// Each request is a one-shot reply: a channel with room for exactly one
// Decision. Whoever removes the request from the map (the editor's answer,
// a withdrawal) is the one that sends on it, so a request is answered once
// and the backend never blocks. The mutex guards only the maps; nothing is
// sent while holding it that could block.
type Broker struct {
	mu      sync.Mutex
	pending map[string]*pendingPermission
	// remembered holds, per session instance (not per session id: a new
	// session that reuses an id asks again), the rules "always" added.
	remembered map[uint64]*permissions.Set
	gone       string // set when no client can answer any more: the reason
}

type pendingPermission struct {
	instance uint64
	rule     permissions.Rule // what "always" remembers; zero when the agent remembers
	decision chan backends.Decision
	// withdrawn tells the session the request is gone, before the deny is
	// sent; the session tells the editor from its turn goroutine.
	withdrawn func(reason string)
	// decided, when set, is told every decision just before it is sent,
	// on the goroutine that decides (the session records it).
	decided func(backends.Decision)
}

// send delivers d: it tells decided, then the backend.
func (p *pendingPermission) send(d backends.Decision) {
	if p.decided != nil {
		p.decided(d)
	}
	p.decision <- d
}

// NewBroker returns an empty Broker.
func NewBroker() *Broker {
	return &Broker{
		pending:    make(map[string]*pendingPermission),
		remembered: make(map[uint64]*permissions.Set),
	}
}

// ask registers request id of session instance. When the answer is known
// already (a rule the editor allowed for the session covers it, or no
// client is left to answer) the decision is ready at once and ask is false:
// nothing needs to be asked. withdrawn is called, on whatever goroutine
// withdraws it, if the request is withdrawn. rule is what "always" adds
// (see alwaysRule). decided (may be nil) is told the decision, whoever
// makes it, just before it is sent.
func (b *Broker) ask(id string, instance uint64, req backends.PermissionRequest, rule permissions.Rule, withdrawn func(reason string), decided func(backends.Decision)) (p backends.Permission, ask bool) {
	ch := make(chan backends.Decision, 1)
	p = backends.Permission{ID: id, Decision: ch}
	pending := &pendingPermission{instance: instance, rule: rule, decision: ch, withdrawn: withdrawn, decided: decided}
	b.mu.Lock()
	var now *backends.Decision
	switch r, ok := b.remembered[instance].Match(req.ToolName, req.ToolInput); {
	case ok && !req.AgentRemembers:
		now = &backends.Decision{Allow: true, Reason: "allowed earlier in this session (" + r.String() + ")", Remember: true}
	case b.gone != "":
		now = &backends.Decision{Reason: b.gone, Withdrawn: true}
	default:
		b.pending[id] = pending
	}
	b.mu.Unlock()
	if now != nil {
		pending.send(*now)
		return p, false
	}
	return p, true
}

// alwaysRule is the rule "always" adds for req when the session remembers
// it (the agent does not): the backend's rule, else the one the
// permissions package makes for the tool and its input. It is the zero
// Rule when the agent remembers, or when nothing can be remembered (the
// backend's rule does not parse, the input is not a JSON object).
func alwaysRule(req backends.PermissionRequest) permissions.Rule {
	if req.AgentRemembers {
		return permissions.Rule{}
	}
	var (
		r   permissions.Rule
		err error
	)
	if req.Rule != "" {
		r, err = permissions.Parse(req.Rule)
	} else {
		r, err = permissions.For(req.ToolName, req.ToolInput)
	}
	if err != nil || r.Tool() != req.ToolName {
		return permissions.Rule{}
	}
	return r
}

// Respond delivers the editor's decision for requestID. It fails with a
// *ParamError when the id is unknown or was already answered or withdrawn.
func (b *Broker) Respond(requestID string, d backends.Decision) error {
	b.mu.Lock()
	p, ok := b.pending[requestID]
	if ok {
		delete(b.pending, requestID)
		if d.Allow && d.Remember && !p.rule.IsZero() {
			if b.remembered[p.instance] == nil {
				b.remembered[p.instance] = &permissions.Set{}
			}
			b.remembered[p.instance].Add(p.rule)
		}
	}
	b.mu.Unlock()
	if !ok {
		return paramErrorf("requestId", "no pending permission request %q (unknown, answered or withdrawn)", requestID)
	}
	p.send(d)
	return nil
}

// withdraw denies requestID if it is still pending.
func (b *Broker) withdraw(requestID, reason string) {
	b.mu.Lock()
	p, ok := b.pending[requestID]
	delete(b.pending, requestID)
	b.mu.Unlock()
	if ok {
		p.deny(reason)
	}
}

func (p *pendingPermission) deny(reason string) {
	if p.withdrawn != nil {
		p.withdrawn(reason)
	}
	p.send(backends.Decision{Reason: reason, Withdrawn: true})
}

// clientGone denies every pending request, and every later one at once:
// nobody is left to answer them.
func (b *Broker) clientGone(reason string) {
	b.mu.Lock()
	b.gone = reason
	pending := b.pending
	b.pending = make(map[string]*pendingPermission)
	b.mu.Unlock()
	for _, p := range pending {
		p.deny(reason)
	}
}

// waiting reports how many requests of a session instance wait for the
// editor.
func (b *Broker) waiting(instance uint64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, p := range b.pending {
		if p.instance == instance {
			n++
		}
	}
	return n
}

// forget drops what the editor allowed for a session instance that ended.
func (b *Broker) forget(instance uint64) {
	b.mu.Lock()
	delete(b.remembered, instance)
	b.mu.Unlock()
}
