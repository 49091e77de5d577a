//go:build linux

package supervisor

import "fmt"

func platformInit(opts Options) error {
	if !opts.NoJanitor {
		janitorOpts.Store(&opts)
	}
	runStarter()
	if err := enableSubreaper(opts.Log); err != nil {
		return fmt.Errorf("subreaper: %w", err)
	}
	return nil
}
