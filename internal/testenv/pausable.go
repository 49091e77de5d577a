package testenv

import (
	"io"
	"sync"
)

// PausableReader is a test client's end of Tether's output. While it is
// paused the client reads nothing, so Tether's writes block, as they do for
// an editor that is busy elsewhere; the tests of merged tokens and chunks
// stall a client with it.
type PausableReader struct {
	r      io.Reader
	mu     sync.Mutex
	cond   sync.Cond
	paused bool
}

// NewPausableReader returns a reader of r that reads until paused.
func NewPausableReader(r io.Reader) *PausableReader {
	p := &PausableReader{r: r}
	p.cond.L = &p.mu
	return p
}

// Read waits while the reader is paused, then reads from the underlying
// reader.
func (p *PausableReader) Read(b []byte) (int, error) {
	p.mu.Lock()
	for p.paused {
		p.cond.Wait()
	}
	p.mu.Unlock()
	return p.r.Read(b)
}

// Pause stops reading, after the read in progress if any.
func (p *PausableReader) Pause() { p.setPaused(true) }

// Resume reads on.
func (p *PausableReader) Resume() { p.setPaused(false) }

func (p *PausableReader) setPaused(paused bool) {
	p.mu.Lock()
	p.paused = paused
	p.mu.Unlock()
	p.cond.Broadcast()
}
