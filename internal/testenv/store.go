package testenv

import (
	"os"

	"github.com/tether-dev/tether/store"
)

// privateStoreEnv marks a process whose session store PrivateStore chose:
// a test binary started again as a helper process inherits it, and keeps
// its parent's directory rather than making (and leaking) one of its own.
const privateStoreEnv = "TETHER_TEST_PRIVATE_STORE"

// PrivateStore points the session store at a new temporary directory for
// the rest of the test binary (through store.EnvStateDir, which the
// processes the tests start inherit), so that nothing a test runs writes
// to the developer's ~/.local/state. TestMain calls it, and the returned
// remove once the tests have run. In a helper process of such a test
// binary it keeps the directory it inherited, and remove does nothing.
func PrivateStore() (remove func()) {
	if os.Getenv(privateStoreEnv) != "" && os.Getenv(store.EnvStateDir) != "" {
		return func() {}
	}
	dir, err := os.MkdirTemp("", "tether-test-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv(store.EnvStateDir, dir)
	os.Setenv(privateStoreEnv, "1")
	return func() { os.RemoveAll(dir) }
}
