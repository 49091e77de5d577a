// Package storeflags is the command line of the session store, shared by
// the commands that serve (tether, tether acp), tether ask and tether
// sessions: where the store is (--state-dir, $TETHER_STATE_DIR), whether
// there is one (--no-store), how long it keeps sessions (--store-max-age),
// and opening it so that a file that cannot serve never stops Tether.
package storeflags

import (
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/tether-dev/tether/store"
)

// Flag names, for help groups.
const (
	StateDir = "state-dir"
	NoStore  = "no-store"
	MaxAge   = "store-max-age"
)

// Flags are the store's flags, filled when their FlagSet is parsed.
type Flags struct {
	stateDir string
	noStore  bool
	maxAge   time.Duration
}

// Register registers --state-dir and --no-store on fs, and --store-max-age
// when prune is set (the commands that serve prune at start).
func Register(fs *flag.FlagSet, prune bool) *Flags {
	f := &Flags{}
	RegisterStateDir(fs, f)
	fs.BoolVar(&f.noStore, NoStore, false, "keep no sessions across restarts: open no store (session/list shows live sessions only)")
	if prune {
		fs.DurationVar(&f.maxAge, MaxAge, 0, "at start, delete the stored sessions not used for this `duration` (720h: 30 days); 0 keeps them all")
	}
	return f
}

// RegisterStateDir registers --state-dir alone, into f.
func RegisterStateDir(fs *flag.FlagSet, f *Flags) {
	fs.StringVar(&f.stateDir, StateDir, "", "keep the session store, "+store.FileName+", in directory `DIR`"+
		" (default $"+store.EnvStateDir+", else $XDG_STATE_HOME/tether, else ~/.local/state/tether)")
}

// Path is the store's file: in --state-dir when given, else where
// store.DefaultPath says.
func (f *Flags) Path() (string, error) {
	if f.stateDir != "" {
		return filepath.Join(f.stateDir, store.FileName), nil
	}
	return store.DefaultPath()
}

// Open opens the store the flags name and prunes it (--store-max-age). It
// never fails: without a store it returns nil, and problem says why ("" for
// --no-store). A file that cannot serve is left as it is, and the reason
// is logged.
func (f *Flags) Open(log *slog.Logger) (st *store.Store, problem string) {
	if f.noStore {
		log.Info("running without a session store (--no-store)")
		return nil, ""
	}
	path, err := f.Path()
	if err == nil {
		st, err = store.Open(path, store.Options{Logger: log})
	}
	if err != nil {
		log.Error("running without a session store: sessions will not outlive this process", "err", err)
		return nil, err.Error()
	}
	if f.maxAge > 0 {
		n, err := st.Prune(f.maxAge)
		switch {
		case err != nil:
			log.Warn("store: pruning old sessions", "err", err)
		case n > 0:
			log.Info("store: deleted sessions not used for "+f.maxAge.String(), "sessions", n)
		}
	}
	log.Debug("session store", "path", st.Path())
	return st, ""
}

// OpenRequired opens the store the flags name, for a command that has
// nothing to do without one (tether sessions).
func (f *Flags) OpenRequired(log *slog.Logger) (*store.Store, error) {
	path, err := f.Path()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(path, store.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("opening the session store: %w", err)
	}
	return st, nil
}
