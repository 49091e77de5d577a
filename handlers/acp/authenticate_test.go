package acp_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/handlers/acp"
)

// loginBackend is a backend that needs a login, as claude does, and
// looks logged in or not.
type loginBackend struct {
	name     string
	loggedIn bool
}

func (b loginBackend) Name() string              { return b.name }
func (b loginBackend) Available() (bool, string) { return true, "needs a login" }
func (b loginBackend) Info() backends.Info {
	return backends.Info{LoggedIn: &b.loggedIn}
}
func (b loginBackend) Open(context.Context, backends.Options) (backends.Conn, error) {
	return nil, backends.ErrUnavailable
}

// CodeCompanion authenticates with the first auth method before every
// session, and gives up when that fails: authenticate must succeed when
// nothing needs logging in, and say how to log in when something does.
func TestAuthenticateSucceedsUnlessALoginIsMissing(t *testing.T) {
	for _, tc := range []struct {
		name     string
		def      string
		backends []backends.Backend
		method   string
		ok       bool
	}{
		{"default needs no login", "mock", []backends.Backend{loginBackend{"claude", false}, mock.Backend{}}, "tether-setup", true},
		{"default logged in", "claude", []backends.Backend{loginBackend{"claude", true}}, "tether-setup", true},
		{"default not logged in", "claude", []backends.Backend{loginBackend{"claude", false}}, "tether-setup", false},
		{"claude login, logged in", "mock", []backends.Backend{loginBackend{"claude", true}, mock.Backend{}}, "claude-login", true},
		{"claude login, not logged in", "mock", []backends.Backend{loginBackend{"claude", false}, mock.Backend{}}, "claude-login", false},
		{"claude login, no claude", "mock", []backends.Backend{mock.Backend{}}, "claude-login", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := start(t, withBackends(tc.def, tc.backends...))
			params := map[string]any{"methodId": tc.method}
			if tc.ok {
				var res map[string]any
				c.call("authenticate", params, &res)
				assert.Empty(t, res)
				return
			}
			e := c.callError("authenticate", params)
			assert.Equal(t, int64(acp.CodeAuthRequired), e.Code)
			assert.Contains(t, e.Message, "claude auth login", "it says how to log in")
		})
	}
}
