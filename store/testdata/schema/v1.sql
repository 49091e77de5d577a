-- Schema version 1 of the Tether store, frozen as the code made it: the migration
-- test builds a version-1 file from it and opens it with today's code.
PRAGMA application_id = 1414809682;
PRAGMA user_version = 1;

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
