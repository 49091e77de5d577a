-- A session as a version-1 store holds it; the migration test expects to
-- read it back unchanged from every later version.
INSERT INTO sessions (id, backend, model, mode, cwd, options, title, created_at, updated_at, turns,
	input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, resume_handle)
VALUES ('old', 'claude', 'opus', 'default', '/src/app', '{"systemPrompt":"be brief"}', 'list the files',
	1700000000000, 1700000060000, 2, 30, 12, 1000, 50, 0.125, 'cli-session-1');

INSERT INTO turns (session_id, seq, prompt, stop_reason, input_tokens, output_tokens, cache_read_tokens,
	cache_write_tokens, cost_usd, started_at, ended_at)
VALUES ('old', 1, '[{"type":"text","text":"list the files"}]', 'end_turn', 30, 12, 1000, 50, 0.125,
	1700000000000, 1700000030000),
	('old', 2, '[{"type":"text","text":"and now?"}]', '', 0, 0, 0, 0, 0, 1700000060000, NULL);

INSERT INTO events (session_id, turn_seq, seq, kind, text, tool_use_id, tool_name, data, display, is_error, allow, rule)
VALUES ('old', 1, 0, 'thinking', 'ls will do', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	('old', 1, 1, 'tool_use', NULL, 'toolu_1', 'Bash', '{"command":"ls"}', '{"kind":"execute"}', NULL, NULL, NULL),
	('old', 1, 2, 'permission', NULL, 'toolu_1', 'Bash', NULL, NULL, NULL, 1, 'Bash(ls:*)'),
	('old', 1, 3, 'tool_result', 'a.go b.go', 'toolu_1', 'Bash', NULL, NULL, 0, NULL, NULL),
	('old', 1, 4, 'text', 'Two files.', NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	('old', 1, 5, 'compact', NULL, NULL, NULL, '{"before":1000}', NULL, NULL, NULL, NULL),
	('old', 2, 0, 'text', 'Half an ans', NULL, NULL, NULL, NULL, NULL, NULL, NULL);
