package ask

import (
	"os"
	"testing"

	"github.com/tether-dev/tether/store"
)

// TestMain points the session store at a directory of its own: tether ask
// keeps its sessions there, and nothing a test runs, in-process or as a
// helper process (which inherits the environment), may write to the
// developer's ~/.local/state.
func TestMain(m *testing.M) {
	state, err := os.MkdirTemp("", "tether-ask-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv(store.EnvStateDir, state)
	code := m.Run()
	os.RemoveAll(state)
	os.Exit(code)
}
