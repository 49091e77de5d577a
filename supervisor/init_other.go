//go:build !unix

package supervisor

func platformInit(Options) error { return nil }

func kickReaper() {}

// RunJanitorIfAsked does nothing here: there is no janitor.
func RunJanitorIfAsked() {}

func ensureJanitor() {}

func janitorRegister(int, uint64) {}

func janitorUnregister(int) {}
