package supervisor

import (
	"log/slog"
	"os"
	"sync"
	"time"
)

// Options configures Init.
type Options struct {
	Log *slog.Logger // nil: slog.Default()
	// JanitorStderr receives the janitor's few lines (what it ended when
	// Tether died). nil discards them: a janitor holding Tether's stderr
	// would delay EOF for a client reading it.
	JanitorStderr *os.File
	// JanitorGrace is how long the janitor waits between SIGTERM and
	// SIGKILL; default 2 s.
	JanitorGrace time.Duration
	// NoJanitor starts no janitor (where the binary cannot be re-executed).
	NoJanitor bool
}

var (
	initOnce sync.Once
	initErr  error
)

// Init sets up what guards against Tether's own death: on Linux the
// starter thread for parent-death signals, the child subreaper and its
// reaper, and the janitor; on other unix systems the janitor. The janitor
// itself starts with the first child (a failure to start it is logged
// then). main calls Init first thing, before starting any child; it runs
// the janitor instead (and never returns) when this process is one. The
// error, if any, says which guard is missing; the others still work, so the
// caller logs it and goes on. Calls after the first return the first's
// result.
//
// Init's goroutines (starter, reaper, the janitor's waiter) live for the
// life of the process.
func Init(opts Options) error {
	RunJanitorIfAsked()
	initOnce.Do(func() {
		if opts.Log == nil {
			opts.Log = slog.Default()
		}
		if opts.JanitorGrace <= 0 {
			opts.JanitorGrace = 2 * time.Second
		}
		initErr = platformInit(opts)
	})
	return initErr
}
