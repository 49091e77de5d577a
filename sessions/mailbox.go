package sessions

import "sync"

// mailbox is an actor's inbox, and what runs the actor: the first put into
// an empty, idle mailbox starts a goroutine (start) that takes and handles
// what was put until nothing is left, and then ends. So an idle actor
// costs no goroutine and no stack, and at most one goroutine runs it at a
// time; the mailbox's lock orders one run after the other.
//
// Unlike a channel it never blocks the sender (the sender is a dialect's
// read loop) and it closes atomically: a put either lands before close,
// and is handed back by close for the actor to answer, or reports false. A
// buffered channel cannot give that: a send racing the actor's last drain
// would be lost.
type mailbox struct {
	start func() // starts a goroutine that takes until take says stop

	mu      sync.Mutex
	items   []any
	running bool // a goroutine is taking; it checks for items before it ends
	closed  bool
}

// put adds v and reports whether the mailbox was still open.
func (m *mailbox) put(v any) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	m.items = append(m.items, v)
	start := !m.running
	m.running = true
	m.mu.Unlock()
	if start {
		m.start()
	}
	return true
}

// take returns everything put since the last take, in order. When there is
// nothing it returns nil, and the goroutine that called it must end: the
// next put starts another.
func (m *mailbox) take() []any {
	m.mu.Lock()
	defer m.mu.Unlock()
	items := m.items
	m.items = nil
	if len(items) == 0 {
		m.running = false
	}
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
