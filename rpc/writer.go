package rpc

import (
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// writer is a connection's output: one goroutine that writes what the
// producers have made ready, in order, many messages per write.
//
// Producers encode on their own goroutines and hand the writer segments,
// in a queue that the writer takes whole, under a lock held only to take or
// to add a segment. A message sent on the connection itself (Notify, Reply,
// Call, Send) is a segment of its own. An Outbox (one producer: a query's
// presenter) fills a segment of its own, which stays open for more of that
// outbox's messages, and merges consecutive texts of one TextKind in it,
// until the writer takes it or a message is sent on the connection: a
// message on the connection counts one generation, and a segment of an
// older generation takes nothing more. So a message goes out after every
// message sent before it on the same outbox or on the connection, and a
// message sent on the connection (a reply) after every message sent before
// it anywhere (its notifications). Outboxes are not ordered among
// themselves beyond that.
//
// Memory stays bounded when the peer stops reading: an outbox holds at most
// about outboxLimit bytes not yet taken, and messages on the connection
// about connLimit, before their senders wait for the writer. That waiting
// is the back-pressure on the backends.
type writer struct {
	stream *Stream
	log    *slog.Logger
	trace  bool

	gen atomic.Uint64 // counts messages sent on the connection; written under mu

	mu         sync.Mutex
	queue      []*segment
	connQueued int           // bytes of connection messages in queue
	progress   chan struct{} // closed when the writer takes the queue, for senders waiting on connLimit; nil when none waits
	stopping   bool          // no more segments are taken in; the writer drains and ends

	wake    chan struct{} // a token when queue or stopping changed
	dead    chan struct{} // closed when nothing more will be written: a write failed, or the writer ended
	isDead  atomic.Bool
	deadErr error // why, set before dead is closed
	once    sync.Once
	done    chan struct{} // closed when run has returned
	started atomic.Bool

	// Owned by the goroutine in run.
	spare  []*segment
	batch  []byte
	failed bool
}

// Limits on what waits for the writer; see writer.
const (
	outboxLimit = 64 << 10
	connLimit   = 1 << 20
	// maxBatch is about the most one write carries: past it the batch is
	// written before more is taken from the queue.
	maxBatch = 256 << 10
	// keptSegmentCap bounds the buffer an outbox keeps for its next
	// segment: a larger one (a large message) is dropped. A buffer grown
	// to the outbox's limit while the peer was slow is kept, so a busy
	// outbox reuses it round after round.
	keptSegmentCap = 2 * outboxLimit
	// stuckWriteWait bounds how long Close waits for a write that does not
	// return (a peer that neither reads nor closes).
	stuckWriteWait = 5 * time.Second
)

// segment is a part of the output handed to the writer: messages of one
// outbox, or one message sent on the connection.
type segment struct {
	box  *Outbox // nil for a message sent on the connection
	gen  uint64  // the generation it was queued in
	buf  []byte  // message bodies, back to back
	ends []int   // where each complete body in buf ends
	// run is the kind of the last body of buf while that is a text still
	// open to more text; its suffix is not in buf yet.
	run *TextKind
	// large is a result written straight to the output after buf (the
	// reply's head), followed by a '}'.
	large Streamer
}

// closeRun ends the open text run, if any.
func (s *segment) closeRun() {
	if s.run != nil {
		s.buf = append(s.buf, s.run.suffix...)
		s.ends = append(s.ends, len(s.buf))
		s.run = nil
	}
}

func newWriter(stream *Stream, log *slog.Logger, trace bool) *writer {
	return &writer{
		stream: stream, log: log, trace: trace,
		wake: make(chan struct{}, 1),
		dead: make(chan struct{}),
		done: make(chan struct{}),
	}
}

// start starts the goroutine; see writer.
func (w *writer) start() {
	w.started.Store(true)
	go w.run()
}

func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// die marks the writer as writing nothing more, for err.
func (w *writer) die(err error) {
	w.once.Do(func() {
		w.deadErr = err
		w.isDead.Store(true)
		close(w.dead)
	})
}

// errNotWritten is what a send returns when the writer writes nothing more.
func (w *writer) err() error {
	<-w.dead
	return w.deadErr
}

// sendMessage queues one message sent on the connection, after everything
// queued so far; body is kept until it is written. It waits while too much
// of that kind is queued already.
func (w *writer) sendMessage(body []byte, large Streamer) error {
	if w.trace {
		w.log.Debug("-> message", "body", string(body), "streamed", large != nil)
	}
	seg := &segment{buf: body, ends: []int{len(body)}, large: large}
	if large != nil {
		seg.ends = nil // the head of a body that the writer completes
	}
	w.mu.Lock()
	for w.connQueued >= connLimit && !w.stopping && !w.isDead.Load() {
		if w.progress == nil {
			w.progress = make(chan struct{})
		}
		progress := w.progress
		w.mu.Unlock()
		select {
		case <-progress:
		case <-w.dead:
		}
		w.mu.Lock()
	}
	if w.stopping || w.isDead.Load() {
		w.mu.Unlock()
		if w.isDead.Load() {
			return w.err()
		}
		return ErrClosed
	}
	seg.gen = w.gen.Add(1)
	w.connQueued += len(body)
	w.queue = append(w.queue, seg)
	w.mu.Unlock()
	w.signal()
	return nil
}

// enqueue queues an outbox's new segment. The outbox's lock is held.
func (w *writer) enqueue(seg *segment) error {
	w.mu.Lock()
	if w.stopping {
		w.mu.Unlock()
		return ErrClosed
	}
	seg.gen = w.gen.Load()
	w.queue = append(w.queue, seg)
	w.mu.Unlock()
	w.signal()
	return nil
}

// stop asks the writer to write what is queued and end, and waits for it,
// for at most wait when a write does not return. It reports whether the
// writer ended.
func (w *writer) stop(wait time.Duration) bool {
	w.mu.Lock()
	w.stopping = true
	w.mu.Unlock()
	w.signal()
	if !w.started.Load() {
		w.die(ErrClosed)
		return true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-w.done:
		return true
	case <-t.C:
		return false
	}
}

// run is the writer goroutine: it takes the queue whole, frames every
// message of it into one batch and writes it, until stop and the queue is
// empty. After a failed write it writes nothing more, and keeps taking
// the queue so that no sender waits for it.
func (w *writer) run() {
	defer close(w.done)
	defer w.die(ErrClosed)
	for {
		w.mu.Lock()
		for len(w.queue) == 0 {
			if w.stopping {
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			<-w.wake
			w.mu.Lock()
		}
		segs := w.queue
		w.queue, w.spare = w.spare, nil
		w.connQueued = 0
		if w.progress != nil {
			close(w.progress)
			w.progress = nil
		}
		w.mu.Unlock()
		for i, seg := range segs {
			w.take(seg)
			segs[i] = nil
			if len(w.batch) >= maxBatch {
				w.flush()
			}
		}
		w.flush()
		w.spare = segs[:0]
	}
}

// take frames the messages of seg into the batch. An outbox's segment is
// closed to more messages and handed back to its outbox for reuse.
func (w *writer) take(seg *segment) {
	o := seg.box
	if o == nil {
		w.frameAll(seg)
		if seg.large != nil {
			w.writeLarge(seg)
		}
		return
	}
	o.mu.Lock()
	if o.open == seg {
		o.open = nil
	}
	o.pending -= len(seg.buf)
	seg.closeRun()
	w.frameAll(seg)
	seg.buf, seg.ends = seg.buf[:0], seg.ends[:0]
	if cap(seg.buf) <= keptSegmentCap {
		o.free = seg
	}
	if o.space != nil {
		close(o.space)
		o.space = nil
	}
	o.mu.Unlock()
}

// frameAll appends every complete body of seg to the batch, framed.
func (w *writer) frameAll(seg *segment) {
	start := 0
	for _, end := range seg.ends {
		body := seg.buf[start:end]
		if w.trace && seg.box != nil {
			w.log.Debug("-> message", "body", string(body))
		}
		w.frame(len(body))
		w.batch = append(w.batch, body...)
		w.endFrame()
		start = end
	}
}

// frame appends the start of a frame whose body has n bytes.
func (w *writer) frame(n int) {
	if w.stream.Framing() != FramingNDJSON {
		w.batch = append(w.batch, "Content-Length: "...)
		w.batch = strconv.AppendInt(w.batch, int64(n), 10)
		w.batch = append(w.batch, "\r\n\r\n"...)
	}
}

// endFrame appends the end of a frame.
func (w *writer) endFrame() {
	if w.stream.Framing() == FramingNDJSON {
		w.batch = append(w.batch, '\n')
	}
}

// writeLarge writes a message whose head is seg.buf and whose result
// streams itself, through the batch, which it flushes as it fills.
func (w *writer) writeLarge(seg *segment) {
	head := seg.buf
	n := -1
	if w.stream.Framing() != FramingNDJSON {
		n = len(head) + seg.large.JSONLen() + 1
	}
	w.frame(n)
	w.batch = append(w.batch, head...)
	bw := &batchWriter{w: w}
	if err := seg.large.StreamJSON(bw); err != nil && !w.failed {
		// Nothing that was written can be taken back: the frame is
		// broken, and so is the stream.
		w.log.Error("streaming a result; the output is broken from here", "err", err)
		w.failed = true
		w.die(err)
	}
	if n >= 0 && bw.n != n-len(head)-1 {
		w.log.Error("a streamed result was not as long as it said; the output is broken from here", "said", n-len(head)-1, "wrote", bw.n)
	}
	w.batch = append(w.batch, '}')
	w.endFrame()
}

// batchWriter appends to the writer's batch and writes it out as it fills.
type batchWriter struct {
	w *writer
	n int
}

func (b *batchWriter) Write(p []byte) (int, error) {
	b.n += len(p)
	b.w.batch = append(b.w.batch, p...)
	if len(b.w.batch) >= maxBatch {
		b.w.flush()
	}
	if b.w.failed {
		return len(p), errWriteFailed
	}
	return len(p), nil
}

var errWriteFailed = errors.New("writing to the peer failed")

// flush writes the batch, unless a write failed before.
func (w *writer) flush() {
	if len(w.batch) == 0 {
		return
	}
	if !w.failed {
		if err := w.stream.write(w.batch); err != nil {
			w.log.Debug("write", "err", err)
			w.failed = true
			w.die(errors.Join(errWriteFailed, err))
		}
	}
	if cap(w.batch) > 4*maxBatch {
		w.batch = nil // grown by a large message; not kept
	} else {
		w.batch = w.batch[:0]
	}
}

var _ io.Writer = (*batchWriter)(nil)
