package sessions

import "sync"

// mailbox is an actor's inbox. Unlike a channel it never blocks the sender
// (the sender is jsonrpc2's read loop) and it closes atomically: a put
// either lands before close, and is handed back by close for the actor to
// answer, or reports false. A buffered channel cannot give that: a send
// racing the actor's last drain would be lost.
type mailbox struct {
	mu     sync.Mutex
	items  []any
	closed bool
	ready  chan struct{} // has a value while items is not empty
}

func newMailbox() *mailbox { return &mailbox{ready: make(chan struct{}, 1)} }

// put adds v and reports whether the mailbox was still open.
func (m *mailbox) put(v any) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.items = append(m.items, v)
	select {
	case m.ready <- struct{}{}:
	default:
	}
	return true
}

// take returns everything put since the last take, in order.
func (m *mailbox) take() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	items := m.items
	m.items = nil
	return items
}

// close refuses further puts and returns what was put but not taken.
func (m *mailbox) close() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	items := m.items
	m.items = nil
	return items
}
