// Package testenv holds what tests in several packages share: what they
// know of the machine they run on, and test clients' plumbing.
package testenv

import (
	"os"
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
