//go:build unix && !linux

package supervisor

import "fmt"

func platformInit(opts Options) error {
	if opts.NoJanitor {
		return nil
	}
	if err := startJanitor(opts); err != nil {
		return fmt.Errorf("janitor: %w", err)
	}
	return nil
}

func kickReaper() {}
