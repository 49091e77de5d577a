// Package builtin builds the backends Tether ships with, from the command
// line: the server, `tether acp` and `tether ask` all take them from here,
// so a new backend is added in one place.
package builtin

import (
	"flag"
	"fmt"
	"log/slog"
	"strings"

	"github.com/tether-dev/tether/backends"
	"github.com/tether-dev/tether/backends/claude"
	"github.com/tether-dev/tether/backends/mock"
	"github.com/tether-dev/tether/backends/openai"
)

// Flags registers the flags of every backend on fs, and returns the
// func that builds the backends once fs is parsed, in the order initialize
// lists them. The server and `tether ask` both take their backends from
// here, so a new backend is added in one place.
func Flags(fs *flag.FlagSet) func(log *slog.Logger) []backends.Backend {
	claudeCfg := claude.RegisterFlags(fs)
	openaiCfg := openai.RegisterFlags(fs)
	return func(log *slog.Logger) []backends.Backend {
		return []backends.Backend{claude.New(*claudeCfg, log), openai.New(*openaiCfg, log), mock.Backend{}}
	}
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
	for _, b := range all {
		if c, ok := b.(configChecker); ok {
			if err := c.ConfigError(); err != nil {
				return "", err
			}
		}
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
