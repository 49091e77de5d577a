package store

import (
	"context"
	"database/sql"
	"fmt"
)

// applicationID marks an SQLite file as a Tether store ("TTHR"), so Open
// never migrates a database that belongs to something else.
const applicationID = 0x54544852

// migrations are the schema's versions: migrations[i] takes a database from
// user_version i to i+1. Append only: a released migration never changes,
// since files in the field were made by it. testdata/schema/vN.sql keeps
// what each earlier version looked like, for the migration test.
var migrations = []string{
	// v1: sessions, their turns and the turns' events.
	`PRAGMA application_id = ` + fmt.Sprint(applicationID) + `;

CREATE TABLE sessions (
	id                 TEXT PRIMARY KEY,
	backend            TEXT NOT NULL,
	model              TEXT NOT NULL DEFAULT '',
	mode               TEXT NOT NULL DEFAULT '',
	cwd                TEXT NOT NULL DEFAULT '',
	options            TEXT,                      -- JSON the caller gave
	title              TEXT NOT NULL DEFAULT '',
	created_at         INTEGER NOT NULL,          -- Unix milliseconds
	updated_at         INTEGER NOT NULL,          -- Unix milliseconds
	turns              INTEGER NOT NULL DEFAULT 0,
	input_tokens       INTEGER NOT NULL DEFAULT 0,
	output_tokens      INTEGER NOT NULL DEFAULT 0,
	cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
	cache_write_tokens INTEGER NOT NULL DEFAULT 0,
	cost_usd           REAL NOT NULL DEFAULT 0,
	resume_handle      TEXT NOT NULL DEFAULT ''   -- e.g. claude's backendSessionId
) STRICT;
CREATE INDEX sessions_by_updated ON sessions (updated_at, id);
CREATE INDEX sessions_by_cwd ON sessions (cwd, updated_at, id);

CREATE TABLE turns (
	session_id         TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	seq                INTEGER NOT NULL,          -- 1, 2, ... within the session
	prompt             TEXT NOT NULL,             -- JSON the caller gave
	stop_reason        TEXT NOT NULL DEFAULT '',
	input_tokens       INTEGER NOT NULL DEFAULT 0,
	output_tokens      INTEGER NOT NULL DEFAULT 0,
	cache_read_tokens  INTEGER NOT NULL DEFAULT 0,
	cache_write_tokens INTEGER NOT NULL DEFAULT 0,
	cost_usd           REAL NOT NULL DEFAULT 0,
	started_at         INTEGER NOT NULL,          -- Unix milliseconds
	ended_at           INTEGER,                   -- NULL: never ended
	PRIMARY KEY (session_id, seq)
) STRICT;

CREATE TABLE events (
	session_id  TEXT NOT NULL,
	turn_seq    INTEGER NOT NULL,
	seq         INTEGER NOT NULL,                 -- 0, 1, ... within the turn
	kind        TEXT NOT NULL,                    -- text, thinking, tool_use, tool_result, permission, or the caller's
	text        TEXT,                             -- the run; a result's summary; a permission's reason
	tool_use_id TEXT,
	tool_name   TEXT,
	data        TEXT,                             -- JSON: a tool use's input; another kind's payload
	display     TEXT,                             -- JSON: a tool use's kind/title
	is_error    INTEGER,                          -- tool_result
	allow       INTEGER,                          -- permission
	rule        TEXT,                             -- permission: the rule remembered
	PRIMARY KEY (session_id, turn_seq, seq),
	FOREIGN KEY (session_id, turn_seq) REFERENCES turns (session_id, seq) ON DELETE CASCADE
) STRICT;
`,
	// v2: the message history of backends that keep none (openai), and
	// which process holds which session live.
	`CREATE TABLE history (
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	seq        INTEGER NOT NULL,                  -- 1, 2, ... within the session
	message    TEXT NOT NULL,                     -- JSON the caller gave
	PRIMARY KEY (session_id, seq)
) STRICT;

CREATE TABLE claims (
	session_id TEXT PRIMARY KEY,                  -- no foreign key: a claim may come first
	pid        INTEGER NOT NULL,
	pid_start  TEXT NOT NULL,                     -- the process's start time where known
	claimed_at INTEGER NOT NULL                   -- Unix milliseconds
) STRICT;
`,
}

// checkIdentity fails unless db is empty or a Tether store of a version this
// package knows. It only reads, so the file is untouched when it fails.
func checkIdentity(ctx context.Context, db *sql.DB, path string) error {
	// One statement, so that another process migrating the file at the
	// same moment is seen either before or after, never half-way.
	var appID, version, objects int
	err := db.QueryRowContext(ctx, `SELECT
		(SELECT application_id FROM pragma_application_id),
		(SELECT user_version FROM pragma_user_version),
		(SELECT count(*) FROM sqlite_schema)`).Scan(&appID, &version, &objects)
	if err != nil {
		return unusable(path, "%v%s", err, hint(err))
	}
	switch {
	case appID != 0 && appID != applicationID:
		return unusable(path, "not a Tether store (SQLite application_id %#x)", appID)
	case appID == 0 && objects > 0:
		return unusable(path, "not a Tether store (an SQLite database with %d schema objects of something else)", objects)
	case version > len(migrations):
		return unusable(path, "schema version %d was written by a newer Tether; this one knows up to %d", version, len(migrations))
	}
	return nil
}

// migrate brings db to the latest schema, one version per transaction. Each
// transaction takes the write lock first and reads the version again, so
// processes that open a new file at once migrate it once.
func migrate(ctx context.Context, db *sql.DB) error {
	for {
		done, err := migrateOne(ctx, db)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration, if any; done reports there was none.
func migrateOne(ctx context.Context, db *sql.DB) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see dsn)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return false, err
	}
	if version >= len(migrations) {
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[version]); err != nil {
		return false, fmt.Errorf("migrating schema to version %d: %w", version+1, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, version+1)); err != nil {
		return false, fmt.Errorf("migrating schema to version %d: %w", version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migrating schema to version %d: %w", version+1, err)
	}
	return false, nil
}
