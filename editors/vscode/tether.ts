// Tether client for VS Code extensions (and any Node program), built on
// vscode-jsonrpc. Copy this file into your extension; it needs
// vscode-jsonrpc (10.x) and Node's child_process, nothing from `vscode`.
//
// The wire contract is protocol.md in the Tether repository; the types below
// mirror its field names exactly.

import { spawn, ChildProcess } from 'child_process';
import {
	CancellationToken,
	CancellationTokenSource,
	createMessageConnection,
	Message,
	MessageConnection,
	MessageWriter,
	ResponseError,
	StreamMessageReader,
	StreamMessageWriter,
} from 'vscode-jsonrpc/node';

export { CancellationToken, CancellationTokenSource, ResponseError };

// ---- Messages (protocol.md) ----

/** The JSON-RPC id of the session/query a notification belongs to. */
export type QueryId = number | string;

export interface ClientInfo { name: string; version?: string }
export interface InitializeParams { clientInfo?: ClientInfo; options?: unknown }
export interface ServerInfo { name: string; version: string }
export interface BackendInfo { name: string; available: boolean; detail: string }
export interface InitializeResult {
	serverInfo: ServerInfo;
	protocolVersion: string;
	backends: BackendInfo[];
	defaultBackend: string;
}

/** A tool the editor declares and runs itself (answered through tool/call). */
export interface Tool { name: string; description?: string; parameters?: unknown }

export interface QueryParams {
	sessionId: string;
	prompt: string;
	backend?: string;
	model?: string;
	cwd?: string;
	systemPrompt?: string;
	permissionMode?: string;
	maxTurns?: number;
	tools?: Tool[];
	appendSystemPrompt?: string;
	allowedTools?: string[];
	disallowedTools?: string[];
	resume?: string;
}

export interface Usage {
	inputTokens: number;
	outputTokens: number;
	cacheReadTokens?: number;
	cacheWriteTokens?: number;
}

export interface QueryResult {
	sessionId: string;
	/** end_turn, cancelled, max_turns, max_tokens, refusal, or a backend's own. */
	stopReason: string;
	text: string;
	usage: Usage;
	durationMs: number;
	costUsd?: number;
	numTurns?: number;
	backendSessionId?: string;
}

export interface SessionParams { sessionId: string }
export interface CancelResult { cancelled: number }
export interface CleanupResult { closed: boolean }

export type SessionStatus = 'starting' | 'busy' | 'waiting_permission' | 'idle' | 'failed' | 'closed';

export interface SessionInfo {
	sessionId: string;
	backend: string;
	model: string;
	cwd: string;
	status: SessionStatus;
	createdAt: string;
	turns: number;
}
export interface ListResult { sessions: SessionInfo[] }

export interface RespondParams {
	requestId: string;
	decision: 'allow' | 'deny';
	reason?: string;
	remember?: boolean;
}

/** What every session notification carries; queryId is absent only on the closed status. */
export interface Event { sessionId: string; queryId?: QueryId }
export interface TextParams extends Event { text: string }
export interface ToolUseParams extends Event { toolUseId: string; toolName: string; input: unknown }
export interface ToolResultParams extends Event { toolUseId: string; toolName: string; summary: string; isError: boolean }
export interface StatusParams extends Event { status: SessionStatus; detail?: string }
export interface PermissionRequestParams extends Event {
	requestId: string;
	toolName: string;
	toolInput: unknown;
	toolUseId: string;
	/** What answering with `remember: true` allows for the rest of the session, to show the user: "Bash(ls:*)" (see protocol.md's Rules). */
	alwaysRule: string;
	suggestions?: unknown;
}
export interface PermissionCancelledParams extends Event { requestId: string; reason: string }

export interface ToolCallParams {
	sessionId: string;
	queryId: QueryId;
	toolUseId: string;
	name: string;
	arguments: Record<string, unknown>;
}
export interface ToolCallResult { content: string; isError?: boolean }

/** Error codes of protocol.md's Errors section. */
export const TetherErrorCodes = {
	ParseError: -32700,
	InvalidRequest: -32600,
	MethodNotFound: -32601,
	InvalidParams: -32602,
	InternalError: -32603,
	RequestCancelled: -32800,
	SessionBusy: -32010,
	BackendUnavailable: -32011,
	BackendFailed: -32012,
	ShuttingDown: -32013,
	SessionClosed: -32014,
} as const;

// ---- The client ----

/** The streamed events of one query. Each is called before the query's promise settles. */
export interface QueryHandlers {
	onToken?(p: TextParams): void;
	onThinking?(p: TextParams): void;
	onToolUse?(p: ToolUseParams): void;
	onToolResult?(p: ToolResultParams): void;
	onStatus?(p: StatusParams): void;
	/** A permission request of this query was withdrawn (the handler's token is cancelled too). */
	onPermissionCancelled?(p: PermissionCancelledParams): void;
}

export type PermissionDecision = Omit<RespondParams, 'requestId'>;

/**
 * Decides a permission request. The token is cancelled when Tether withdraws
 * the request (close your prompt then; the answer is no longer sent).
 */
export type PermissionHandler = (req: PermissionRequestParams, token: CancellationToken) =>
	PermissionDecision | Promise<PermissionDecision>;

/** Runs a tool the editor declared. The token is cancelled when Tether no longer needs the answer. */
export type ToolHandler = (call: ToolCallParams, token: CancellationToken) =>
	ToolCallResult | Promise<ToolCallResult>;

export interface TetherOptions {
	/** Arguments for the tether binary, e.g. ['--backend', 'mock']. */
	args?: string[];
	cwd?: string;
	env?: NodeJS.ProcessEnv;
	clientInfo?: ClientInfo;
	/** None installed: every request is denied. */
	onPermission?: PermissionHandler;
	/** None installed: every tool/call is answered with an error. */
	onToolCall?: ToolHandler;
	/** Every session/status, including the closed status that belongs to no query. */
	onStatus?(p: StatusParams): void;
	/** Tether's logs (its stderr), chunk by chunk. Without it, stderr is discarded. */
	onStderr?(chunk: string): void;
}

/** Records the id vscode-jsonrpc gives each session/query, to route its notifications. */
class IdRecordingWriter implements MessageWriter {
	constructor(private inner: MessageWriter, private onRequest: (params: unknown, id: QueryId) => void) {}
	get onError() { return this.inner.onError; }
	get onClose() { return this.inner.onClose; }
	write(msg: Message): Promise<void> {
		if (Message.isRequest(msg) && msg.method === 'session/query' && msg.id !== null) {
			this.onRequest(msg.params, msg.id);
		}
		return this.inner.write(msg);
	}
	end(): void { this.inner.end(); }
	dispose(): void { this.inner.dispose(); }
}

export class Tether {
	readonly connection: MessageConnection;
	/** Tether's initialize result. */
	info!: InitializeResult;
	/** Settles when the process has exited and its pipes are closed. */
	readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
	onPermission?: PermissionHandler;
	onToolCall?: ToolHandler;

	private readonly routes = new WeakMap<object, { handlers: QueryHandlers; id?: QueryId }>();
	private readonly queries = new Map<QueryId, QueryHandlers>();
	private readonly permissions = new Map<string, CancellationTokenSource>();
	private disposing?: Promise<number | null>;

	/** Spawns Tether and initializes it. */
	static async start(command: string, options: TetherOptions = {}): Promise<Tether> {
		const t = new Tether(spawn(command, options.args ?? [], {
			cwd: options.cwd,
			env: options.env,
			stdio: ['pipe', 'pipe', options.onStderr ? 'pipe' : 'ignore'],
		}), options);
		try {
			const spawned = new Promise<void>((resolve, reject) => {
				t.child.once('spawn', resolve);
				t.child.once('error', reject);
			});
			await spawned;
			t.info = await Promise.race([
				t.connection.sendRequest<InitializeResult>('initialize', { clientInfo: options.clientInfo } satisfies InitializeParams),
				t.exited.then(e => { throw new Error(`tether exited during initialize (code ${e.code}, signal ${e.signal})`); }),
			]);
			return t;
		} catch (err) {
			t.child.kill();
			await t.exited;
			throw err;
		}
	}

	private constructor(readonly child: ChildProcess, options: TetherOptions) {
		this.onPermission = options.onPermission;
		this.onToolCall = options.onToolCall;
		child.on('error', () => { /* reported by start, or seen as the exit */ });
		if (options.onStderr) {
			child.stderr!.setEncoding('utf8').on('data', options.onStderr);
		}
		this.exited = new Promise(resolve => child.once('close', (code, signal) => {
			// Nobody is left to answer: close the prompts still open.
			this.permissions.forEach(cts => cts.cancel());
			this.permissions.clear();
			this.connection.dispose();
			resolve({ code, signal });
		}));

		const writer = new IdRecordingWriter(new StreamMessageWriter(child.stdin!), (params, id) => {
			const r = typeof params === 'object' && params !== null ? this.routes.get(params) : undefined;
			if (r) {
				r.id = id;
				this.queries.set(id, r.handlers);
			}
		});
		const conn = createMessageConnection(new StreamMessageReader(child.stdout!), writer);
		this.connection = conn;
		const route = (p: Event) => (p.queryId !== undefined ? this.queries.get(p.queryId) : undefined) ?? {};

		conn.onNotification('session/token', (p: TextParams) => route(p).onToken?.(p));
		conn.onNotification('session/thinking', (p: TextParams) => route(p).onThinking?.(p));
		conn.onNotification('session/toolUse', (p: ToolUseParams) => route(p).onToolUse?.(p));
		conn.onNotification('session/toolResult', (p: ToolResultParams) => route(p).onToolResult?.(p));
		conn.onNotification('session/status', (p: StatusParams) => {
			route(p).onStatus?.(p);
			options.onStatus?.(p);
		});
		conn.onNotification('permission/request', (p: PermissionRequestParams) => this.askPermission(p));
		conn.onNotification('permission/cancelled', (p: PermissionCancelledParams) => {
			this.permissions.get(p.requestId)?.cancel();
			this.permissions.delete(p.requestId);
			route(p).onPermissionCancelled?.(p);
		});
		conn.onRequest('tool/call', async (p: ToolCallParams, token: CancellationToken): Promise<ToolCallResult> => {
			if (!this.onToolCall) {
				throw new ResponseError(TetherErrorCodes.MethodNotFound, `no tool handler for ${p.name}`);
			}
			return this.onToolCall(p, token);
		});
		conn.listen();
	}

	private async askPermission(p: PermissionRequestParams): Promise<void> {
		const cts = new CancellationTokenSource();
		this.permissions.set(p.requestId, cts);
		let d: PermissionDecision;
		try {
			d = this.onPermission
				? await this.onPermission(p, cts.token)
				: { decision: 'deny', reason: 'no permission handler installed' };
		} catch (err) {
			d = { decision: 'deny', reason: `permission handler failed: ${err}` };
		}
		if (cts.token.isCancellationRequested) {
			return; // withdrawn: Tether told the agent "deny" already
		}
		this.permissions.delete(p.requestId);
		cts.dispose();
		const params: RespondParams = { requestId: p.requestId, ...d };
		try {
			await this.connection.sendRequest('permission/respond', params);
		} catch {
			// Withdrawn while the answer was on its way (-32602), or Tether is
			// gone: either way there is nobody left to tell.
		}
	}

	/**
	 * Runs one turn of a session (created by its first query). Resolves when the
	 * turn ends; rejects with a ResponseError (code -32800 when the token
	 * cancelled it, -32012 when the backend failed it, ...).
	 */
	async query(params: QueryParams, handlers: QueryHandlers = {}, token?: CancellationToken): Promise<QueryResult> {
		// vscode-jsonrpc does not tell the id it picks; the writer sees it go
		// out with these very params (sendRequest writes before it returns)
		// and files the handlers under it before any notification can come.
		const sent = { ...params };
		const route: { handlers: QueryHandlers; id?: QueryId } = { handlers };
		this.routes.set(sent, route);
		try {
			return await (token
				? this.connection.sendRequest<QueryResult>('session/query', sent, token)
				: this.connection.sendRequest<QueryResult>('session/query', sent));
		} finally {
			// Every notification of a query comes before its response.
			if (route.id !== undefined) {
				this.queries.delete(route.id);
			}
		}
	}

	/** Stops the session's running and queued queries (each resolves with stopReason "cancelled"). */
	cancel(sessionId: string): Promise<CancelResult> {
		return this.connection.sendRequest('session/cancel', { sessionId } satisfies SessionParams);
	}

	/** Ends a session and stops its backend. */
	cleanup(sessionId: string): Promise<CleanupResult> {
		return this.connection.sendRequest('session/cleanup', { sessionId } satisfies SessionParams);
	}

	list(): Promise<ListResult> {
		return this.connection.sendRequest('session/list');
	}

	/**
	 * shutdown, then exit, then waits for the process to end; resolves to its
	 * exit code (0 after a clean shutdown). Past timeoutMs it sends SIGTERM,
	 * then SIGKILL. Safe to call more than once.
	 */
	dispose(timeoutMs = 10_000): Promise<number | null> {
		this.disposing ??= (async () => {
			// true when f's promise settled (either way) within timeoutMs
			const within = (f: () => Promise<unknown>) => Promise.race([
				(async () => { try { await f(); } catch { /* closed already */ } return true; })(),
				new Promise<boolean>(resolve => setTimeout(resolve, timeoutMs, false).unref()),
			]);
			if (this.child.exitCode === null && this.child.signalCode === null) {
				if (await within(() => this.connection.sendRequest('shutdown'))) {
					await within(() => this.connection.sendNotification('exit'));
				}
				if (!await within(() => this.exited)) {
					this.child.kill('SIGTERM');
					if (!await within(() => this.exited)) {
						this.child.kill('SIGKILL');
					}
				}
			}
			return (await this.exited).code;
		})();
		return this.disposing;
	}
}
