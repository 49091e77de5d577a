package acp

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/sessions"
)

// session is what the dialect keeps of a live session beside the
// registry: what ACP shows of it (config options, title) and whether it
// may still change backend. Its fields are guarded by Dialect.mu.
type session struct {
	id         string
	cwd        string
	mcpServers []backends.MCPServer
	backend    string
	// model and mode as chosen; "" is the backend's default (its first
	// choice).
	model, mode string
	// prompted is set by the first session/prompt: the backend is fixed
	// from then on.
	prompted  bool
	title     string
	updatedAt time.Time
	// events is the session's presenter; each prompt's turn streams its
	// chunks through a presenter of its own made from it (presenter.turn).
	events *presenter
}

// openNew makes a session on the default backend, starting the backend
// now; it answers before the backend is ready (a start failure is logged,
// and the first prompt reports it).
func (d *Dialect) openNew(cwd string, mcp []backends.MCPServer) (*session, error) {
	s := &session{
		id:         uuid.NewString(),
		cwd:        cwd,
		mcpServers: mcp,
		backend:    d.reg.DefaultBackend(),
		updatedAt:  time.Now().UTC(),
	}
	if err := d.open(s); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.sessions[s.id] = s
	d.mu.Unlock()
	return s, nil
}

// open creates s in the registry on s.backend and starts the backend.
//
// The session's MCP servers go to a backend that can use them; the others
// run without them. Zed gives every agent all the MCP servers its user
// configured: refusing them would leave those backends unusable there.
func (d *Dialect) open(s *session) error {
	log := d.log.With("session", s.id, "backend", s.backend)
	mcp := s.mcpServers
	if info, _ := d.backendInfo(s.backend); len(mcp) > 0 && !info.MCPServers {
		log.Warn("the backend cannot use MCP servers; the session runs without them", "servers", len(mcp))
		mcp = nil
	}
	return d.reg.Open(sessions.Options{
		SessionID: s.id,
		Backend:   s.backend,
		Options: backends.Options{
			Cwd:            s.cwd,
			MCPServers:     mcp,
			Model:          s.model,
			PermissionMode: s.mode,
		},
		Events: s.presenter(d),
	}, func(err error) {
		if err != nil {
			// The first prompt starts the backend again and says why
			// it cannot.
			log.Warn("starting the backend", "err", err)
			return
		}
		log.Debug("backend ready")
	})
}

// session returns the live session id, or an error wrapping
// sessions.ErrNotFound.
func (d *Dialect) session(id string) (*session, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.sessions[id]; s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("%w: %q", sessions.ErrNotFound, id)
}

// backendInfo describes the backend called name; ok is false for an
// unknown one.
func (d *Dialect) backendInfo(name string) (sessions.BackendInfo, bool) {
	for _, b := range d.reg.Backends() {
		if b.Name == name {
			return b, true
		}
	}
	return sessions.BackendInfo{}, false
}

// titleOf is a session's title: the first line of the first prompt's text,
// cut to 80 characters.
func titleOf(prompt []backends.Content) string {
	for _, c := range prompt {
		if c.Type != backends.ContentText {
			continue
		}
		for _, line := range strings.Split(c.Text, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			if r := []rune(line); len(r) > 80 {
				line = string(r[:79]) + "…"
			}
			return line
		}
	}
	return ""
}

func ptr[T any](v T) *T { return &v }

// optional is s, or nil when it is empty (an absent member).
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// presenter is the session's presenter, made at its first use. d.mu need
// not be held: a session's id is fixed, and the first use is its open.
func (s *session) presenter(d *Dialect) *presenter {
	if s.events == nil {
		s.events = newPresenter(d, s.id)
	}
	return s.events
}
