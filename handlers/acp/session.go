package acp

import (
	"fmt"
	"strings"
	"time"

	schema "github.com/coder/acp-go-sdk"
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
}

// Config option ids, as session/new lists them and set_config_option
// names them.
const (
	configBackend = "backend"
	configModel   = "model"
	configMode    = "mode"
)

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
func (d *Dialect) open(s *session) error {
	log := d.log.With("session", s.id, "backend", s.backend)
	return d.reg.Open(sessions.Options{
		SessionID: s.id,
		Backend:   s.backend,
		Options: backends.Options{
			Cwd:            s.cwd,
			MCPServers:     s.mcpServers,
			Model:          s.model,
			PermissionMode: s.mode,
		},
		Events: newPresenter(d, s.id),
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

// configOptions are s's options as ACP shows them: the backend (a choice
// until the first prompt), the model and the mode, each offered where the
// backend has a choice. Call with d.mu held.
func (d *Dialect) configOptions(s *session) []schema.SessionConfigOption {
	all := d.reg.Backends()
	var names []choice
	var info backends.Info
	for _, b := range all {
		if b.Name == s.backend {
			info = b.Info
		}
		if b.Available || b.Name == s.backend {
			names = append(names, choice{id: b.Name, name: b.Name, description: b.Detail})
		}
	}
	opts := []schema.SessionConfigOption{
		selectOption(configBackend, "Backend", "The agent behind this session; it can change until the first prompt.", nil, s.backend, names),
	}
	if len(info.Models) > 0 {
		opts = append(opts, selectOption(configModel, "Model", "", ptr(schema.SessionConfigOptionCategoryModel), current(s.model, info.Models), choices(info.Models)))
	}
	if len(info.Modes) > 0 {
		opts = append(opts, selectOption(configMode, "Mode", "", ptr(schema.SessionConfigOptionCategoryMode), current(s.mode, info.Modes), choices(info.Modes)))
	}
	return opts
}

// modeState is s's mode as ACP's legacy modes show it; nil when the
// backend offers no modes. Call with d.mu held.
func (d *Dialect) modeState(s *session) *schema.SessionModeState {
	info, _ := d.backendInfo(s.backend)
	if len(info.Modes) == 0 {
		return nil
	}
	state := &schema.SessionModeState{CurrentModeId: schema.SessionModeId(current(s.mode, info.Modes))}
	for _, m := range info.Modes {
		state.AvailableModes = append(state.AvailableModes, schema.SessionMode{
			Id: schema.SessionModeId(m.ID), Name: m.Name, Description: optional(m.Description),
		})
	}
	return state
}

// choice is one value of a select option.
type choice struct{ id, name, description string }

func choices(cs []backends.Choice) []choice {
	out := make([]choice, 0, len(cs))
	for _, c := range cs {
		out = append(out, choice{id: c.ID, name: c.Name, description: c.Description})
	}
	return out
}

func selectOption(id, name, description string, category *schema.SessionConfigOptionCategory, value string, cs []choice) schema.SessionConfigOption {
	values := make(schema.SessionConfigSelectOptionsUngrouped, 0, len(cs))
	for _, c := range cs {
		n := c.name
		if n == "" {
			n = c.id
		}
		values = append(values, schema.SessionConfigSelectOption{
			Value: schema.SessionConfigValueId(c.id), Name: n, Description: optional(c.description),
		})
	}
	return schema.SessionConfigOption{Select: &schema.SessionConfigOptionSelect{
		Id:           schema.SessionConfigId(id),
		Name:         name,
		Description:  optional(description),
		Category:     category,
		CurrentValue: schema.SessionConfigValueId(value),
		Options:      schema.SessionConfigSelectOptions{Ungrouped: &values},
		Type:         "select",
	}}
}

// current is the chosen value, or the default (the first choice).
func current(chosen string, cs []backends.Choice) string {
	if chosen != "" || len(cs) == 0 {
		return chosen
	}
	return cs[0].ID
}

// offered reports whether value is one of cs.
func offered(value string, cs []backends.Choice) bool {
	for _, c := range cs {
		if c.ID == value {
			return true
		}
	}
	return false
}

// ids lists the ids of cs, for error messages.
func ids(cs []backends.Choice) string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return strings.Join(out, ", ")
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
