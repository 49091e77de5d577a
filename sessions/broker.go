package sessions

import (
	"sync"

	"github.com/google/uuid"

	"github.com/tether-dev/tether/backends"
)

// Broker holds the permission requests that wait for the editor, across all
// sessions, so that permission/respond (which names only a request id) finds
// its request.
//
// Each request is a one-shot reply: a channel with room for exactly one
// Decision. Whoever removes the request from the map (the editor's answer,
// a withdrawal) is the one that sends on it, so a request is answered once
// and the backend never blocks. The mutex guards only the maps; nothing is
// sent while holding it that could block.
type Broker struct {
	mu         sync.Mutex
	pending    map[string]*pendingPermission
	remembered map[string]map[string]bool // session id → tool names allowed for the session
	gone       string                     // set when no client can answer any more: the reason
}

type pendingPermission struct {
	sessionID string
	toolName  string
	decision  chan backends.Decision
	// withdrawn tells the editor the request is gone. Whoever withdraws the
	// request calls it before sending the deny, so the notice reaches the
	// editor before anything the backend does next.
	withdrawn func(reason string)
}

// NewBroker returns an empty Broker.
func NewBroker() *Broker {
	return &Broker{
		pending:    make(map[string]*pendingPermission),
		remembered: make(map[string]map[string]bool),
	}
}

// ask registers a request for toolName in session. When the answer is known
// already (the editor allowed the tool for the session, or no client is left
// to answer) the decision is ready at once and ask is false: nothing needs
// to be asked. withdrawn is called if the request is withdrawn.
func (b *Broker) ask(sessionID, toolName string, withdrawn func(reason string)) (p backends.Permission, ask bool) {
	ch := make(chan backends.Decision, 1)
	p = backends.Permission{ID: uuid.NewString(), Decision: ch}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.remembered[sessionID][toolName]:
		ch <- backends.Decision{Allow: true, Reason: "allowed earlier in this session", Remember: true}
		return p, false
	case b.gone != "":
		ch <- backends.Decision{Reason: b.gone}
		return p, false
	}
	b.pending[p.ID] = &pendingPermission{sessionID: sessionID, toolName: toolName, decision: ch, withdrawn: withdrawn}
	return p, true
}

// Respond delivers the editor's decision for requestID. It fails with a
// *ParamError when the id is unknown or was already answered or withdrawn.
func (b *Broker) Respond(requestID string, d backends.Decision) error {
	b.mu.Lock()
	p, ok := b.pending[requestID]
	if ok {
		delete(b.pending, requestID)
		if d.Allow && d.Remember {
			if b.remembered[p.sessionID] == nil {
				b.remembered[p.sessionID] = make(map[string]bool)
			}
			b.remembered[p.sessionID][p.toolName] = true
		}
	}
	b.mu.Unlock()
	if !ok {
		return paramErrorf("requestId", "no pending permission request %q (unknown, answered or withdrawn)", requestID)
	}
	p.decision <- d
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
	p.decision <- backends.Decision{Reason: reason}
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

// waiting reports how many requests of a session wait for the editor.
func (b *Broker) waiting(sessionID string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, p := range b.pending {
		if p.sessionID == sessionID {
			n++
		}
	}
	return n
}

// forget drops what the editor allowed for a session that ended.
func (b *Broker) forget(sessionID string) {
	b.mu.Lock()
	delete(b.remembered, sessionID)
	b.mu.Unlock()
}
