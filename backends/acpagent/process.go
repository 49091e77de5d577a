package acpagent

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/supervisor"
)

// ProtocolVersion is the ACP version Tether speaks to agents.
const ProtocolVersion = 1

// host runs one configured agent: at most one process at a time, shared by
// every session of the agent (ACP multiplexes sessions on one connection).
// A session attaches to the current process before it uses it and detaches
// when it no longer does (Suspend, Close, or a crash it noticed); the
// process is started by the first attach and stopped by the last detach.
//
// Goroutines: none of its own. Each process has its own (see process),
// and the last detach waits for them.
type host struct {
	agent Agent
	cfg   Config
	log   *slog.Logger
	// learned keeps what the agent said of itself; the Backend's Info
	// reads it.
	learned *learned

	mu       sync.Mutex
	current  *process // the process new attaches get; nil when none
	nextProc uint64
}

// process is one run of the agent's program, from its start to its stop.
//
// Goroutines, all ended before down is closed:
//   - the supervisor's three (stdout reader, stderr reader, waiter);
//   - the rpc connection's read loop, which runs the handlers of the
//     agent's messages (route.go);
//   - the starter, which sends initialize and closes ready;
//   - the monitor, which waits until the process exits or a stop is asked
//     for, then stops it with the supervisor's ladder, closes the rpc
//     connection, waits for the starter and closes down.
//
// Sessions attach to it (host.acquire) and detach (host.release); the
// count lives under host.mu.
type process struct {
	h    *host
	gen  uint64 // which run of the agent this is
	log  *slog.Logger
	sp   *supervisor.Process
	conn *rpc.Conn
	feed *lineFeed

	ready    chan struct{} // closed when initialize was answered, or the start failed
	startErr error         // set before ready is closed
	// caps are the agent's capabilities, from its initialize answer; set
	// before ready is closed.
	caps schema.AgentCapabilities

	attached int // guarded by h.mu

	stopOnce    sync.Once
	stopAsked   chan struct{} // closed by stop
	stopCancel  context.CancelFunc
	starterDone chan struct{}
	down        chan struct{} // closed when everything of the process has ended

	mu     sync.Mutex
	routes map[string]*route // by the agent's session id
}

func newHost(agent Agent, cfg Config, learned *learned, log *slog.Logger) *host {
	return &host{agent: agent, cfg: cfg, learned: learned, log: log}
}

// acquire attaches the caller to the agent's process, starting one if
// there is none (or the last one died), and waits until it has answered
// initialize. ctx bounds the wait only: the start goes on for the others
// that wait for it, and is stopped when nobody is attached any more.
func (h *host) acquire(ctx context.Context) (*process, error) {
	h.mu.Lock()
	p := h.current
	if p != nil && (p.isGone() || p.startFailed()) {
		h.current, p = nil, nil
	}
	if p == nil {
		var err error
		if p, err = h.start(); err != nil {
			h.mu.Unlock()
			return nil, err
		}
		h.current = p
	}
	p.attached++
	h.mu.Unlock()
	select {
	case <-p.ready:
	case <-ctx.Done():
		h.release(context.Background(), p)
		return nil, context.Cause(ctx)
	}
	if p.startErr != nil {
		h.release(context.Background(), p)
		return nil, p.startErr
	}
	return p, nil
}

// running reports whether a process runs (or starts) that an attach would
// join.
func (h *host) running() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.current != nil && !h.current.isGone() && !h.current.startFailed()
}

// release detaches the caller; the last one out stops the process (with
// the ladder; at once with SIGKILL when ctx ends) and waits for it.
func (h *host) release(ctx context.Context, p *process) {
	h.mu.Lock()
	p.attached--
	last := p.attached == 0
	if last && h.current == p {
		h.current = nil
	}
	h.mu.Unlock()
	if last {
		p.stop(ctx)
	}
}

// start starts a process of the agent, with the caller holding h.mu (a
// fork is quick), and its starter and monitor goroutines.
func (h *host) start() (*process, error) {
	h.nextProc++
	p := &process{
		h:           h,
		gen:         h.nextProc,
		log:         h.log.With("run", h.nextProc),
		ready:       make(chan struct{}),
		stopAsked:   make(chan struct{}),
		starterDone: make(chan struct{}),
		down:        make(chan struct{}),
		routes:      make(map[string]*route),
	}
	p.feed = newLineFeed(p.badLine)
	p.sp = supervisor.New(supervisor.Config{
		Name:        h.agent.Name,
		Path:        h.agent.Command,
		Args:        h.agent.Args,
		Env:         h.env(),
		Log:         p.log,
		OnLine:      p.feed.line,
		OnLongLine:  p.feed.long,
		OnStdoutEnd: p.feed.end,
		Grace:       h.cfg.Grace,
		WaitDelay:   h.cfg.Grace,
	})
	if err := p.sp.Start(); err != nil {
		return nil, fmt.Errorf("%w: %w", backends.ErrFailed, err)
	}
	stream := rpc.NewStream(p.feed, stdinWriter{p.sp}, p.feed, rpc.FramingNDJSON, 0, p.log)
	p.conn = rpc.NewConn(stream, p.log, rpc.Options{
		CancelMethod: methodCancelRequest,
		CancelParam:  "requestId",
	})
	p.conn.Register(schema.ClientMethodSessionUpdate, p.onUpdate)
	p.conn.Register(schema.ClientMethodSessionRequestPermission, p.onPermission)
	p.conn.Start()
	p.log.Info("agent started", "pid", p.sp.Pid(), "command", h.agent.commandLine())

	startCtx, cancel := context.WithTimeout(context.Background(), h.cfg.StartTimeout)
	p.stopCancel = cancel
	go p.starter(startCtx)
	go p.monitor()
	return p, nil
}

// env is the agent's environment: Tether's, plus the configured variables.
func (h *host) env() []string {
	env := os.Environ()
	names := make([]string, 0, len(h.agent.Env))
	for name := range h.agent.Env {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		env = append(env, name+"="+h.agent.Env[name])
	}
	return env
}

// methodCancelRequest cancels a request, in both directions.
const methodCancelRequest = "$/cancel_request"

// starter is the starter goroutine: initialize, then ready.
func (p *process) starter(ctx context.Context) {
	defer close(p.starterDone)
	p.startErr = p.initialize(ctx)
	if p.startErr != nil {
		p.log.Warn("agent did not start", "err", p.startErr)
	}
	close(p.ready)
}

// monitor is the monitor goroutine: see process.
func (p *process) monitor() {
	defer close(p.down)
	select {
	case <-p.sp.Exited():
		select {
		case <-p.stopAsked:
		default:
			p.log.Warn("agent exited", "status", p.sp.ExitStatus())
		}
	case <-p.stopAsked:
	}
	// Ends whatever it left behind when it exited by itself.
	if err := p.sp.Stop(context.Background()); err != nil {
		p.log.Error("stopping the agent", "err", err)
	}
	p.stopCancel()
	<-p.starterDone
	p.conn.Close()
	p.log.Info("agent stopped", "status", p.sp.ExitStatus())
}

// stop asks the monitor to stop the process and waits until everything of
// it has ended; when ctx ends first, the process is killed at once.
func (p *process) stop(ctx context.Context) {
	p.stopOnce.Do(func() { close(p.stopAsked) })
	select {
	case <-p.down:
	case <-ctx.Done():
		p.log.Warn("killing the agent: no time left to stop it gently")
		_ = p.sp.Kill()
		<-p.down
	}
}

// isGone reports whether the process's output has ended (it exited, or it
// is being stopped): nothing more can come from it.
func (p *process) isGone() bool {
	select {
	case <-p.conn.InputEnded():
		return true
	case <-p.conn.Broken():
		return true
	case <-p.stopAsked:
		return true
	default:
		return false
	}
}

func (p *process) startFailed() bool {
	select {
	case <-p.ready:
		return p.startErr != nil
	default:
		return false
	}
}

// badLine reports a line of stdout that is not ACP to every running turn
// of the process (which session it was meant for cannot be told).
func (p *process) badLine(start []byte, size int64) {
	var detail string
	if start == nil {
		detail = fmt.Sprintf("%s wrote a line of %d bytes on stdout, over the %d MiB limit; skipped", p.h.agent.Name, size, supervisor.DefaultMaxLine>>20)
	} else {
		detail = fmt.Sprintf("%s wrote a line that is not ACP on stdout; skipped: %q", p.h.agent.Name, start)
	}
	p.log.Warn("agent output skipped", "detail", detail)
	p.mu.Lock()
	routes := make([]*route, 0, len(p.routes))
	for _, r := range p.routes {
		routes = append(routes, r)
	}
	p.mu.Unlock()
	for _, r := range routes {
		r.notice(detail)
	}
}

// route returns the route of the agent's session id, making it if create
// is set.
func (p *process) route(id string, create bool) *route {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.routes[id]
	if r == nil && create && len(p.routes) < maxRoutes {
		r = newRoute(id)
		p.routes[id] = r
	}
	return r
}

// maxRoutes bounds the routes of one process: an agent that sends updates
// for sessions nobody opened must not grow the map without end.
const maxRoutes = 4096

func (p *process) dropRoute(id string) {
	p.mu.Lock()
	delete(p.routes, id)
	p.mu.Unlock()
}

func ptr[T any](v T) *T { return &v }
