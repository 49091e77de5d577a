package claudetest

import (
	"path/filepath"
	"testing"

	"github.com/tether-dev/tether/internal/testenv"
)

// RealCLI returns the absolute path of the claude CLI installed in the
// module's testdeps/node_modules, from whichever package's directory the
// test runs in. Without it the test is skipped, or fails when CI is set
// (scripts/test.sh installs it there).
func RealCLI(t testing.TB) string {
	t.Helper()
	return testenv.Need(t, filepath.Join(testenv.NodeModules(t), ".bin", "claude"))
}

// Env is the environment that makes the CLI hermetic, as NAME=value
// entries to add after the inherited environment: HOME and the CLI's
// config dir ($HOME/.claude) in a fresh temp dir, the API at apiURL with a
// dummy key, nonessential traffic off, and no proxy.
func Env(t testing.TB, apiURL string) []string {
	t.Helper()
	home := t.TempDir()
	return []string{
		"HOME=" + home,
		"CLAUDE_CONFIG_DIR=" + filepath.Join(home, ".claude"),
		"ANTHROPIC_BASE_URL=" + apiURL,
		"ANTHROPIC_API_KEY=sk-ant-dummy-for-tests",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"HTTP_PROXY=", "HTTPS_PROXY=", "http_proxy=", "https_proxy=",
		"NO_PROXY=127.0.0.1,localhost",
	}
}
