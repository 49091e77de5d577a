package store

import "time"

// Test seams: set the unexported fields of Options.

// WithClock makes the store read time from now.
func WithClock(o Options, now func() time.Time) Options {
	o.now = now
	return o
}

// WithPragmas runs extra pragmas on every connection, e.g.
// "max_page_count(1)" to make the file full.
func WithPragmas(o Options, pragmas ...string) Options {
	o.pragmas = append(o.pragmas, pragmas...)
	return o
}

// SchemaVersion is the schema version Open migrates to.
var SchemaVersion = len(migrations)

// MaxWriteAttempts is how often the writer tries a turn's commit.
const MaxWriteAttempts = maxWriteAttempts
