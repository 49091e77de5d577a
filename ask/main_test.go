package ask

import (
	"os"
	"testing"

	"github.com/tether-dev/tether/internal/testenv"
)

// TestMain points the session store at a directory of its own: tether ask
// keeps its sessions there, and nothing a test runs, in-process or as a
// helper process (which inherits the environment), may write to the
// developer's ~/.local/state.
func TestMain(m *testing.M) {
	remove := testenv.PrivateStore()
	code := m.Run()
	remove()
	os.Exit(code)
}
