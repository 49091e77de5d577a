// End-to-end tests of tether.ts: vscode-jsonrpc driving the real tether
// binary (TETHER_BIN) on its mock backend. Run by vscode_e2e_test.go, which
// compiles this with tsc and runs `node --test`. Nothing here sleeps: every
// wait is on an event or a promise, bounded by the per-test timeout.

import { after, test } from 'node:test';
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import {
	CancellationToken,
	CancellationTokenSource,
	PermissionDecision,
	PermissionRequestParams,
	ResponseError,
	StatusParams,
	Tether,
	TetherErrorCodes,
	TetherOptions,
	TextParams,
	ToolCallParams,
	ToolResultParams,
	ToolUseParams,
} from '../tether';

const bin = process.env.TETHER_BIN ?? '';
const timeout = 20_000;

const started: Tether[] = [];
const stderrs = new Map<Tether, string[]>();

async function start(opts: TetherOptions = {}): Promise<Tether> {
	const lines: string[] = [];
	// No session store: these tests pin the live protocol, and a store
	// shared by their Tethers would carry sessions from test to test.
	const t = await Tether.start(bin, { args: ['--backend', 'mock', '--no-store'], onStderr: c => lines.push(c), ...opts });
	started.push(t);
	stderrs.set(t, lines);
	return t;
}

/** Disposes t and asserts a clean exit: code 0, process gone. */
async function stop(t: Tether): Promise<void> {
	const code = await t.dispose();
	assert.equal(code, 0, `tether exit code; its stderr:\n${stderrs.get(t)?.join('')}`);
	assert.equal(t.child.exitCode, 0);
}

function deferred<T = void>() {
	let resolve!: (v: T) => void;
	const promise = new Promise<T>(r => { resolve = r; });
	return { promise, resolve };
}

/** Settles to 'pending' if p has not settled by the time the event loop has run everything queued. */
async function state(p: Promise<unknown>): Promise<'settled' | 'pending'> {
	const probe = Symbol();
	const r = await Promise.race([p.then(() => 'settled', () => 'settled'), new Promise(res => setImmediate(res, probe))]);
	return r === probe ? 'pending' : 'settled';
}

function isCode(code: number) {
	return (e: unknown) => {
		assert.ok(e instanceof ResponseError, `want a ResponseError, got ${e}`);
		assert.equal(e.code, code, e.message);
		return true;
	};
}

after(() => {
	// No test may leave a tether process behind.
	const alive = started.filter(t => t.child.exitCode === null && t.child.signalCode === null);
	for (const t of alive) {
		t.child.kill('SIGKILL');
	}
	assert.equal(alive.length, 0, `${alive.length} tether process(es) still running`);
});

test('TETHER_BIN is set', () => {
	assert.ok(bin, 'set TETHER_BIN to the tether binary (vscode_e2e_test.go does)');
});

test('initialize lists the backends, mock the default', { timeout }, async () => {
	const t = await start({ clientInfo: { name: 'vscode-e2e', version: '1' } });
	assert.equal(t.info.serverInfo.name, 'tether');
	assert.equal(t.info.protocolVersion, '1');
	assert.deepEqual(t.info.backends.map(b => b.name), ['claude', 'openai', 'mock']);
	const mock = t.info.backends.find(b => b.name === 'mock');
	assert.equal(mock?.available, true);
	assert.equal(t.info.defaultBackend, 'mock');
	await stop(t);
});

test('a streamed query: tokens before the result, concatenating to its text', { timeout }, async () => {
	const t = await start();
	const tokens: TextParams[] = [];
	const thinking: string[] = [];
	const statuses: string[] = [];
	let settled = false;
	let tokensAfterResult = 0;
	const q = t.query({ sessionId: 'stream', prompt: '/think pondering\nhello brave world\n/tokens 5' }, {
		onToken: p => { tokens.push(p); if (settled) { tokensAfterResult++; } },
		onThinking: p => thinking.push(p.text),
		onStatus: p => statuses.push(p.status),
	});
	const r = await q;
	settled = true;
	assert.equal(tokensAfterResult, 0);
	// Tokens that wait while the client reads merge into one notification,
	// so only their concatenation is fixed.
	assert.equal(tokens.map(p => p.text).join(''), 'hello brave world\ntok1 tok2 tok3 tok4 tok5');
	assert.ok(tokens.every(p => p.text !== ''));
	assert.equal(tokens.map(p => p.text).join(''), r.text);
	assert.equal(r.sessionId, 'stream');
	assert.equal(r.stopReason, 'end_turn');
	assert.equal(r.usage.outputTokens, 8);
	assert.ok(r.durationMs >= 0);
	assert.equal(thinking.join(''), 'pondering');
	assert.ok(statuses.includes('busy'), `statuses: ${statuses}`);
	// Every notification names the session and the query it belongs to.
	assert.ok(tokens.every(p => p.sessionId === 'stream' && typeof p.queryId === 'number'));
	assert.equal(new Set(tokens.map(p => p.queryId)).size, 1);
	// A second query of the session gets its own id, and only its own tokens.
	const second: string[] = [];
	const r2 = await t.query({ sessionId: 'stream', prompt: 'again' }, { onToken: p => second.push(p.text) });
	assert.deepEqual(second.join(''), 'again');
	assert.equal(r2.text, 'again');
	await stop(t);
});

test('queries queued in one session each get their own notifications', { timeout }, async () => {
	const t = await start();
	const got: string[][] = [[], [], []];
	const qs = ['first\n/tokens 3', 'second one', 'third'].map((prompt, i) =>
		t.query({ sessionId: 'queue', prompt }, { onToken: p => got[i].push(p.text) }));
	const rs = await Promise.all(qs);
	assert.deepEqual(got.map(g => g.join('')), ['first\ntok1 tok2 tok3', 'second one', 'third']);
	assert.deepEqual(rs.map(r => r.text), got.map(g => g.join('')));
	await stop(t);
});

test('a failed turn rejects with -32012 and the session goes on', { timeout }, async () => {
	const t = await start();
	await assert.rejects(t.query({ sessionId: 'f', prompt: '/fail the model exploded' }), (e: unknown) => {
		isCode(TetherErrorCodes.BackendFailed)(e);
		assert.match((e as Error).message, /the model exploded/);
		return true;
	});
	assert.equal((await t.query({ sessionId: 'f', prompt: 'fine' })).text, 'fine');
	await stop(t);
});

test('permissions: allow, deny, remember, and no handler means deny', { timeout }, async () => {
	const asked: PermissionRequestParams[] = [];
	const decide = new Map<string, PermissionDecision>([
		['allow', { decision: 'allow' }],
		['deny', { decision: 'deny', reason: 'not now' }],
		['remember', { decision: 'allow', remember: true }],
	]);
	const t = await start({
		onPermission: req => { asked.push(req); return decide.get(req.sessionId)!; },
	});
	const run = async (sessionId: string) => {
		const uses: ToolUseParams[] = [];
		const results: ToolResultParams[] = [];
		const statuses: StatusParams[] = [];
		const r = await t.query({ sessionId, prompt: 'Let me look.\n/tool Bash {"command":"ls"}\nDone.' }, {
			onToolUse: p => uses.push(p),
			onToolResult: p => results.push(p),
			onStatus: p => statuses.push(p),
		});
		assert.equal(uses.length, 1);
		assert.equal(results.length, 1);
		assert.equal(uses[0].toolName, 'Bash');
		assert.deepEqual(uses[0].input, { command: 'ls' });
		assert.equal(results[0].toolUseId, uses[0].toolUseId);
		return { r, use: uses[0], result: results[0], statuses };
	};

	const allowed = await run('allow');
	assert.equal(asked.length, 1);
	assert.equal(asked[0].toolName, 'Bash');
	assert.deepEqual(asked[0].toolInput, { command: 'ls' });
	assert.equal(asked[0].alwaysRule, 'Bash(ls:*)', 'what remember would allow');
	assert.equal(asked[0].toolUseId, allowed.use.toolUseId);
	assert.equal(asked[0].queryId, allowed.use.queryId);
	assert.match(asked[0].requestId, /^[0-9a-f-]{36}$/);
	assert.ok(allowed.statuses.some(s => s.status === 'waiting_permission' && s.detail === 'Bash'));
	assert.equal(allowed.result.isError, false);
	assert.equal(allowed.r.text, 'Let me look.\nDone.');

	const denied = await run('deny');
	assert.equal(asked.length, 2);
	assert.equal(denied.result.isError, true);
	assert.match(denied.result.summary, /not now/);

	// remember: the second use of the tool in the session is not asked about.
	assert.equal((await run('remember')).result.isError, false);
	assert.equal((await run('remember')).result.isError, false);
	assert.equal(asked.length, 3);
	await stop(t);

	const none = await start(); // no permission handler installed
	const results: ToolResultParams[] = [];
	await none.query({ sessionId: 'n', prompt: '/tool Bash {"command":"rm -rf build"}' }, { onToolResult: p => results.push(p) });
	assert.equal(results.length, 1);
	assert.equal(results[0].isError, true);
	assert.match(results[0].summary, /no permission handler/);
	await stop(none);
});

test('cancel through a CancellationToken rejects with -32800; the session answers the next query', { timeout }, async () => {
	const t = await start();
	const cts = new CancellationTokenSource();
	const began = Date.now();
	const q = t.query({ sessionId: 'c', prompt: 'started\n/sleep 60000\nnever' }, {
		onToken: () => cts.cancel(), // the turn is running: cancel it
	}, cts.token);
	await assert.rejects(q, isCode(TetherErrorCodes.RequestCancelled));
	assert.ok(Date.now() - began < 30_000, 'the sleep was cut short');
	const r = await t.query({ sessionId: 'c', prompt: 'still here' });
	assert.equal(r.text, 'still here');
	assert.equal(r.stopReason, 'end_turn');

	// A token cancelled while the query waits for a permission: the request
	// is withdrawn, and the handler's own token says so.
	const handlerToken = deferred<boolean>();
	const cts2 = new CancellationTokenSource();
	const withdrawn: string[] = [];
	t.onPermission = (req, token) => new Promise<PermissionDecision>(resolve => {
		token.onCancellationRequested(() => { handlerToken.resolve(true); resolve({ decision: 'allow' }); });
		cts2.cancel();
	});
	const q2 = t.query({ sessionId: 'c', prompt: '/tool Bash {"command":"make"}' }, {
		onPermissionCancelled: p => withdrawn.push(p.reason),
	}, cts2.token);
	await assert.rejects(q2, isCode(TetherErrorCodes.RequestCancelled));
	assert.equal(await handlerToken.promise, true);
	assert.deepEqual(withdrawn, ['cancelled']);

	// session/cancel: the running query resolves with stopReason "cancelled".
	let cancelled: Promise<{ cancelled: number }> | undefined;
	const q3 = t.query({ sessionId: 'c', prompt: 'go\n/sleep 60000' }, {
		onToken: () => { cancelled = t.cancel('c'); },
	});
	assert.equal((await q3).stopReason, 'cancelled');
	assert.deepEqual(await cancelled, { cancelled: 1 });
	await stop(t);
});

test('tool/call is answered by the tool handler', { timeout }, async () => {
	const calls: ToolCallParams[] = [];
	const t = await start({
		onToolCall: call => { calls.push(call); return { content: 'package main\n\nfunc main() {}\n' }; },
	});
	const uses: ToolUseParams[] = [];
	const results: ToolResultParams[] = [];
	const r = await t.query({
		sessionId: 'tc',
		prompt: '/calltool read_file {"path":"main.go"}\nRead it.',
		tools: [{ name: 'read_file', description: 'Read a file', parameters: { type: 'object', properties: { path: { type: 'string' } } } }],
	}, { onToolUse: p => uses.push(p), onToolResult: p => results.push(p) });
	assert.equal(calls.length, 1);
	assert.equal(calls[0].name, 'read_file');
	assert.deepEqual(calls[0].arguments, { path: 'main.go' });
	assert.equal(calls[0].sessionId, 'tc');
	assert.equal(calls[0].toolUseId, uses[0].toolUseId);
	assert.equal(calls[0].queryId, uses[0].queryId);
	assert.equal(results.length, 1);
	assert.equal(results[0].summary, 'read_file: package main');
	assert.equal(results[0].isError, false);
	assert.equal(r.text, 'Read it.');

	// An error from the handler reaches the agent as a failed tool.
	t.onToolCall = () => { throw new Error('disk on fire'); };
	const failed: ToolResultParams[] = [];
	await t.query({ sessionId: 'tc', prompt: '/calltool read_file {"path":"x"}' }, { onToolResult: p => failed.push(p) });
	assert.equal(failed[0].isError, true);
	assert.match(failed[0].summary, /disk on fire/);
	await stop(t);
});

test('two sessions at once: one waits for a permission while the other completes', { timeout }, async () => {
	const asked = deferred<PermissionRequestParams>();
	const answer = deferred<PermissionDecision>();
	const t = await start({
		onPermission: req => { asked.resolve(req); return answer.promise; },
	});
	const a = t.query({ sessionId: 'A', prompt: '/tool Bash {"command":"make"}\nA done' });
	const req = await asked.promise;
	assert.equal(req.sessionId, 'A');

	const b = await t.query({ sessionId: 'B', prompt: 'B done' });
	assert.equal(b.text, 'B done');
	assert.equal(await state(a), 'pending', 'A still waits for its permission');
	const list = await t.list();
	assert.deepEqual(list.sessions.map(s => [s.sessionId, s.backend, s.status]),
		[['A', 'mock', 'waiting_permission'], ['B', 'mock', 'idle']]);

	answer.resolve({ decision: 'allow' });
	assert.equal((await a).text, 'A done');
	await stop(t);
});

test('list and cleanup', { timeout }, async () => {
	const closed = deferred<StatusParams>();
	const t = await start({ onStatus: p => { if (p.status === 'closed') { closed.resolve(p); } } });
	await t.query({ sessionId: 'one', prompt: 'a', cwd: process.cwd() });
	await t.query({ sessionId: 'one', prompt: 'b' });
	await t.query({ sessionId: 'two', prompt: 'c' });
	const before = await t.list();
	assert.deepEqual(before.sessions.map(s => [s.sessionId, s.turns, s.status]), [['one', 2, 'idle'], ['two', 1, 'idle']]);
	assert.equal(before.sessions[0].cwd, process.cwd());
	assert.ok(!Number.isNaN(Date.parse(before.sessions[0].createdAt)));

	assert.deepEqual(await t.cleanup('one'), { closed: true });
	const c = await closed.promise;
	assert.equal(c.sessionId, 'one');
	assert.equal(c.queryId, undefined);
	assert.deepEqual((await t.list()).sessions.map(s => s.sessionId), ['two']);
	assert.deepEqual(await t.cleanup('nobody'), { closed: false });
	await stop(t);
});

test('dispose: shutdown and exit, exit code 0, process gone, even with a query running', { timeout }, async () => {
	const t = await start();
	const running = deferred();
	const q = t.query({ sessionId: 'd', prompt: 'x\n/sleep 60000' }, { onToken: () => running.resolve() });
	await running.promise;
	const [code, again] = await Promise.all([t.dispose(), t.dispose()]);
	assert.equal(code, 0);
	assert.equal(again, 0);
	assert.equal(t.child.exitCode, 0);
	assert.deepEqual(await t.exited, { code: 0, signal: null });
	// The running query was answered (shutdown cancels it) before the exit.
	assert.equal((await q).stopReason, 'cancelled');
	await assert.rejects(t.query({ sessionId: 'd', prompt: 'late' }));
});

test('a process that dies closes the permission prompts still open', { timeout }, async () => {
	const asked = deferred<CancellationToken>();
	const t = await start({ onPermission: (_req, token) => { asked.resolve(token); return new Promise(() => {}); } });
	const q = t.query({ sessionId: 'k', prompt: '/tool Bash {"command":"make"}' });
	const token = await asked.promise;
	const closed = deferred();
	token.onCancellationRequested(() => closed.resolve());
	t.child.kill('SIGKILL');
	await closed.promise;
	await assert.rejects(q);
	assert.deepEqual(await t.exited, { code: null, signal: 'SIGKILL' });
	assert.equal(await t.dispose(), null);
});

test('start fails cleanly when the binary does not exist', { timeout }, async () => {
	await assert.rejects(Tether.start(path.join(path.dirname(bin), 'no-such-tether')), /ENOENT/);
});

// The docs' examples (compiled by vscode_e2e_test.go from editors/vscode/README.md
// and README.md), run as a reader would: `tether` found on the PATH.
const examples = (process.env.TETHER_README_EXAMPLES ?? '').split(path.delimiter).filter(Boolean);
test('the README examples are given', () => {
	assert.ok(examples.length > 0, 'set TETHER_README_EXAMPLES (vscode_e2e_test.go does)');
});
for (const example of examples) {
	test(`the README example runs as written: ${path.basename(example)}`, { timeout }, async () => {
		const child = spawn(process.execPath, [example], {
			env: { ...process.env, PATH: path.dirname(bin) + path.delimiter + process.env.PATH },
			stdio: ['ignore', 'pipe', 'pipe'],
		});
		let out = '';
		child.stdout.setEncoding('utf8').on('data', c => { out += c; });
		child.stderr.setEncoding('utf8').on('data', c => { out += c; });
		const code = await new Promise<number | null>(resolve => child.on('close', resolve));
		assert.equal(code, 0, out);
		assert.match(out, /hello brave world/);
		assert.match(out, /tether exited with 0/);
	});
}
