// Package builtin builds the backends Tether ships with, from the command
// line: the server, `tether acp` and `tether ask` all take them from here,
// so a new backend is added in one place.
package builtin

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/acpagent"
	"github.com/tether-dev/tether/backends/claude"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/backends/openai"
)

// Flags registers the flags of every backend on fs, and returns the
// func that builds the backends once fs is parsed, in the order initialize
// lists them: claude, openai, mock, then the configured ACP agents
// (--agent, agents.json). The server and `tether ask` both take their
// backends from here, so a new backend is added in one place.
func Flags(fs *flag.FlagSet) func(log *slog.Logger) []backends.Backend {
	claudeCfg := claude.RegisterFlags(fs)
	openaiCfg := openai.RegisterFlags(fs)
	agentsCfg := acpagent.RegisterFlags(fs)
	return func(log *slog.Logger) []backends.Backend {
		all := []backends.Backend{claude.New(*claudeCfg, log), openai.New(*openaiCfg, log), mock.Backend{}}
		agents, err := acpagent.New(*agentsCfg, log)
		if err != nil {
			// Default, which every command calls first, refuses to start.
			return append(all, badConfig{err})
		}
		for _, a := range agents {
			all = append(all, a)
		}
		return all
	}
}

// badConfig stands for backends whose configuration could not be read
// (agents.json): Default reports its error, so no command runs with it.
type badConfig struct{ err error }

func (b badConfig) Name() string              { return "(bad configuration)" }
func (b badConfig) Available() (bool, string) { return false, b.err.Error() }
func (b badConfig) Info() backends.Info       { return backends.Info{} }
func (b badConfig) ConfigError() error        { return b.err }
func (b badConfig) Open(context.Context, backends.Options) (backends.Conn, error) {
	return nil, fmt.Errorf("%w: %w", backends.ErrUnavailable, b.err)
}

// configChecker is a backend whose configuration can be wrong in a way no
// query can fix (openai: a base URL without http://).
type configChecker interface {
	ConfigError() error
}

// Default is the backend queries use when they name none: the one
// asked for, else the first available of claude, openai and mock. Every
// command calls it at start, and treats its error as bad usage (exit 2),
// so it also rejects a backend's configuration that cannot work.
func Default(all []backends.Backend, asked string) (string, error) {
	seen := make(map[string]bool)
	for _, b := range all {
		if c, ok := b.(configChecker); ok {
			if err := c.ConfigError(); err != nil {
				return "", err
			}
		}
		if seen[b.Name()] {
			return "", fmt.Errorf("two backends are named %q: name the ACP agent otherwise (--agent, agents.json)", b.Name())
		}
		seen[b.Name()] = true
	}
	var names []string
	for _, b := range all {
		names = append(names, b.Name())
		if b.Name() == asked {
			return asked, nil
		}
	}
	if asked != "" {
		return "", fmt.Errorf("unknown --backend %q (known: %s)", asked, strings.Join(names, ", "))
	}
	for _, want := range []string{"claude", "openai", mock.Name} {
		for _, b := range all {
			if ok, _ := b.Available(); ok && b.Name() == want {
				return want, nil
			}
		}
	}
	return mock.Name, nil
}
