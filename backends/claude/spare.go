package claude

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tether-dev/tether/backends"
)

// spares keeps CLIs started ahead (--claude-spare N) for the cwd and
// options of the most recent session, so a new session with the same ones
// takes a process that has already started and answered initialize: its
// first prompt costs no CLI start (about 0.4 s). An idle CLI holds about
// 220 MB, so spares are opt-in, stopped when unused for Config.SpareIdle,
// counted against the process limit (backends.Spares), and stopped with
// the backend (Close).
//
// Goroutines: one filler at a time, started by refill when the pool is
// short of its target and ended when it is full, the template changes or
// the backend closes; and one idle timer callback per spare. Close stops
// every spare and waits for the filler.
type spares struct {
	b    *Backend
	want int

	mu       sync.Mutex
	template *backends.Options // the most recent session's options
	ready    []*spare
	filling  bool
	closed   bool
	wg       sync.WaitGroup
	ctx      context.Context // cancelled by Close: a start in progress stops
	cancel   context.CancelFunc
}

// spare is one started CLI waiting for a session.
type spare struct {
	c    *conn
	key  string      // the argv and cwd it was started with
	idle *time.Timer // stops it when unused for SpareIdle
}

func newSpares(b *Backend, want int) *spares {
	ctx, cancel := context.WithCancel(context.Background())
	return &spares{b: b, want: want, ctx: ctx, cancel: cancel}
}

// key is what a CLI is started with, for matching a spare to a session:
// everything on its command line, its directory and its environment.
func key(c *conn) string {
	parts := append(slices.Clone(c.args()), "cwd="+c.opts.Cwd)
	return strings.Join(append(parts, c.env()...), "\x00")
}

// take returns a spare started for c's command line, or nil. The spare's
// conn takes c's options and logger; the pool is refilled for the options
// of the session being opened.
func (p *spares) take(c *conn) *conn {
	if p == nil {
		return nil
	}
	k := key(c)
	p.mu.Lock()
	defer p.mu.Unlock()
	opts := c.opts
	opts.SessionID = ""
	if p.template == nil || !sameStart(*p.template, opts) {
		p.template = &opts
		// Spares for other options will not be taken: stop them.
		for _, s := range p.ready {
			p.stopLocked(s)
		}
		p.ready = nil
	}
	var got *conn
	for i, s := range p.ready {
		if s.key == k && s.c.proc != nil && !s.c.proc.hasExited() {
			s.idle.Stop()
			p.ready = slices.Delete(p.ready, i, i+1)
			got = s.c
			got.opts, got.log = c.opts, c.log
			break
		}
	}
	p.refillLocked()
	return got
}

// sameStart reports whether two sessions' CLIs would start alike.
func sameStart(a, b backends.Options) bool {
	return a.Model == b.Model && a.PermissionMode == b.PermissionMode && a.Cwd == b.Cwd &&
		a.SystemPrompt == b.SystemPrompt && a.AppendSystemPrompt == b.AppendSystemPrompt &&
		a.MaxTurns == b.MaxTurns && a.Resume == b.Resume &&
		slices.Equal(a.AllowedTools, b.AllowedTools) && slices.Equal(a.DisallowedTools, b.DisallowedTools) &&
		len(a.MCPServers) == 0 && len(b.MCPServers) == 0
}

// refillLocked starts the filler if the pool is short. p.mu is held.
func (p *spares) refillLocked() {
	if p.closed || p.filling || p.template == nil || p.template.Resume != "" || len(p.ready) >= p.want {
		return
	}
	p.filling = true
	p.wg.Add(1)
	go p.fill(*p.template)
}

// fill starts CLIs for opts until the pool is full, the template changes,
// or the backend closes.
func (p *spares) fill(opts backends.Options) {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if p.closed || p.template == nil || !sameStart(*p.template, opts) || len(p.ready) >= p.want {
			p.filling = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()

		path, err := p.b.executable()
		if err != nil {
			p.mu.Lock()
			p.filling = false
			p.mu.Unlock()
			return
		}
		c := newConn(p.b.cfg, path, opts, p.b.log.With("spare", true))
		if err := c.start(p.ctx); err != nil {
			p.b.log.Warn("starting a spare claude process", "err", err)
			p.mu.Lock()
			p.filling = false
			p.mu.Unlock()
			return
		}
		s := &spare{c: c, key: key(c)}
		p.mu.Lock()
		if p.closed || !sameStart(*p.template, opts) {
			p.mu.Unlock()
			c.Close(context.Background())
			continue
		}
		if idle := p.b.cfg.SpareIdle; idle > 0 {
			s.idle = time.AfterFunc(idle, func() { p.expire(s) })
		} else {
			s.idle = time.NewTimer(time.Hour * 24 * 365)
			s.idle.Stop()
		}
		p.ready = append(p.ready, s)
		p.mu.Unlock()
		p.b.log.Info("spare claude process ready", "pid", c.proc.pid, "cwd", opts.Cwd)
	}
}

// expire stops a spare nobody took in time.
func (p *spares) expire(s *spare) {
	p.mu.Lock()
	i := slices.Index(p.ready, s)
	if i < 0 {
		p.mu.Unlock()
		return
	}
	p.ready = slices.Delete(p.ready, i, i+1)
	p.mu.Unlock()
	p.b.log.Info("spare claude process unused; stopping it", "pid", s.c.proc.pid)
	s.c.Close(context.Background())
}

// stopLocked stops a spare in the background of the caller's lock: its
// stop ladder must not hold the pool.
func (p *spares) stopLocked(s *spare) {
	s.idle.Stop()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		s.c.Close(p.ctx)
	}()
}

// count is how many spare processes are alive.
func (p *spares) count() int {
	if p == nil {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ready)
}

// stopOne stops a spare to free its process slot; false when there is
// none.
func (p *spares) stopOne(ctx context.Context) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	if len(p.ready) == 0 {
		p.mu.Unlock()
		return false
	}
	s := p.ready[0]
	p.ready = p.ready[1:]
	s.idle.Stop()
	p.mu.Unlock()
	s.c.Close(ctx)
	return true
}

// close stops every spare and the filler, and waits for them; ctx ending
// kills rather than waits.
func (p *spares) close(ctx context.Context) error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	p.closed = true
	ready := p.ready
	p.ready = nil
	p.mu.Unlock()
	stop := context.AfterFunc(ctx, p.cancel)
	defer stop()
	for _, s := range ready {
		s.idle.Stop()
		if err := s.c.Close(ctx); err != nil {
			p.b.log.Warn("stopping a spare claude process", "err", err)
		}
	}
	p.wg.Wait()
	p.cancel()
	return nil
}
