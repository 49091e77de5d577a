package builtin

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/mock"
)

// namedBackend is a backend that only has a name and an availability.
type namedBackend struct {
	name string
	ok   bool
}

func (b namedBackend) Name() string              { return b.name }
func (b namedBackend) Available() (bool, string) { return b.ok, "" }
func (b namedBackend) Info() backends.Info       { return backends.Info{} }
func (b namedBackend) Open(context.Context, backends.Options) (backends.Conn, error) {
	return nil, backends.ErrUnavailable
}

func TestDefaultBackendPrefersClaudeThenOpenAIThenMock(t *testing.T) {
	all := func(claude, openai bool) []backends.Backend {
		return []backends.Backend{namedBackend{"claude", claude}, namedBackend{"openai", openai}, mock.Backend{}}
	}
	for _, tc := range []struct {
		claude, openai bool
		asked, want    string
	}{
		{true, true, "", "claude"},
		{false, true, "", "openai"},
		{false, false, "", "mock"},
		{true, true, "mock", "mock"},
		{false, false, "claude", "claude"}, // asked for: used, and queries say why it cannot run
	} {
		got, err := Default(all(tc.claude, tc.openai), tc.asked)
		require.NoError(t, err)
		assert.Equal(t, tc.want, got, "claude %v, openai %v, --backend %q", tc.claude, tc.openai, tc.asked)
	}
	_, err := Default(all(true, true), "gemini")
	assert.ErrorContains(t, err, `unknown --backend "gemini" (known: claude, openai, mock)`)
}

// misconfigured is a backend whose configuration cannot work.
type misconfigured struct{ namedBackend }

func (misconfigured) ConfigError() error { return errors.New("--x-url \"x\" must start with http://") }

func TestDefaultRejectsAConfigurationThatCannotWork(t *testing.T) {
	all := []backends.Backend{namedBackend{"claude", true}, misconfigured{namedBackend{"openai", true}}, mock.Backend{}}
	_, err := Default(all, "mock")
	require.Error(t, err, "even when another backend is the default: every command rejects it at start")
	assert.Contains(t, err.Error(), "--x-url")
}
