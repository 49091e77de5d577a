package acp

import (
	"context"
	"fmt"
	"strings"

	schema "github.com/coder/acp-go-sdk"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/rpc"
	"github.com/tether-dev/tether/sessions"
)

// Config option ids, as session/new lists them and set_config_option
// names them.
const (
	configBackend = "backend"
	configModel   = "model"
	configMode    = "mode"
)

func (d *Dialect) setConfigOption(_ context.Context, req *rpc.Request) {
	var p schema.SetSessionConfigOptionRequest
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	if p.ValueId == nil {
		req.Reply(nil, &sessions.ParamError{Field: "value", Reason: "must be a string: Tether's options are all selects"})
		return
	}
	id, value := string(p.ValueId.SessionId), string(p.ValueId.Value)
	s, err := d.session(id)
	if err != nil {
		req.Reply(nil, err)
		return
	}
	switch p.ValueId.ConfigId {
	case configBackend:
		err = d.switchBackend(s, value)
	case configModel:
		err = d.configure(s, value, "")
	case configMode:
		if err = d.configure(s, "", value); err == nil {
			d.notify(id, schema.SessionCurrentModeUpdate{SessionUpdate: "current_mode_update", CurrentModeId: schema.SessionModeId(value)})
		}
	default:
		err = &sessions.ParamError{Field: "configId", Reason: fmt.Sprintf("unknown option %q (Tether has backend, model and mode)", p.ValueId.ConfigId)}
	}
	if err != nil {
		req.Reply(nil, err)
		return
	}
	req.Reply(schema.SetSessionConfigOptionResponse{ConfigOptions: d.configOptions(s)}, nil)
}

// setMode is the legacy session/set_mode; clients that follow config
// options are told of the change.
func (d *Dialect) setMode(_ context.Context, req *rpc.Request) {
	var p schema.SetSessionModeRequest
	if err := decode(req.Params, &p, true); err != nil {
		req.Reply(nil, err)
		return
	}
	s, err := d.session(string(p.SessionId))
	if err == nil {
		err = d.configure(s, "", string(p.ModeId))
	}
	if err != nil {
		req.Reply(nil, err)
		return
	}
	d.notify(s.id, schema.SessionConfigOptionUpdate{SessionUpdate: "config_option_update", ConfigOptions: d.configOptions(s)})
	req.Reply(schema.SetSessionModeResponse{}, nil)
}

// configure switches a session's model or mode to one its backend offers;
// the next turn runs with it.
func (d *Dialect) configure(s *session, model, mode string) error {
	d.mu.Lock()
	backend := s.backend
	d.mu.Unlock()
	info, _ := d.backendInfo(backend)
	switch {
	case model != "" && !offered(model, info.Models):
		return &sessions.ParamError{Field: "value", Reason: fmt.Sprintf("the %s backend has no model %q (it has %s)", backend, model, ids(info.Models))}
	case mode != "" && !offered(mode, info.Modes):
		return &sessions.ParamError{Field: "value", Reason: fmt.Sprintf("the %s backend has no mode %q (it has %s)", backend, mode, ids(info.Modes))}
	}
	if err := d.reg.Configure(s.id, model, mode); err != nil {
		return err
	}
	d.mu.Lock()
	if model != "" {
		s.model = model
	}
	if mode != "" {
		s.mode = mode
	}
	d.mu.Unlock()
	return nil
}

// switchBackend moves a session that has had no prompt yet to another
// backend: the session made for the first one is closed, and one under the
// same id is made on the other, with its defaults.
func (d *Dialect) switchBackend(s *session, name string) error {
	d.mu.Lock()
	prompted, backend := s.prompted, s.backend
	d.mu.Unlock()
	if name == backend {
		return nil
	}
	if prompted {
		return &sessions.ParamError{Field: "value", Reason: fmt.Sprintf("the session has had a prompt on %s; the backend can change only before the first prompt (start a new session for %s)", backend, name)}
	}
	info, ok := d.backendInfo(name)
	switch {
	case !ok:
		return &sessions.ParamError{Field: "value", Reason: fmt.Sprintf("unknown backend %q", name)}
	case !info.Available:
		return &sessions.ParamError{Field: "value", Reason: fmt.Sprintf("the %s backend cannot run here: %s", name, info.Detail)}
	}
	d.reg.Close(s.id, func(bool) {})
	d.mu.Lock()
	s.backend, s.model, s.mode = name, "", ""
	d.mu.Unlock()
	if err := d.open(s); err != nil {
		d.mu.Lock()
		delete(d.sessions, s.id)
		d.mu.Unlock()
		return fmt.Errorf("the session on %s was closed, and one on %s could not be made: %w", backend, name, err)
	}
	return nil
}

// configOptions are s's options as ACP shows them: the backend (a choice
// until the first prompt), the model and the mode, each offered where the
// backend has a choice.
func (d *Dialect) configOptions(s *session) []schema.SessionConfigOption {
	all := d.reg.Backends() // outside d.mu: it looks for the backends' programs
	d.mu.Lock()
	backend, model, mode := s.backend, s.model, s.mode
	d.mu.Unlock()
	var names []choice
	var info backends.Info
	for _, b := range all {
		if b.Name == backend {
			info = b.Info
		}
		if b.Available || b.Name == backend {
			names = append(names, choice{id: b.Name, name: b.Name, description: b.Detail})
		}
	}
	opts := []schema.SessionConfigOption{
		selectOption(configBackend, "Backend", "The agent behind this session; it can change until the first prompt.", nil, backend, names),
	}
	if len(info.Models) > 0 {
		opts = append(opts, selectOption(configModel, "Model", "", ptr(schema.SessionConfigOptionCategoryModel), current(model, info.Models), choices(info.Models)))
	}
	if len(info.Modes) > 0 {
		opts = append(opts, selectOption(configMode, "Mode", "", ptr(schema.SessionConfigOptionCategoryMode), current(mode, info.Modes), choices(info.Modes)))
	}
	return opts
}

// modeState is s's mode as ACP's legacy modes show it; nil when the
// backend offers no modes.
func (d *Dialect) modeState(s *session) *schema.SessionModeState {
	d.mu.Lock()
	backend, mode := s.backend, s.mode
	d.mu.Unlock()
	info, _ := d.backendInfo(backend)
	if len(info.Modes) == 0 {
		return nil
	}
	state := &schema.SessionModeState{CurrentModeId: schema.SessionModeId(current(mode, info.Modes))}
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
