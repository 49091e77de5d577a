//go:build unix && !linux

package supervisor

func platformInit(opts Options) error {
	if !opts.NoJanitor {
		janitorOpts.Store(&opts)
	}
	return nil
}

func kickReaper() {}
