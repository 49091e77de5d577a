package openai_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives the tests: a conn
// starts none, and the client's reads end with their requests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
