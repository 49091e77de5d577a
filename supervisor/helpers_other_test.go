//go:build unix && !linux

package supervisor

import "testing"

// assertNoneLeft cannot look without /proc.
func assertNoneLeft(*testing.T) {}
