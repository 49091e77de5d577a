package store_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tether-dev/tether/store"
)

// Every earlier schema version has a frozen copy in testdata/schema (vN.sql,
// the whole schema of a version-N file, and vN_data.sql, one session in
// it). A file of each opens with today's code, keeps its data, and ends with
// the same schema as a new file.
func TestOpenMigratesEveryEarlierVersion(t *testing.T) {
	require.Greater(t, store.SchemaVersion, 1, "no earlier version to test")
	fresh := openStore(t, store.Options{})
	wantSchema := schemaOf(t, fresh.Path())

	for v := 1; v < store.SchemaVersion; v++ {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			schema, err := os.ReadFile(filepath.Join("testdata", "schema", fmt.Sprintf("v%d.sql", v)))
			require.NoError(t, err, "each earlier version needs its frozen schema")
			data, err := os.ReadFile(filepath.Join("testdata", "schema", fmt.Sprintf("v%d_data.sql", v)))
			require.NoError(t, err, "each earlier version needs its data")

			path := filepath.Join(t.TempDir(), store.FileName)
			db, err := sql.Open("sqlite", path)
			require.NoError(t, err)
			_, err = db.Exec(string(schema))
			require.NoError(t, err)
			_, err = db.Exec(string(data))
			require.NoError(t, err)
			require.NoError(t, db.Close())

			st := openAt(t, path, store.Options{})
			assert.Equal(t, wantSchema, schemaOf(t, path))
			requireOldSession(t, st)

			// What later versions added works on the migrated file.
			require.NoError(t, st.AppendHistory("old", json.RawMessage(`{"role":"user","content":"hi"}`)))
			history, err := st.History("old")
			require.NoError(t, err)
			assert.Len(t, history, 1)
			require.NoError(t, st.Claim("old"))
			recordTurn(st, "old", "third", "ok", store.Usage{}, 0)
			flush(t, st)
			turns, err := st.Turns("old")
			require.NoError(t, err)
			assert.Len(t, turns, 3)
			assert.Equal(t, 3, turns[2].Seq)
		})
	}
}

// requireOldSession checks the session of vN_data.sql.
func requireOldSession(t *testing.T, st *store.Store) {
	t.Helper()
	ms := func(n int64) time.Time { return time.UnixMilli(n) }
	got, err := st.Get("old")
	require.NoError(t, err)
	assert.Equal(t, store.Session{
		ID: "old", Backend: "claude", Model: "opus", Mode: "default", Cwd: "/src/app",
		Options: json.RawMessage(`{"systemPrompt":"be brief"}`), Title: "list the files",
		CreatedAt: ms(1700000000000), UpdatedAt: ms(1700000060000), Turns: 2,
		Usage:   store.Usage{InputTokens: 30, OutputTokens: 12, CacheReadTokens: 1000, CacheWriteTokens: 50},
		CostUSD: 0.125, ResumeHandle: "cli-session-1",
	}, got)

	turns, err := st.Turns("old")
	require.NoError(t, err)
	require.Len(t, turns, 2)
	assert.Equal(t, store.Turn{
		Seq:    1,
		Prompt: json.RawMessage(`[{"type":"text","text":"list the files"}]`),
		Events: []store.Event{
			{Kind: store.EventThinking, Text: "ls will do"},
			{Kind: store.EventToolUse, ToolUse: &store.ToolUse{ID: "toolu_1", Name: "Bash", Input: json.RawMessage(`{"command":"ls"}`), Display: json.RawMessage(`{"kind":"execute"}`)}},
			{Kind: store.EventPermission, Permission: &store.Permission{ToolUseID: "toolu_1", Tool: "Bash", Allow: true, Rule: "Bash(ls:*)"}},
			{Kind: store.EventToolResult, ToolResult: &store.ToolResult{ID: "toolu_1", Name: "Bash", Summary: "a.go b.go"}},
			{Kind: store.EventText, Text: "Two files."},
			{Kind: "compact", Data: json.RawMessage(`{"before":1000}`)},
		},
		StopReason: "end_turn",
		Usage:      store.Usage{InputTokens: 30, OutputTokens: 12, CacheReadTokens: 1000, CacheWriteTokens: 50},
		CostUSD:    0.125,
		StartedAt:  ms(1700000000000),
		EndedAt:    ms(1700000030000),
	}, turns[0])
	assert.Equal(t, []store.Event{{Kind: store.EventText, Text: "Half an ans"}}, turns[1].Events)
	assert.True(t, turns[1].EndedAt.IsZero())
}

// schemaOf lists the file's schema objects and versions.
func schemaOf(t *testing.T, path string) []string {
	t.Helper()
	db := rawDB(t, path)
	var out []string
	for _, pragma := range []string{"application_id", "user_version"} {
		out = append(out, fmt.Sprintf("%s=%d", pragma, count(t, db, "PRAGMA "+pragma)))
	}
	rows, err := db.Query(`SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY name`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var typ, name, text string
		require.NoError(t, rows.Scan(&typ, &name, &text))
		out = append(out, typ+" "+name+": "+text)
	}
	require.NoError(t, rows.Err())
	return out
}
