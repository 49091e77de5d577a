package claudetest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RealCLI returns the absolute path of the claude CLI installed in the
// module's testdeps/node_modules, from whichever package's directory the
// test runs in. Without it the test is skipped, or fails when CI is set
// (scripts/test.sh installs it there).
func RealCLI(t testing.TB) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "testdeps", "node_modules", ".bin", "claude")
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the claude CLI is not installed at %s (scripts/test.sh runs npm ci --prefix testdeps): %v", path, err)
		}
		t.Skipf("the claude CLI is not installed at %s; run `npm ci --prefix testdeps` to run the real-CLI tests", path)
	}
	return path
}

// moduleRoot is the nearest directory at or above the working directory
// (the test's package directory) that holds go.mod.
func moduleRoot() (string, error) {
	start, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := start; ; {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod in %s or above it", start)
		}
		dir = parent
	}
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
