// Package testenv holds what tests in several packages share: what they
// know of the machine they run on, and test clients' plumbing.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// MissingInCI skips a test whose tool is missing here, but fails it under
// CI, where scripts/test.sh has installed everything the tests need.
func MissingInCI(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s, and CI is set: these tests must run in CI", why)
	}
	t.Skip(why)
}

// ModuleRoot is the directory holding go.mod, at or above the test's
// package directory (where go test runs a test).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod at or above the test's directory")
		}
		dir = parent
	}
}

// NodeModules is the module's testdeps/node_modules, where scripts/test.sh
// installs the npm packages the tests run (npm ci --prefix testdeps).
func NodeModules(t testing.TB) string {
	t.Helper()
	return filepath.Join(ModuleRoot(t), "testdeps", "node_modules")
}

// Need returns path when it exists; otherwise it skips the test, or fails
// it under CI (MissingInCI).
func Need(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		MissingInCI(t, fmt.Sprintf("%s is missing (scripts/test.sh runs npm ci --prefix testdeps): %v", path, err))
	}
	return path
}
