//go:build linux

package supervisor

import (
	"errors"
	"fmt"
)

func platformInit(opts Options) error {
	var errs []error
	if !opts.NoJanitor {
		if err := startJanitor(opts); err != nil {
			errs = append(errs, fmt.Errorf("janitor: %w", err))
		}
	}
	runStarter()
	if err := enableSubreaper(opts.Log); err != nil {
		errs = append(errs, fmt.Errorf("subreaper: %w", err))
	}
	return errors.Join(errs...)
}
