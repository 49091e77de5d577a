// Package sessions keeps Tether's agent sessions: the Registry that finds or
// creates them, the Session actor that owns each one's backend connection,
// and the Broker that holds permission requests until the editor answers.
//
// Nothing here knows a wire dialect. Requests come in as typed calls whose
// replies are callbacks, called exactly once and never from the caller's
// goroutine when the answer has to wait: the caller is a dialect's read
// loop, which must not block. Events go out through the Events interface a
// dialect implements.
package sessions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/store"
)

// Registry finds and creates sessions and closes them.
//
// Goroutines: those of every session (see Session), counted by the
// Registry's WaitGroup, as is every session until it has closed; Shutdown
// waits for them all.
type Registry struct {
	backends       map[string]backends.Backend
	names          []string // backend names, in the order given
	defaultBackend string
	broker         *Broker
	log            *slog.Logger
	queueLimit     int
	idleStop       time.Duration
	procs          processes
	store          *store.Store // nil: sessions are not kept (store.go)
	storeProblem   string
	// claims orders the store's claims and releases of one id with the
	// sessions that hold it: a session's claim is made and the session
	// registered under it, and a closed session's claim is released only
	// when no newer session of the id holds it. Taken before mu.
	claims sync.Mutex

	ctx    context.Context // ends at Shutdown: the context of opening a backend ahead
	cancel context.CancelFunc
	// killCtx ends when shutdown's deadline has passed: backends then kill
	// rather than wait.
	killCtx context.Context
	kill    context.CancelFunc
	wg      sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*Session
	closing  bool
}

// Config configures a Registry.
type Config struct {
	// Backends are the backends clients may choose, in the order
	// initialize lists them.
	Backends []backends.Backend
	// DefaultBackend is used by sessions that name none.
	DefaultBackend string
	// QueueLimit is how many prompts may wait behind a session's running
	// one; 0 means DefaultQueueLimit.
	QueueLimit int
	// IdleStop stops the backend process of a session idle this long
	// (the session stays, and its next prompt resumes it); 0 never does.
	IdleStop time.Duration
	// MaxProcesses bounds the live backend processes of all sessions; a
	// session that needs one beyond it first stops the least recently
	// used idle session's, or waits for one to finish. 0: no bound.
	MaxProcesses int
	// Store keeps sessions across restarts (see store.go); nil keeps
	// none. The Registry uses it and never closes it.
	Store *store.Store
	// StoreProblem says why there is no Store when one was wanted (its
	// file could not be opened), for StoreStatus.
	StoreProblem string
	Log          *slog.Logger
}

// NewRegistry returns a Registry with no sessions.
func NewRegistry(cfg Config) *Registry {
	ctx, cancel := context.WithCancel(context.Background())
	killCtx, kill := context.WithCancel(context.Background())
	r := &Registry{
		backends:       make(map[string]backends.Backend),
		defaultBackend: cfg.DefaultBackend,
		broker:         NewBroker(),
		log:            cfg.Log,
		queueLimit:     cfg.QueueLimit,
		idleStop:       cfg.IdleStop,
		procs:          processes{max: cfg.MaxProcesses, changed: make(chan struct{})},
		store:          cfg.Store,
		storeProblem:   cfg.StoreProblem,
		ctx:            ctx,
		cancel:         cancel,
		killCtx:        killCtx,
		kill:           kill,
		sessions:       make(map[string]*Session),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.queueLimit <= 0 {
		r.queueLimit = DefaultQueueLimit
	}
	for _, b := range cfg.Backends {
		r.backends[b.Name()] = b
		r.names = append(r.names, b.Name())
	}
	return r
}

// BackendInfo describes one backend for a dialect's initialize.
type BackendInfo struct {
	Name      string
	Available bool
	Detail    string
	backends.Info
}

// Backends describes every backend, in the order given.
func (r *Registry) Backends() []BackendInfo {
	infos := make([]BackendInfo, 0, len(r.names))
	for _, name := range r.names {
		b := r.backends[name]
		ok, detail := b.Available()
		infos = append(infos, BackendInfo{Name: name, Available: ok, Detail: detail, Info: b.Info()})
	}
	return infos
}

// DefaultBackend is the backend of sessions that name none.
func (r *Registry) DefaultBackend() string { return r.defaultBackend }

// Options are a session's options, fixed when it is created.
type Options struct {
	SessionID string
	// Backend is the backend's name; empty means the default.
	Backend string
	backends.Options
	// Events receive the session's events outside turns (its status when
	// it closes); a nil Events drops them.
	Events Events
}

// Open creates the session if it does not exist and starts its backend
// now, so that the first prompt finds it ready. ready (may be nil) is
// called once the backend has started, or with why it could not; an error
// returned means no session could be made.
func (r *Registry) Open(opts Options, ready func(error)) error {
	s, err := r.session(opts, false)
	if err != nil {
		return err
	}
	if ready == nil {
		ready = func(error) {}
	}
	s.enqueue(&job{Prompt: Prompt{Ctx: r.ctx}, ready: ready})
	return nil
}

// Prompt runs p on its session, creating the session if it is unknown and
// p.MustExist is not set. p.Reply is called exactly once: at once for a
// prompt that cannot run, else when its turn ends.
func (r *Registry) Prompt(p Prompt) {
	s, err := r.session(p.Options, p.MustExist)
	if err != nil {
		p.Reply(TurnResult{}, err)
		return
	}
	s.enqueue(&job{Prompt: p})
}

var instances atomic.Uint64

// session finds the session of opts, or makes it: a stored one comes
// back, an unknown one is created. The store's reads and writes (see
// store.go) happen before the lock is taken; a session made meanwhile by
// another call for the same id wins.
func (r *Registry) session(opts Options, mustExist bool) (*Session, error) {
	if s, err := r.live(opts); s != nil || err != nil {
		return s, err
	}
	if mustExist {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, opts.SessionID)
	}
	if r.store != nil {
		r.claims.Lock()
		defer r.claims.Unlock()
	}
	ns, err := r.prepare(opts)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id := opts.SessionID
	if s, ok := r.sessions[id]; ok {
		return s, s.check(opts)
	}
	if r.closing {
		if ns.stored {
			r.release(id)
		}
		return nil, ErrShuttingDown
	}
	events := opts.Events
	if events == nil {
		events = Discard{}
	}
	now := time.Now().UTC()
	s := &Session{
		id:        id,
		instance:  instances.Add(1),
		backend:   ns.backend,
		opts:      ns.opts,
		stored:    ns.stored,
		createdAt: now,
		events:    events,
		registry:  r,
		broker:    r.broker,
		log:       r.log,
		limit:     r.queueLimit,
		wg:        &r.wg,
		killCtx:   r.killCtx,
		status:    StateStarting,
		model:     ns.opts.Model,
		mode:      ns.opts.PermissionMode,
		updatedAt: now,
	}
	if p := ns.prev; p != nil {
		s.createdAt, s.turns, s.title = p.CreatedAt.UTC(), p.Turns, p.Title
		s.log.Info("a stored session comes back", "backend", p.Backend, "turns", p.Turns, "resume", ns.opts.Resume)
	}
	s.inbox.start = s.startActor
	r.sessions[id] = s
	r.wg.Add(1) // until the session has closed
	return s, nil
}

// live returns the live session of opts, checking that opts ask nothing
// it cannot change; nil and no error when it is not live.
func (r *Registry) live(opts Options) (*Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return nil, ErrShuttingDown
	}
	s, ok := r.sessions[opts.SessionID]
	if !ok {
		return nil, nil
	}
	return s, s.check(opts)
}

// check fails with a *ParamError when opts ask the live session for what
// it cannot change.
func (s *Session) check(opts Options) error {
	if opts.Backend != "" && opts.Backend != s.backend.Name() {
		return paramErrorf("backend", "session %q runs on %q; a live session cannot change backend (close it first)", s.id, s.backend.Name())
	}
	if opts.Cwd != "" && filepath.Clean(opts.Cwd) != s.opts.Cwd {
		return paramErrorf("cwd", "session %q runs in %q; a live session cannot change cwd (close it first)", s.id, s.opts.Cwd)
	}
	return nil
}

// backend returns the backend called name, if it can serve a session
// with opts.
func (r *Registry) backend(name string, opts backends.Options) (backends.Backend, error) {
	b, ok := r.backends[name]
	if !ok {
		return nil, paramErrorf("backend", "unknown backend %q (known: %v)", name, r.names)
	}
	if ok, detail := b.Available(); !ok {
		return nil, fmt.Errorf("%w: %s: %s", backends.ErrUnavailable, name, detail)
	}
	if len(opts.MCPServers) > 0 && !b.Info().MCPServers {
		return nil, fmt.Errorf("%w: the %s backend cannot use MCP servers", backends.ErrUnsupported, name)
	}
	return b, nil
}

// sessionCwd checks a session's working directory: absolute and an existing
// directory. Empty means Tether's own.
func sessionCwd(cwd string) (string, error) {
	if cwd == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("no cwd given and Tether's own is unknown: %w", err)
		}
		return wd, nil
	}
	if !filepath.IsAbs(cwd) {
		return "", paramErrorf("cwd", "%q is not an absolute path", cwd)
	}
	fi, err := os.Stat(cwd)
	if err != nil {
		return "", paramErrorf("cwd", "%v", err)
	}
	if !fi.IsDir() {
		return "", paramErrorf("cwd", "%q is not a directory", cwd)
	}
	return filepath.Clean(cwd), nil
}

func (r *Registry) find(id string) *Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[id]
}

// Exists reports whether a session is live.
func (r *Registry) Exists(id string) bool { return r.find(id) != nil }

// Cancel stops the running prompt of a session and every queued one, and
// withdraws its pending permission requests. reply gets how many prompts
// were cancelled; an unknown session has none.
func (r *Registry) Cancel(sessionID string, reply func(int)) {
	s := r.find(sessionID)
	if s == nil || !s.send(cmdCancel{reply}) {
		reply(0)
	}
}

// Configure switches a live session's model and mode (an empty value
// leaves it as it is). The next turn runs with them; a backend that can
// switch a live connection does so then.
func (r *Registry) Configure(sessionID, model, mode string) error {
	s := r.find(sessionID)
	if s == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, sessionID)
	}
	s.mu.Lock()
	if model != "" {
		s.model = model
	}
	if mode != "" {
		s.mode = mode
	}
	s.mu.Unlock()
	s.recordSwitch(model, mode)
	return nil
}

// Close ends a session: its prompts are cancelled, its permission requests
// withdrawn, its backend stopped, and it is forgotten at once, so that a
// new session may take its id. reply is called once the session has
// closed (its backend stopped, the closed status sent), with false for an
// unknown session.
func (r *Registry) Close(sessionID string, reply func(closed bool)) {
	r.mu.Lock()
	s := r.sessions[sessionID]
	delete(r.sessions, sessionID)
	r.mu.Unlock()
	if s == nil {
		reply(false)
		return
	}
	if !s.send(cmdClose{closed: func() { reply(true) }}) {
		reply(true) // closed already
	}
}

// List describes the live sessions, oldest first.
func (r *Registry) List() []Info {
	r.mu.Lock()
	list := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		list = append(list, s)
	}
	r.mu.Unlock()
	sort.Slice(list, func(i, j int) bool {
		if !list[i].createdAt.Equal(list[j].createdAt) {
			return list[i].createdAt.Before(list[j].createdAt)
		}
		return list[i].id < list[j].id
	})
	infos := make([]Info, 0, len(list))
	for _, s := range list {
		infos = append(infos, s.info())
	}
	return infos
}

// Respond delivers the editor's answer to a permission request. It fails
// with a *ParamError (field requestId) when the request is unknown, or was
// answered or withdrawn already.
func (r *Registry) Respond(requestID string, d backends.Decision) error {
	return r.broker.Respond(requestID, d)
}

// Drain is for a client that can send nothing more (its input ended) but
// may still read: the prompts it sent run to their end, while every
// permission request, pending or later, is denied, since nobody can answer
// it. It returns when no session runs or queues a prompt, or ctx ends.
func (r *Registry) Drain(ctx context.Context) error {
	r.broker.clientGone(ReasonClientGone)
	r.mu.Lock()
	var waits []chan struct{}
	for _, s := range r.sessions {
		done := make(chan struct{})
		if s.send(cmdDrain{done}) {
			waits = append(waits, done)
		}
	}
	r.mu.Unlock()
	for _, done := range waits {
		select {
		case <-done:
		case <-ctx.Done():
			return fmt.Errorf("waiting for prompts to end: %w", context.Cause(ctx))
		}
	}
	return nil
}

// killWait bounds how long Shutdown waits for sessions after it told their
// backends to kill: killing is quick, and a backend that still hangs must
// not keep Tether alive.
const killWait = 10 * time.Second

// Shutdown refuses new prompts, closes every session and waits until all
// of them have exited. When ctx ends first, every backend is told to stop
// at once (SIGKILL to its processes), and Shutdown still waits for them,
// then returns an error wrapping ErrShutdownTimeout. It is safe to call
// more than once.
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closing = true
	live := r.sessions
	r.sessions = make(map[string]*Session)
	r.mu.Unlock()
	for _, s := range live {
		s.send(cmdClose{})
	}
	r.cancel()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		r.closeBackends()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	r.log.Warn("sessions still closing at the shutdown deadline; killing their processes")
	r.kill()
	timer := time.NewTimer(killWait)
	defer timer.Stop()
	select {
	case <-done:
		return fmt.Errorf("%w: sessions were still closing; their processes were killed", ErrShutdownTimeout)
	case <-timer.C:
		return fmt.Errorf("%w: sessions still running %v after their processes were killed", ErrShutdownTimeout, killWait)
	}
}

// closeBackends stops what backends hold of their own (spare processes),
// once every session is closed: at once when shutdown's deadline passed.
func (r *Registry) closeBackends() {
	for _, name := range r.names {
		if c, ok := r.backends[name].(backends.Closer); ok {
			if err := c.Close(r.killCtx); err != nil {
				r.log.Warn("closing backend", "backend", name, "err", err)
			}
		}
	}
}

// Discard is an Events that drops every event, and refuses tool calls.
type Discard struct{}

func (Discard) Status(Status)                         {}
func (Discard) Token(string)                          {}
func (Discard) Thinking(string)                       {}
func (Discard) ToolUse(backends.ToolUse)              {}
func (Discard) ToolResult(backends.ToolResult)        {}
func (Discard) Plan([]backends.PlanEntry)             {}
func (Discard) Usage(backends.ContextUsage)           {}
func (Discard) Commands([]backends.Command)           {}
func (Discard) PermissionRequested(PermissionRequest) {}
func (Discard) PermissionWithdrawn(string, string)    {}
func (Discard) CallTool(context.Context, backends.ToolCall) (backends.ToolCallResult, error) {
	return backends.ToolCallResult{}, errors.New("no editor to run the tool")
}
