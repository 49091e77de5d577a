package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	// Pure-Go SQLite (a translation of the C library, no cgo): go build
	// keeps working everywhere, cross-compiling included.
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Defaults for zero [Options] fields.
const (
	DefaultBusyTimeout   = 5 * time.Second
	DefaultFlushInterval = time.Second
)

// maxOpenConns bounds the connection pool: the writer, a synchronous write
// and a few readers. WAL lets the readers run beside the one writer.
const maxOpenConns = 4

// sqliteHeader starts every SQLite database file.
const sqliteHeader = "SQLite format 3\x00"

// Options tune a Store. The zero value is ready to use.
type Options struct {
	// Logger receives failed background writes and other notes; nil means
	// slog.Default().
	Logger *slog.Logger
	// BusyTimeout is how long a write waits for another process's write
	// lock before it fails; 0 means DefaultBusyTimeout.
	BusyTimeout time.Duration
	// FlushInterval is how often the writer commits the text of turns in
	// flight, so it bounds the text a crash loses; 0 means
	// DefaultFlushInterval.
	FlushInterval time.Duration
	// OnWriteError, when set, is called with every failed background write
	// (those of a TurnRecorder), after it is logged. It runs on the writer
	// goroutine: it must return quickly and must not call Flush or Close.
	OnWriteError func(error)

	// Test seams, set through export_test.go.
	now     func() time.Time // the clock; nil means time.Now
	pragmas []string         // extra per-connection pragmas, e.g. max_page_count(N)
}

// Store is an open store file. Its methods are safe for concurrent use.
//
// A Store owns one goroutine, its writer (see writer.go): Open starts it,
// Close makes it commit what the recorders hold, stops it and waits for it.
type Store struct {
	path        string
	db          *sql.DB
	log         *slog.Logger
	opts        Options
	now         func() time.Time
	writeErrors atomic.Int64 // failed background writes

	owner owner       // this process, for claims
	stmts *writeStmts // the writer's, prepared at Open

	mu     sync.Mutex // guards closed, active and claims
	closed bool
	active []*TurnRecorder     // recorders with work for the writer, in BeginTurn order
	claims map[string]struct{} // sessions this Store claimed, released by Close

	wake     chan struct{}      // 1-buffered: a recorder has an event to commit now
	flushReq chan chan struct{} // Flush asks; the writer closes the channel when done
	stop     chan struct{}      // closed by Close
	done     chan struct{}      // closed by the writer when it returns

	closeOnce sync.Once
	closeErr  error
}

// Open opens the store at path, creating the file (mode 0600) and its
// directory (0700) when missing, and migrating the schema to this version.
// A file that cannot serve (corrupt, not SQLite, not a Tether store, from a
// newer Tether, not readable and writable) gives an error wrapping
// ErrUnusable that says why, and is left exactly as it was.
func Open(path string, opts Options) (*Store, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	now := opts.now
	if now == nil {
		now = time.Now
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, unusable(path, "%v", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, unusable(abs, "creating its directory: %v", err)
	}
	if err := prepareFile(abs); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(abs, opts))
	if err != nil {
		return nil, unusable(abs, "%v", err)
	}
	db.SetMaxOpenConns(maxOpenConns)
	if err := initialize(db, abs, opts.BusyTimeout); err != nil {
		db.Close()
		return nil, err
	}
	stmts, err := prepareWriteStmts(db)
	if err != nil {
		db.Close()
		return nil, unusable(abs, "preparing the writer's statements: %v", err)
	}
	s := &Store{
		path:     abs,
		db:       db,
		log:      log.With("store", abs),
		opts:     opts,
		now:      now,
		owner:    currentOwner(),
		stmts:    stmts,
		claims:   map[string]struct{}{},
		wake:     make(chan struct{}, 1),
		flushReq: make(chan chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go s.writeLoop()
	return s, nil
}

// prepareFile creates path (empty, mode 0600) if it does not exist, and
// otherwise checks, without writing, that it is a regular file this process
// may read and write and that it starts like an SQLite database.
func prepareFile(path string) error {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return unusable(path, "not a regular file (%s)", fi.Mode().Type())
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return unusable(path, "%v", err)
	}
	defer f.Close()
	header := make([]byte, len(sqliteHeader))
	switch n, err := io.ReadFull(f, header); {
	case n == 0 && errors.Is(err, io.EOF):
		return nil // new or empty: SQLite makes it a database
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return unusable(path, "reading it: %v", err)
	case string(header[:n]) != sqliteHeader:
		return unusable(path, "not an SQLite database (its first bytes are %q)", header[:n])
	}
	return nil
}

// dsn is the modernc.org/sqlite data source for path: a URI in mode rw, so
// SQLite itself never creates a file, with the pragmas every connection
// needs. _txlock=immediate makes every write transaction take the write lock
// at BEGIN, where the busy timeout applies, rather than fail with
// SQLITE_BUSY when a read turns into a write.
func dsn(path string, opts Options) string {
	q := url.Values{}
	q.Set("mode", "rw")
	q.Set("_txlock", "immediate")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	for _, p := range opts.pragmas {
		q.Add("_pragma", p)
	}
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// initialize checks that db is a store this package can use, switches it to
// WAL and migrates it. Nothing is written before the checks pass.
func initialize(db *sql.DB, path string, busyTimeout time.Duration) error {
	ctx := context.Background()
	if err := checkIdentity(ctx, db, path); err != nil {
		return err
	}
	if err := switchToWAL(ctx, db, busyTimeout); err != nil {
		return unusable(path, "switching to WAL: %v%s", err, hint(err))
	}
	if err := migrate(ctx, db); err != nil {
		return unusable(path, "%v%s", err, hint(err))
	}
	return nil
}

// switchToWAL puts the file in WAL mode (a no-op when it is already). The
// switch needs the file to itself, and SQLite answers SQLITE_BUSY at once,
// without its busy handler, when another process is looking at it too
// (two Tethers opening a new file together); so it is tried again for up
// to busyTimeout.
func switchToWAL(ctx context.Context, db *sql.DB, busyTimeout time.Duration) error {
	deadline := time.Now().Add(busyTimeout)
	pause := 5 * time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		switch {
		case err == nil && mode == "wal":
			return nil
		case err == nil:
			return fmt.Errorf("journal mode is still %q", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return err
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY.
func isBusy(err error) bool {
	var serr *sqlite.Error
	return errors.As(err, &serr) && serr.Code()&0xff == sqlite3.SQLITE_BUSY
}

// hint explains SQLite errors that are about permissions rather than the
// file, which puzzle when the file itself is writable.
func hint(err error) string {
	var serr *sqlite.Error
	if !errors.As(err, &serr) {
		return ""
	}
	switch serr.Code() & 0xff {
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		return " (the file and its directory must be writable: SQLite keeps its -wal and -shm files next to it)"
	}
	return ""
}

// Path is the store file's absolute path.
func (s *Store) Path() string { return s.path }

// WriteErrors is how many background writes have failed since Open.
func (s *Store) WriteErrors() int64 { return s.writeErrors.Load() }

// Close commits what the recorders hold (turns still in flight stay open in
// the file), stops the writer and waits for it, releases the Store's claims
// and closes the file. Later
// calls return the first one's result; later use of the Store fails with
// ErrClosed, and recorders made after it record nothing.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		<-s.done
		if err := s.releaseAll(); err != nil {
			s.log.Error("store: releasing claims", "err", err)
		}
		s.stmts.close()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// checkOpen returns ErrClosed once Close has begun.
func (s *Store) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// millis and fromMillis convert between times and the file's Unix
// milliseconds.
func millis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms) }
