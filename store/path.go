package store

import (
	"fmt"
	"os"
	"path/filepath"
)

// Environment variables DefaultPath reads.
const (
	// EnvStateDir moves the store: the file is tether.db in this directory.
	EnvStateDir = "TETHER_STATE_DIR"
	// envXDGStateHome is the XDG base directory for state data.
	envXDGStateHome = "XDG_STATE_HOME"
)

// FileName is the store's file name inside its directory.
const FileName = "tether.db"

// DefaultPath is where the store lives when nothing else is said:
// $TETHER_STATE_DIR/tether.db if set, else $XDG_STATE_HOME/tether/tether.db,
// else ~/.local/state/tether/tether.db. An XDG_STATE_HOME that is not an
// absolute path is ignored, as the XDG spec says. It fails only when the home
// directory is needed and unknown.
func DefaultPath() (string, error) {
	if dir := os.Getenv(EnvStateDir); dir != "" {
		return filepath.Join(dir, FileName), nil
	}
	if dir := os.Getenv(envXDGStateHome); dir != "" && filepath.IsAbs(dir) {
		return filepath.Join(dir, "tether", FileName), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("default store path: %w", err)
	}
	return filepath.Join(home, ".local", "state", "tether", FileName), nil
}
