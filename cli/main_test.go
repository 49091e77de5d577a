package cli

import (
	"os"
	"testing"

	"github.com/tether-dev/tether/internal/testenv"
)

// TestMain points the session store at a directory of its own: the tests
// run tether in-process, and nothing they run may write to the
// developer's ~/.local/state.
func TestMain(m *testing.M) {
	remove := testenv.PrivateStore()
	code := m.Run()
	remove()
	os.Exit(code)
}
