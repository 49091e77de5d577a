// Package store keeps Tether's sessions in an SQLite file, so that they
// outlive the process: a session's options, its turns with every event in
// order (for replay), its running totals, the backend's resume handle and,
// for backends that keep no state of their own (openai), the message history
// that continues the conversation (issue 10).
//
// # The file
//
// One file, by default [DefaultPath], opened with [Open]. It is an ordinary
// SQLite database in WAL mode, so the sqlite3 tool can inspect it while Tether
// runs. The schema is versioned with PRAGMA user_version and migrated forward
// by Open; a file written by a newer Tether, a file that is not a Tether store,
// a corrupt or unreadable file all make Open fail with an error wrapping
// [ErrUnusable]. Open never deletes, truncates or rewrites such a file: the
// caller runs without a store and says why.
//
// Several Tether processes may share the file. SQLite serialises their writes
// (a busy timeout makes each wait its turn; every transaction is short), and a
// session is live in at most one of them: [Store.Claim] records which process
// holds it, and fails with [ErrClaimed] while that process lives.
//
// # Writes off the token path
//
// Session rows, claims and history are written synchronously by the call that
// changes them; none of those is on the streaming path. A turn's events are
// not: [Store.BeginTurn] returns a [TurnRecorder] whose methods only append to
// memory (consecutive text or thinking merge into one run), and the Store's
// writer goroutine commits them in short transactions, with statements
// prepared once: at once after a non-text event or a turn's end, and every
// [Options.FlushInterval] for text and turns just begun. A run's text
// extends its event at each flush, up to 64 KiB an event (an extension
// rewrites the event's text); a longer run goes on in the next event, and
// [Store.Turns] joins the parts.
//
// Crash guarantee: what a process loses when it dies (killed, crashed, power
// cut) is at most the tail of the turns in flight: what they recorded
// during the last FlushInterval (their text, and the prompt of a turn begun
// then) and the events the writer had not reached yet (it reaches them
// within milliseconds). Everything committed earlier survives,
// and the file stays consistent: SQLite commits are atomic. A turn cut off by
// a crash is kept with what was committed of it, with no stop reason and a
// zero EndedAt. With synchronous=NORMAL, a power cut (not a process crash)
// may also roll back the last commits before it, never corrupt the file.
//
// A background write that fails (disk full, the file gone read-only, another
// process holding the lock past the busy timeout) is logged, counted
// ([Store.WriteErrors]) and reported to [Options.OnWriteError]; it never fails
// or blocks the turn being recorded, and the store stays usable for reads.
// The writer tries that turn again after 1, 2, 4 and 8 seconds (its session's
// later turns wait, to keep their order), then drops what it holds of the
// turn; what was committed before stays.
//
// # Goroutines
//
// The Store owns one goroutine, its writer: Open starts it, Close stops it
// after a last flush and waits for it. Every method of Store and TurnRecorder
// is safe for concurrent use.
package store
