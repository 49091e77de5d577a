package cli

import (
	"os"
	"testing"

	"github.com/tether-dev/tether/store"
)

// TestMain points the session store at a directory of its own: the tests
// run tether in-process, and nothing they run may write to the
// developer's ~/.local/state.
func TestMain(m *testing.M) {
	state, err := os.MkdirTemp("", "tether-cli-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv(store.EnvStateDir, state)
	code := m.Run()
	os.RemoveAll(state)
	os.Exit(code)
}
