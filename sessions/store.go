package sessions

// The session store (issue 10): how sessions are kept across restarts.
//
// With a store (Config.Store), every session is claimed for this process
// and written to the store when it is made: its backend, model, mode, cwd
// and the options needed to open it again. Each turn is recorded by a
// store.TurnRecorder fed by the turn's sink, off the token path (a
// recorder only appends to memory; the store's writer commits). A session
// that is not live here but stored comes back when a prompt or Open names
// it, with its stored options; claude resumes its conversation from the
// stored resume handle, openai from the stored history (backends.History),
// the mock just goes on counting turns.
//
// The store never fails a turn: a write that fails is logged, and a
// session the store cannot take runs unstored. What fails a request is a
// session another live Tether process holds (ErrLiveElsewhere), and a
// request that contradicts the stored session (another backend or cwd),
// as for a live one.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/store"
)

// ErrLiveElsewhere means another live Tether process holds the session:
// it is live there, and a session is live in one process at a time. The
// error's message names that process's pid.
var ErrLiveElsewhere = store.ErrClaimed

// ErrNoStore means the request needs the session store and Tether runs
// without one (--no-store, or the file could not be opened).
var ErrNoStore = errors.New("no session store (Tether runs without one: initialize says why)")

// StateStored is the status of a session that is stored but not live in
// this process.
const StateStored = "stored"

// StoreStatus describes the session store, for a dialect's initialize.
type StoreStatus struct {
	Enabled bool
	// Path is the store's file.
	Path string
	// Problem says why there is no store when one was wanted (the file
	// is corrupt or unreadable); "" when there is one, or none was wanted.
	Problem string
}

// StoreStatus describes the registry's session store.
func (r *Registry) StoreStatus() StoreStatus {
	if r.store == nil {
		return StoreStatus{Problem: r.storeProblem}
	}
	return StoreStatus{Enabled: true, Path: r.store.Path()}
}

// storedOptions are the options of a session the store keeps, as JSON in
// store.Session.Options, to open the session again. MCP servers are left
// out: their environment and headers may hold secrets, so whoever brings
// the session back gives them again (ACP's session/load does).
type storedOptions struct {
	SystemPrompt       string       `json:"systemPrompt,omitempty"`
	MaxTurns           int          `json:"maxTurns,omitempty"`
	Tools              []storedTool `json:"tools,omitempty"`
	AppendSystemPrompt string       `json:"appendSystemPrompt,omitempty"`
	AllowedTools       []string     `json:"allowedTools,omitempty"`
	DisallowedTools    []string     `json:"disallowedTools,omitempty"`
}

type storedTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// encodeOptions is what the store keeps of opts.
func encodeOptions(opts backends.Options) json.RawMessage {
	so := storedOptions{
		SystemPrompt:       opts.SystemPrompt,
		MaxTurns:           opts.MaxTurns,
		AppendSystemPrompt: opts.AppendSystemPrompt,
		AllowedTools:       opts.AllowedTools,
		DisallowedTools:    opts.DisallowedTools,
	}
	for _, t := range opts.Tools {
		st := storedTool{Name: t.Name, Description: t.Description}
		if json.Valid(t.Parameters) {
			st.Parameters = t.Parameters
		}
		so.Tools = append(so.Tools, st)
	}
	raw, _ := json.Marshal(so) // plain strings and valid JSON: it cannot fail
	return raw
}

// restoredOptions are the options a stored session comes back with: the
// stored ones, the stored model and mode unless the request names others,
// the backend's resume handle unless the request names one, and the
// request's MCP servers (never stored).
func restoredOptions(ss store.Session, given backends.Options) (backends.Options, error) {
	var so storedOptions
	if len(ss.Options) > 0 {
		if err := json.Unmarshal(ss.Options, &so); err != nil {
			return backends.Options{}, fmt.Errorf("the stored options of session %s: %w", ss.ID, err)
		}
	}
	opts := backends.Options{
		Model:              ss.Model,
		PermissionMode:     ss.Mode,
		SystemPrompt:       so.SystemPrompt,
		MaxTurns:           so.MaxTurns,
		AppendSystemPrompt: so.AppendSystemPrompt,
		AllowedTools:       so.AllowedTools,
		DisallowedTools:    so.DisallowedTools,
		Resume:             ss.ResumeHandle,
		MCPServers:         given.MCPServers,
	}
	for _, t := range so.Tools {
		opts.Tools = append(opts.Tools, backends.Tool{Name: t.Name, Description: t.Description, Parameters: t.Parameters})
	}
	if given.Model != "" {
		opts.Model = given.Model
	}
	if given.PermissionMode != "" {
		opts.PermissionMode = given.PermissionMode
	}
	if given.Resume != "" {
		opts.Resume = given.Resume
	}
	return opts, nil
}

// newSession is what making a session needs, worked out (with the store's
// reads and writes) before the registry's lock is taken.
type newSession struct {
	backend backends.Backend
	opts    backends.Options
	// stored: the session is in the store and claimed; its turns are
	// recorded. prev is what the store had of it before, if anything.
	stored bool
	prev   *store.Session
}

// prepare works out the session opts names, which is not live here: a
// stored one comes back with its stored options, checked against opts; an
// unknown one is made from opts. With a store the session is then claimed
// for this process, which fails with ErrLiveElsewhere while another live
// process holds it, and written to the store.
func (r *Registry) prepare(opts Options) (newSession, error) {
	id := opts.SessionID
	var prev *store.Session
	if r.store != nil {
		ss, err := r.store.Get(id)
		switch {
		case err == nil:
			prev = &ss
		case errors.Is(err, store.ErrNotFound):
		default:
			// Tether runs on: the session runs unstored. It may be one
			// the store holds, so nothing of it is written there.
			r.log.Error("store: reading the session failed; it runs without the store", "session", id, "err", err)
			return r.prepareNew(opts)
		}
	}
	var (
		ns  newSession
		err error
	)
	if prev == nil || prev.Turns == 0 {
		// A stored session that never had a turn (one opened ahead, or
		// just closed and made again under its id on another backend)
		// has no conversation to come back to: it takes the request's
		// options.
		ns, err = r.prepareNew(opts)
	} else {
		ns, err = r.prepareStored(*prev, opts)
	}
	if err != nil || r.store == nil {
		return ns, err
	}
	claimed, err := r.claim(id)
	if err != nil || !claimed {
		return ns, err
	}
	if ns.stored = r.storeSession(id, ns.backend.Name(), ns.opts); ns.stored {
		ns.opts.History = storeHistory{r.store, id}
	}
	return ns, nil
}

// prepareNew checks opts for a new session.
func (r *Registry) prepareNew(opts Options) (newSession, error) {
	name := opts.Backend
	if name == "" {
		name = r.defaultBackend
	}
	b, err := r.backend(name, opts.Options)
	if err != nil {
		return newSession{}, err
	}
	cwd, err := sessionCwd(opts.Cwd)
	if err != nil {
		return newSession{}, err
	}
	bopts := opts.Options
	bopts.SessionID, bopts.Cwd = opts.SessionID, cwd
	return newSession{backend: b, opts: bopts}, nil
}

// prepareStored checks opts against the stored session prev, and works
// out the options it comes back with. A backend or cwd other than the
// stored one is a *ParamError naming it, as for a live session.
func (r *Registry) prepareStored(prev store.Session, opts Options) (newSession, error) {
	id := prev.ID
	if opts.Backend != "" && opts.Backend != prev.Backend {
		return newSession{}, paramErrorf("backend", "session %q is stored on %q; a stored session cannot change backend (delete it first, or use another id)", id, prev.Backend)
	}
	if opts.Cwd != "" && filepath.Clean(opts.Cwd) != prev.Cwd {
		return newSession{}, paramErrorf("cwd", "session %q is stored with cwd %q; a stored session cannot change cwd (delete it first, or use another id)", id, prev.Cwd)
	}
	b, err := r.backend(prev.Backend, opts.Options)
	if err != nil {
		return newSession{}, err
	}
	cwd, err := sessionCwd(prev.Cwd)
	if err != nil {
		return newSession{}, err
	}
	bopts, err := restoredOptions(prev, opts.Options)
	if err != nil {
		r.log.Error("store: the session's stored options are unreadable; it comes back with the request's", "session", id, "err", err)
		bopts = opts.Options
	}
	bopts.SessionID, bopts.Cwd = id, cwd
	return newSession{backend: b, opts: bopts, prev: &prev}, nil
}

// storeSession writes a session to the store, reporting whether its turns
// can be recorded; a failure is logged, and the session runs unstored.
// Turns, usage, title and resume handle are the store's to keep.
func (r *Registry) storeSession(id, backend string, opts backends.Options) bool {
	err := r.store.UpsertSession(store.Session{
		ID:      id,
		Backend: backend,
		Model:   opts.Model,
		Mode:    opts.PermissionMode,
		Cwd:     opts.Cwd,
		Options: encodeOptions(opts),
	})
	if err != nil {
		r.log.Error("store: writing the session failed; it runs without the store", "session", id, "err", err)
		return false
	}
	return true
}

// claim claims session id for this process, before anything of it is
// written. It fails with ErrLiveElsewhere (a *store.ClaimedError naming
// the pid) while another live process holds the session; any other
// failure is logged, and the session runs unstored (claimed false).
func (r *Registry) claim(id string) (claimed bool, err error) {
	err = r.store.Claim(id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, store.ErrClaimed):
		return false, err
	}
	r.log.Error("store: claiming the session failed; it runs without the store", "session", id, "err", err)
	return false, nil
}

// release gives up this process's claim on a session that stops being
// live here. Called with r.claims held.
func (r *Registry) release(id string) {
	if err := r.store.Release(id); err != nil && !errors.Is(err, store.ErrClosed) {
		r.log.Warn("store: releasing the session", "session", id, "err", err)
	}
}

// closed releases the claim of session s, which has stopped, unless a
// newer session under its id holds it now. A session that never had a
// turn is deleted instead: there is nothing to come back to, and editors
// that make a session ahead of every chat would fill the list with empty
// ones.
func (r *Registry) closed(s *Session) {
	if !s.stored {
		return
	}
	r.claims.Lock()
	defer r.claims.Unlock()
	r.mu.Lock()
	newer := r.sessions[s.id] != nil
	r.mu.Unlock()
	if newer {
		return
	}
	s.mu.Lock()
	turns := s.turns
	s.mu.Unlock()
	if turns == 0 {
		err := r.store.Delete(s.id)
		if err == nil || errors.Is(err, store.ErrNotFound) {
			return
		}
		r.log.Warn("store: deleting a session that had no turn", "session", s.id, "err", err)
	}
	// What the session's turns recorded is committed before the close is
	// answered: a client that lists or loads right after sees all of it.
	ctx, cancel := context.WithTimeout(context.Background(), storeFlushWait)
	defer cancel()
	if err := r.store.Flush(ctx); err != nil && !errors.Is(err, store.ErrClosed) {
		r.log.Warn("store: committing the closed session's turns", "session", s.id, "err", err)
	}
	r.release(s.id)
}

// storeFlushWait bounds how long a closing session waits for the store
// to commit its turns: a store that cannot write must not keep it open.
const storeFlushWait = 5 * time.Second

// storeHistory is a session's backends.History in the store.
type storeHistory struct {
	st *store.Store
	id string
}

func (h storeHistory) Load() ([]json.RawMessage, error) { return h.st.History(h.id) }

func (h storeHistory) Append(msgs ...json.RawMessage) error {
	return h.st.AppendHistory(h.id, msgs...)
}
