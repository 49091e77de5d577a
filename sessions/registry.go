// Package sessions keeps Tether's agent sessions: the Registry that finds or
// creates them, the Session actor that owns each one's backend connection,
// and the Broker that holds permission requests until the editor answers.
//
// Nothing here knows about JSON-RPC. Requests come in as typed calls whose
// replies are callbacks, called exactly once and never from the caller's
// goroutine when the answer has to wait: the caller is jsonrpc2's read loop,
// which must not block.
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

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/protocol"
)

// Registry finds and creates sessions and closes them.
//
// Goroutines: every session's actor (see Session), and one waiter per
// session/cleanup that replies once the actor has exited. The Registry
// starts both and Shutdown waits for both.
type Registry struct {
	backends       map[string]backends.Backend
	names          []string // backend names, in the order given
	defaultBackend string
	client         Client
	broker         *Broker
	log            *slog.Logger

	ctx    context.Context // parent of every session's context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*Session
	closing  bool
}

// Config configures a Registry.
type Config struct {
	// Backends are the backends clients may choose, in the order
	// initialize lists them.
	Backends []backends.Backend
	// DefaultBackend is used by queries that name none.
	DefaultBackend string
	Client         Client
	Log            *slog.Logger
}

// NewRegistry returns a Registry with no sessions.
func NewRegistry(cfg Config) *Registry {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Registry{
		backends:       make(map[string]backends.Backend),
		defaultBackend: cfg.DefaultBackend,
		client:         cfg.Client,
		broker:         NewBroker(),
		log:            cfg.Log,
		ctx:            ctx,
		cancel:         cancel,
		sessions:       make(map[string]*Session),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	for _, b := range cfg.Backends {
		r.backends[b.Name()] = b
		r.names = append(r.names, b.Name())
	}
	return r
}

// Backends describes every backend for initialize.
func (r *Registry) Backends() []protocol.BackendInfo {
	infos := make([]protocol.BackendInfo, 0, len(r.names))
	for _, name := range r.names {
		ok, detail := r.backends[name].Available()
		infos = append(infos, protocol.BackendInfo{Name: name, Available: ok, Detail: detail})
	}
	return infos
}

// DefaultBackend is the backend used by queries that name none.
func (r *Registry) DefaultBackend() string { return r.defaultBackend }

// Query runs q on its session, creating the session on its first query.
// q.Reply is called exactly once: at once for a query that cannot run, else
// when its turn ends.
func (r *Registry) Query(q Query) {
	s, err := r.session(q.Params)
	if err != nil {
		q.Reply(protocol.QueryResult{}, err)
		return
	}
	s.enqueue(q)
}

// session finds the session of p, or creates it from p's options.
func (r *Registry) session(p protocol.QueryParams) (*Session, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return nil, ErrShuttingDown
	}
	if s, ok := r.sessions[p.SessionID]; ok {
		if p.Backend != "" && p.Backend != s.backend.Name() {
			return nil, paramErrorf("backend", "session %q runs on %q; a live session cannot change backend (clean it up first)", p.SessionID, s.backend.Name())
		}
		if p.Cwd != "" && filepath.Clean(p.Cwd) != s.opts.Cwd {
			return nil, paramErrorf("cwd", "session %q runs in %q; a live session cannot change cwd (clean it up first)", p.SessionID, s.opts.Cwd)
		}
		return s, nil
	}

	name := p.Backend
	if name == "" {
		name = r.defaultBackend
	}
	b, ok := r.backends[name]
	if !ok {
		return nil, paramErrorf("backend", "unknown backend %q (known: %v)", name, r.names)
	}
	if ok, detail := b.Available(); !ok {
		return nil, fmt.Errorf("%w: %s: %s", backends.ErrUnavailable, name, detail)
	}
	cwd, err := sessionCwd(p.Cwd)
	if err != nil {
		return nil, err
	}
	s := newSession(r.ctx, p.SessionID, b, backends.Options{
		SessionID:      p.SessionID,
		Model:          p.Model,
		Cwd:            cwd,
		SystemPrompt:   p.SystemPrompt,
		PermissionMode: p.PermissionMode,
		MaxTurns:       p.MaxTurns,
		Tools:          p.Tools,

		AppendSystemPrompt: p.AppendSystemPrompt,
		AllowedTools:       p.AllowedTools,
		DisallowedTools:    p.DisallowedTools,
		Resume:             p.Resume,
	}, r.client, r.broker, r.log)
	r.sessions[p.SessionID] = s
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		s.run()
	}()
	return s, nil
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

// Cancel stops the running query of a session and every queued one, and
// withdraws its pending permission requests. reply gets how many queries
// were cancelled; an unknown session has none.
func (r *Registry) Cancel(sessionID string, reply func(int)) {
	r.mu.Lock()
	s := r.sessions[sessionID]
	r.mu.Unlock()
	if s == nil || !s.send(cmdCancel{reply}) {
		reply(0)
	}
}

// Cleanup ends a session: its queries are cancelled, its permission
// requests withdrawn, its backend stopped, and it is forgotten. reply is
// called after the session's actor has exited, with false for an unknown
// session.
func (r *Registry) Cleanup(sessionID string, reply func(closed bool)) {
	r.mu.Lock()
	s := r.sessions[sessionID]
	delete(r.sessions, sessionID)
	if s != nil {
		r.wg.Add(1)
	}
	r.mu.Unlock()
	if s == nil {
		reply(false)
		return
	}
	s.cancel()
	go func() {
		defer r.wg.Done()
		<-s.done
		reply(true)
	}()
}

// List describes the live sessions, oldest first.
func (r *Registry) List() []protocol.SessionInfo {
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
	infos := make([]protocol.SessionInfo, 0, len(list))
	for _, s := range list {
		infos = append(infos, s.info())
	}
	return infos
}

// Respond delivers the editor's answer to a permission request.
func (r *Registry) Respond(p protocol.RespondParams) error {
	var d backends.Decision
	switch p.Decision {
	case protocol.DecisionAllow:
		d = backends.Decision{Allow: true, Reason: p.Reason, Remember: p.Remember}
	case protocol.DecisionDeny:
		d = backends.Decision{Reason: p.Reason}
	default:
		return paramErrorf("decision", "want %q or %q, got %q", protocol.DecisionAllow, protocol.DecisionDeny, p.Decision)
	}
	return r.broker.Respond(p.RequestID, d)
}

// Drain is for a client that can send nothing more (its input ended) but
// may still read: the queries it sent run to their end, while every
// permission request, pending or later, is denied, since nobody can answer
// it. Drain returns when no session has a query running or waiting, or ctx
// ends. Shutdown comes after it.
func (r *Registry) Drain(ctx context.Context) error {
	r.broker.clientGone("client gone")
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
			return fmt.Errorf("waiting for queries to end: %w", ctx.Err())
		}
	}
	return nil
}

// Shutdown refuses new queries, closes every session and waits until all
// of them have exited, or ctx ends. It is safe to call more than once.
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	r.closing = true
	r.sessions = make(map[string]*Session)
	r.mu.Unlock()
	r.cancel()
	done := make(chan struct{})
	go func() {
		r.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for sessions to close: %w", errors.Join(ctx.Err(), context.Cause(ctx)))
	}
}
