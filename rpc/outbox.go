package rpc

import (
	"fmt"
	"io"
	"sync"

	"github.com/tether-dev/tether/internal/jsonwire"
)

// Outbox is one producer's way out: a dialect's presenter of one session or
// query. Its messages go out in the order they were sent, after every
// message sent on the connection before them (see writer), and a sender
// never waits for the peer to read, unless about 64 KiB of its messages
// are waiting already: then it waits until the writer takes them, which is
// what holds a backend back while the peer does not read.
//
// Texts merge: a Text sent while the previous message of the outbox is an
// unwritten Text of the same kind extends that one. So when the peer keeps
// up, every text goes out as it comes, with no timer and nothing held
// back; when it does not (a write blocks, or the writer is busy), the
// texts waiting meanwhile go out as one message whose text is their
// concatenation, exactly. Nothing else merges or moves: a text of another
// kind, or any other message in between, starts a new message.
//
// Use an Outbox from one goroutine at a time. It keeps the buffer it
// filled last for its next messages (up to about 128 KiB, when the peer
// was slow): make one per query or turn, not one per session, and an idle
// session holds none.
type Outbox struct {
	w *writer

	mu      sync.Mutex // guards the fields below; the writer takes it to take a segment
	open    *segment   // queued and not taken yet: more messages go here
	free    *segment   // one taken segment, for reuse
	pending int        // bytes in this outbox's segments not taken yet
	// space, when not nil, is closed by the writer when it takes a
	// segment of the outbox: senders waiting for room (the Conn's shared
	// outbox may have several) look again.
	space chan struct{}
}

// NewOutbox returns an outbox of the connection.
func (c *Conn) NewOutbox() *Outbox { return &Outbox{w: c.w} }

// TextKind is a notification that carries one text and may be merged: its
// JSON encoding is prefix, the text's contents (escaped, without quotes),
// then suffix. Every notification of one kind must have the same prefix
// and suffix (one query's tokens): only texts of the same *TextKind merge.
type TextKind struct {
	prefix, suffix []byte
}

// NewTextKind returns a kind whose messages are prefix + text + suffix:
// prefix ends with the opening quote of the text's string, suffix starts
// with its closing quote. For Tether's tokens:
//
//	prefix `{"jsonrpc":"2.0","method":"session/token","params":{"sessionId":"s1","queryId":2,"text":"`
//	suffix `"}}`
func NewTextKind(prefix, suffix []byte) *TextKind {
	return &TextKind{prefix: prefix, suffix: suffix}
}

// Text sends text as a message of kind, merged into the previous message
// when that is of the same kind and not written yet. It fails once
// nothing more can be written (the connection closed, or a write failed).
func (o *Outbox) Text(kind *TextKind, text string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	seg, err := o.segment()
	if err != nil {
		return err
	}
	n := len(seg.buf)
	if seg.run != kind {
		seg.closeRun()
		seg.buf = append(seg.buf, kind.prefix...)
		seg.run = kind
	}
	seg.buf = jsonwire.AppendStringContents(seg.buf, text)
	o.pending += len(seg.buf) - n
	return nil
}

// Send sends one message that the caller encoded; body is not retained.
func (o *Outbox) Send(body []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	seg, err := o.segment()
	if err != nil {
		return err
	}
	n := len(seg.buf)
	seg.closeRun()
	seg.buf = append(seg.buf, body...)
	seg.ends = append(seg.ends, len(seg.buf))
	o.pending += len(seg.buf) - n
	return nil
}

// Notify sends a notification.
func (o *Outbox) Notify(method string, params any) error {
	body, err := appendRequest(nil, nil, method, params)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", method, err)
	}
	return o.Send(body)
}

// segment returns the segment to add to, after waiting, while too much of
// this outbox is not taken yet, until the writer takes some. o.mu is held,
// and released while waiting.
func (o *Outbox) segment() (*segment, error) {
	for o.pending >= outboxLimit && !o.w.isDead.Load() {
		if o.space == nil {
			o.space = make(chan struct{})
		}
		space := o.space
		o.mu.Unlock()
		select {
		case <-space:
		case <-o.w.dead:
		}
		o.mu.Lock()
	}
	if o.w.isDead.Load() {
		return nil, o.w.err()
	}
	if seg := o.open; seg != nil && seg.gen == o.w.gen.Load() {
		return seg, nil
	}
	// None open, or it is older than a message sent on the connection
	// since, which must go out before what comes now.
	seg := o.free
	o.free = nil
	if seg == nil {
		seg = &segment{box: o}
	}
	if err := o.w.enqueue(seg); err != nil {
		return nil, err
	}
	o.open = seg
	return seg, nil
}

// Streamer is a result too large to copy whole, such as a long turn's text:
// when its turn comes, the connection's writer has it write its JSON
// encoding straight to the output, in pieces. JSONLen is asked first, for
// the frame's length; StreamJSON must write exactly that many bytes. Both
// run on the writer's goroutine, after Reply has returned, so what they
// read must not change after Reply.
type Streamer interface {
	JSONLen() int
	StreamJSON(w io.Writer) error
}
