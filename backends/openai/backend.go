// Package openai is the OpenAI-compatible backend: streaming Chat Completions
// with the history kept per session.
package openai

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/tether-dev/tether/backends"
)

// Name is the name clients select this backend by.
const Name = "openai"

// Config configures the backend; RegisterFlags fills it from the command line.
type Config struct{}

// RegisterFlags registers the backend's flags on fs.
func RegisterFlags(fs *flag.FlagSet) *Config { return &Config{} }

// Backend is the OpenAI-compatible backend.
type Backend struct {
	cfg Config
	log *slog.Logger
}

// New returns the backend.
func New(cfg Config, log *slog.Logger) *Backend { return &Backend{cfg: cfg, log: log} }

func (b *Backend) Name() string { return Name }

func (b *Backend) Available() (bool, string) { return false, "not built yet (issue 4)" }

func (b *Backend) Open(context.Context, backends.Options) (backends.Conn, error) {
	return nil, fmt.Errorf("%w: openai: not built yet", backends.ErrUnavailable)
}
