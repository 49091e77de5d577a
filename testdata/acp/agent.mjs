#!/usr/bin/env node
// A scripted ACP v1 agent for Tether's tests, built on the agent side of the
// official SDK (@agentclientprotocol/sdk, pinned in testdeps/). It speaks
// NDJSON JSON-RPC on stdin/stdout, logs to stderr only, and does what a
// scenario file says.
//
//   node testdata/acp/agent.mjs [SCENARIO]
//
// SCENARIO (or $ACP_SCENARIO) is a JSON file, or the name of one in
// testdata/acp/scenarios/ ("permission" is scenarios/permission.json).
// Without one the agent answers every prompt with "echo: <prompt text>".
// README.md beside this file describes the scenario format.
//
// Environment:
//   ACP_SCENARIO      scenario, when not given as an argument
//   ACP_AGENT_RECORD  file to append every message the agent receives to,
//                     one JSON line each, in order (non-JSON lines are
//                     recorded as {"invalid": "<line>"})
//   ACP_AGENT_STATE   file the agent keeps its sessions in (ids, cwd, title,
//                     transcript), so a restarted agent can session/load or
//                     session/resume what an earlier process created
//   ACP_TESTDEPS      where testdeps/ is, if not ../../testdeps from here

import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { Readable, Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import { acp } from "./sdk.mjs";

const { methods, RequestError } = acp;
const here = dirname(fileURLToPath(import.meta.url));

function log(...parts) {
  process.stderr.write(`agent.mjs[${process.pid}]: ${parts.join(" ")}\n`);
}

// ---------------------------------------------------------------- scenario

function loadScenario(name) {
  if (!name) return {};
  let path = name;
  if (!existsSync(path)) {
    path = join(here, "scenarios", name.endsWith(".json") ? name : `${name}.json`);
  }
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    log(`cannot read scenario ${name}: ${err.message}`);
    process.exit(2);
  }
}

const scenarioName = process.argv[2] || process.env.ACP_SCENARIO || "";
const scenario = loadScenario(scenarioName);
log(`scenario ${scenarioName ? basename(scenarioName) : "(none: echo)"}`);

const initConf = scenario.initialize ?? {};
const sessionConf = scenario.session ?? {};

const agentCapabilities = initConf.agentCapabilities ?? {
  loadSession: true,
  promptCapabilities: { image: true, audio: false, embeddedContext: true },
  mcpCapabilities: { http: false, sse: false },
  sessionCapabilities: { list: {}, close: {}, resume: {} },
};
const sessionCaps = agentCapabilities.sessionCapabilities ?? {};

const defaultConfigOptions = [
  {
    id: "model",
    name: "Model",
    category: "model",
    type: "select",
    currentValue: "fake-small",
    options: [
      { value: "fake-small", name: "Fake Small" },
      { value: "fake-large", name: "Fake Large" },
    ],
  },
  {
    id: "mode",
    name: "Mode",
    category: "mode",
    type: "select",
    currentValue: "default",
    options: [
      { value: "default", name: "Default" },
      { value: "acceptEdits", name: "Accept Edits" },
      { value: "plan", name: "Plan" },
    ],
  },
];
const defaultModes = {
  currentModeId: "default",
  availableModes: [
    { id: "default", name: "Default" },
    { id: "acceptEdits", name: "Accept Edits" },
    { id: "plan", name: "Plan" },
  ],
};
const defaultPermissionOptions = [
  { optionId: "allow_once", name: "Allow", kind: "allow_once" },
  { optionId: "allow_always", name: "Always Allow", kind: "allow_always" },
  { optionId: "reject_once", name: "Reject", kind: "reject_once" },
  { optionId: "reject_always", name: "Always Reject", kind: "reject_always" },
];

const clone = (v) => (v === undefined ? undefined : structuredClone(v));

// ---------------------------------------------------------------- sessions

/**
 * Every session the agent knows: those the scenario lists as stored, those
 * in $ACP_AGENT_STATE, and those created by session/new. Only active ones
 * (created, loaded or resumed on this connection, not closed) take prompts.
 */
const sessions = new Map();
const statePath = process.env.ACP_AGENT_STATE;

function makeSession(fields) {
  return {
    sessionId: fields.sessionId,
    cwd: fields.cwd ?? "/",
    title: fields.title,
    updatedAt: fields.updatedAt,
    replay: fields.replay ?? [],
    // A scenario turns config options or modes off with null.
    configOptions: clone(fields.configOptions ?? ("configOptions" in sessionConf ? sessionConf.configOptions : defaultConfigOptions)),
    modes: clone(fields.modes ?? ("modes" in sessionConf ? sessionConf.modes : defaultModes)),
    active: false,
    queue: Promise.resolve(), // prompts of one session run one after another
    cancelEpoch: 0, // bumped by session/cancel: queued prompts of an older epoch end cancelled
    turn: null, // the running turn
  };
}

for (const stored of scenario.sessions ?? []) sessions.set(stored.sessionId, makeSession(stored));
if (statePath && existsSync(statePath)) {
  for (const stored of JSON.parse(readFileSync(statePath, "utf8")).sessions ?? []) {
    sessions.set(stored.sessionId, makeSession(stored));
  }
}

function saveState() {
  if (!statePath) return;
  const out = [...sessions.values()].map((s) => ({
    sessionId: s.sessionId,
    cwd: s.cwd,
    title: s.title,
    updatedAt: s.updatedAt,
    replay: s.replay,
  }));
  writeFileSync(statePath, JSON.stringify({ sessions: out }) + "\n");
}

let sessionCounter = 0;
const idQueue = [...(sessionConf.ids ?? [])];
function nextSessionId() {
  if (idQueue.length > 0) return idQueue.shift();
  for (;;) {
    const id = `sess-${++sessionCounter}`;
    if (!sessions.has(id)) return id;
  }
}

function activeSession(sessionId) {
  const s = sessions.get(sessionId);
  if (!s || !s.active) throw RequestError.sessionNotFound(sessionId);
  return s;
}

function knownSession(sessionId) {
  const s = sessions.get(sessionId);
  if (!s) throw RequestError.sessionNotFound(sessionId);
  return s;
}

function requireCapability(ok, method) {
  if (!ok) throw RequestError.methodNotFound(method);
}

function requireAbsolute(cwd) {
  if (typeof cwd !== "string" || !isAbsolute(cwd)) {
    throw RequestError.invalidParams({ cwd }, "cwd must be an absolute path");
  }
}

function sessionState(s) {
  const out = {};
  if (s.configOptions) out.configOptions = s.configOptions;
  if (s.modes) out.modes = s.modes;
  return out;
}

// ---------------------------------------------------------------- turns

const turnScripts = (scenario.turns ?? []).map((t) => ({ ...t, used: false }));

/** The first unused turn whose match (if any) occurs in the prompt text. */
function pickTurn(text) {
  for (const t of turnScripts) {
    if (t.used && !t.repeat) continue;
    if (t.match !== undefined && !text.includes(t.match)) continue;
    t.used = true;
    return t;
  }
  return { actions: [{ chunk: "echo: {prompt}" }] };
}

function promptText(blocks) {
  return blocks
    .filter((b) => b.type === "text")
    .map((b) => b.text)
    .join("\n");
}

class Turn {
  constructor(session, text, signal) {
    this.session = session;
    this.text = text;
    this.cancelled = false;
    this.cancelHooks = new Set();
    this.onAbort = () => this.cancel("$/cancel_request");
    this.signal = signal;
    signal.addEventListener("abort", this.onAbort);
  }
  cancel(why) {
    if (this.cancelled) return;
    this.cancelled = true;
    log(`session ${this.session.sessionId}: turn cancelled (${why})`);
    for (const hook of this.cancelHooks) hook();
  }
  /** Resolves when the turn is cancelled. */
  whenCancelled() {
    if (this.cancelled) return Promise.resolve();
    return new Promise((res) => this.cancelHooks.add(res));
  }
  done() {
    this.signal.removeEventListener("abort", this.onAbort);
  }
}

function subst(text, turn, i) {
  return String(text)
    .replaceAll("{prompt}", turn.text)
    .replaceAll("{session}", turn.session.sessionId)
    .replaceAll("{i}", String(i ?? ""));
}

async function sendUpdate(client, turn, update) {
  await client.notify(methods.client.session.update, {
    sessionId: turn.session.sessionId,
    update,
  });
  const kind = update.sessionUpdate;
  if (kind === "agent_message_chunk" || kind === "agent_thought_chunk" || kind === "user_message_chunk") {
    turn.session.replay.push(update);
  }
  if (kind === "session_info_update" && update.title !== undefined) {
    turn.session.title = update.title;
  }
}

const textChunk = (kind, text) => ({ sessionUpdate: kind, content: { type: "text", text } });

/** Thrown by the stop action to end the turn with its stop reason. */
class StopTurn {
  constructor(stopReason) {
    this.stopReason = stopReason;
  }
}

/**
 * Runs a list of actions in order. Between actions it checks for
 * cancellation (unless ignoreCancel, as for the onCancel actions) and
 * returns "cancelled" when the turn was cancelled.
 */
async function runActions(actions, turn, client, ignoreCancel = false) {
  for (const action of actions ?? []) {
    if (turn.cancelled && !ignoreCancel) return "cancelled";
    await runAction(action, turn, client);
  }
  return turn.cancelled && !ignoreCancel ? "cancelled" : undefined;
}

async function runAction(action, turn, client) {
  const [name] = Object.keys(action);
  const arg = action[name];
  switch (name) {
    case "chunk":
      return sendUpdate(client, turn, textChunk("agent_message_chunk", subst(arg, turn)));
    case "chunks":
      for (const c of arg) await sendUpdate(client, turn, textChunk("agent_message_chunk", subst(c, turn)));
      return;
    case "thought":
      return sendUpdate(client, turn, textChunk("agent_thought_chunk", subst(arg, turn)));
    case "flood": {
      // {count, text, kind}: count chunks as fast as the transport takes them.
      const kind = arg.kind ?? "agent_message_chunk";
      const text = arg.text ?? "x";
      for (let i = 0; i < arg.count; i++) {
        if (turn.cancelled) return;
        await client.notify(methods.client.session.update, {
          sessionId: turn.session.sessionId,
          update: textChunk(kind, subst(text, turn, i)),
        });
      }
      return;
    }
    case "update":
      return sendUpdate(client, turn, arg);
    case "updates":
      for (const u of arg) await sendUpdate(client, turn, u);
      return;
    case "permission":
      return askPermission(arg, turn, client);
    case "writeFile": {
      const path = isAbsolute(arg.path) ? arg.path : join(turn.session.cwd, arg.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, subst(arg.content ?? "", turn));
      log(`wrote ${path}`);
      return;
    }
    case "hold":
      // Waits for session/cancel (or $/cancel_request of the prompt).
      await turn.whenCancelled();
      return;
    case "stop":
      throw new StopTurn(arg);
    case "error":
      throw new RequestError(arg.code ?? -32603, arg.message ?? "scripted error", arg.data);
    case "garbage":
      // Raw bytes on stdout, not JSON-RPC: the transport fault.
      process.stdout.write(arg.endsWith("\n") ? arg : `${arg}\n`);
      return;
    case "exit":
      log(`exiting mid-turn with code ${arg}`);
      process.exit(arg);
      return;
    case "log":
      log(subst(arg, turn));
      return;
    default:
      throw RequestError.internalError({ action }, `unknown scenario action ${name}`);
  }
}

/**
 * Sends session/request_permission and acts on the answer: reports the
 * outcome in a message chunk ("permission: allow_once"), then runs the
 * allow, reject or cancelled actions. On session/cancel it sends
 * $/cancel_request for the pending request and waits for the client's
 * answer, as ACP's cancellation section describes.
 */
async function askPermission(arg, turn, client) {
  const options = arg.options ?? defaultPermissionOptions;
  const abort = new AbortController();
  const hook = () => {
    if (arg.cancelRequestOnCancel !== false) abort.abort();
  };
  turn.cancelHooks.add(hook);
  if (turn.cancelled) hook();
  let outcome;
  try {
    const answer = await client.request(
      methods.client.session.requestPermission,
      {
        sessionId: turn.session.sessionId,
        toolCall: arg.toolCall ?? { toolCallId: "call_1", title: "Scripted tool", kind: "other", status: "pending" },
        options,
      },
      { cancellationSignal: abort.signal },
    );
    outcome = answer.outcome;
  } catch (err) {
    if (err instanceof RequestError && err.code === -32800) {
      outcome = { outcome: "cancelled" };
    } else {
      throw err;
    }
  } finally {
    turn.cancelHooks.delete(hook);
  }
  let chosen = "cancelled";
  let branch = "cancelled";
  if (outcome.outcome === "selected") {
    chosen = outcome.optionId;
    const option = options.find((o) => o.optionId === outcome.optionId);
    if (!option) throw RequestError.invalidParams({ optionId: outcome.optionId }, "the client chose an option it was not offered");
    branch = option.kind.startsWith("allow") ? "allow" : "reject";
  }
  log(`session ${turn.session.sessionId}: permission answered ${chosen}`);
  if (arg.report !== false) {
    await sendUpdate(client, turn, textChunk("agent_message_chunk", `permission: ${chosen}`));
  }
  await runActions(arg[branch], turn, client, true);
}

async function runTurn(s, params, signal, client, epoch) {
  const text = promptText(params.prompt);
  const turn = new Turn(s, text, signal);
  s.turn = turn;
  if (epoch !== s.cancelEpoch) turn.cancel("session/cancel while queued");
  for (const block of params.prompt) {
    if (block.type === "text") s.replay.push(textChunk("user_message_chunk", block.text));
  }
  const script = pickTurn(text);
  let stopReason = script.stopReason ?? "end_turn";
  try {
    const result = await runActions(script.actions, turn, client);
    if (result === "cancelled") {
      await runActions(script.onCancel, turn, client, true);
      stopReason = "cancelled";
    }
  } catch (err) {
    if (!(err instanceof StopTurn)) throw err;
    stopReason = err.stopReason;
  } finally {
    turn.done();
    s.turn = null;
    s.updatedAt = new Date().toISOString();
    saveState();
  }
  const response = { stopReason };
  if (script.usage) response.usage = script.usage;
  return response;
}

// ---------------------------------------------------------------- the agent

const app = acp
  .agent({ name: "acp-scripted-agent" })
  .onRequest(methods.agent.initialize, async ({ params }) => {
    log(`initialize: client protocol version ${params.protocolVersion}`);
    if (initConf.hang) {
      log("scenario: never answering initialize");
      return new Promise(() => {});
    }
    if (initConf.error) throw new RequestError(initConf.error.code, initConf.error.message, initConf.error.data);
    return {
      protocolVersion: initConf.protocolVersion ?? 1,
      agentCapabilities,
      authMethods: initConf.authMethods ?? [
        { id: "none", name: "No login", description: "The scripted agent needs no login" },
      ],
      agentInfo: initConf.agentInfo ?? { name: "acp-scripted-agent", title: "Scripted ACP agent", version: "1.0.0" },
    };
  })
  .onRequest(methods.agent.authenticate, async ({ params }) => {
    log(`authenticate ${params.methodId}`);
    return {};
  })
  .onRequest(methods.agent.session.new, async ({ params, client }) => {
    requireAbsolute(params.cwd);
    if (sessionConf.error) {
      throw new RequestError(sessionConf.error.code, sessionConf.error.message, sessionConf.error.data);
    }
    const s = makeSession({ sessionId: nextSessionId(), cwd: params.cwd });
    s.active = true;
    s.updatedAt = new Date().toISOString();
    sessions.set(s.sessionId, s);
    saveState();
    log(`session/new ${s.sessionId} in ${params.cwd}`);
    const after = sessionConf.afterNew ?? [];
    if (after.length > 0) {
      // After the answer, as claude-agent-acp sends available_commands_update.
      setImmediate(async () => {
        for (const update of after) {
          await client.notify(methods.client.session.update, { sessionId: s.sessionId, update }).catch(() => {});
        }
      });
    }
    return { sessionId: s.sessionId, ...sessionState(s) };
  })
  .onRequest(methods.agent.session.load, async ({ params, client }) => {
    requireCapability(agentCapabilities.loadSession, methods.agent.session.load);
    requireAbsolute(params.cwd);
    const s = knownSession(params.sessionId);
    log(`session/load ${s.sessionId}: replaying ${s.replay.length} updates`);
    for (const update of s.replay) {
      await client.notify(methods.client.session.update, { sessionId: s.sessionId, update });
    }
    s.active = true;
    s.cwd = params.cwd;
    return sessionState(s);
  })
  .onRequest(methods.agent.session.resume, async ({ params }) => {
    requireCapability(sessionCaps.resume, methods.agent.session.resume);
    requireAbsolute(params.cwd);
    const s = knownSession(params.sessionId);
    log(`session/resume ${s.sessionId}`);
    s.active = true;
    s.cwd = params.cwd;
    return sessionState(s);
  })
  .onRequest(methods.agent.session.list, async ({ params }) => {
    requireCapability(sessionCaps.list, methods.agent.session.list);
    let all = [...sessions.values()].filter((s) => !params.cwd || s.cwd === params.cwd);
    const start = params.cursor ? Number(params.cursor) : 0;
    const size = sessionConf.listPageSize ?? all.length;
    const page = all.slice(start, start + size).map((s) => ({
      sessionId: s.sessionId,
      cwd: s.cwd,
      ...(s.title !== undefined && { title: s.title }),
      ...(s.updatedAt !== undefined && { updatedAt: s.updatedAt }),
    }));
    const response = { sessions: page };
    if (start + size < all.length) response.nextCursor = String(start + size);
    return response;
  })
  .onRequest(methods.agent.session.close, async ({ params }) => {
    requireCapability(sessionCaps.close, methods.agent.session.close);
    const s = activeSession(params.sessionId);
    log(`session/close ${s.sessionId}`);
    s.cancelEpoch++;
    s.turn?.cancel("session/close");
    s.active = false;
    return {};
  })
  .onRequest(methods.agent.session.setConfigOption, async ({ params }) => {
    const s = activeSession(params.sessionId);
    const option = (s.configOptions ?? []).find((o) => o.id === params.configId);
    if (!option) throw RequestError.invalidParams({ configId: params.configId }, "unknown config option");
    if (option.type === "boolean") {
      if (typeof params.value !== "boolean") throw RequestError.invalidParams({ value: params.value }, "expected a boolean");
    } else {
      const values = option.options.flatMap((o) => (o.options ? o.options : [o])).map((o) => o.value);
      if (!values.includes(params.value)) {
        throw RequestError.invalidParams({ value: params.value, allowed: values }, "no such value");
      }
      if (option.category === "mode" && s.modes) s.modes.currentModeId = params.value;
    }
    option.currentValue = params.value;
    log(`session ${s.sessionId}: ${params.configId} = ${params.value}`);
    return { configOptions: s.configOptions };
  })
  .onRequest(methods.agent.session.setMode, async ({ params }) => {
    const s = activeSession(params.sessionId);
    if (!s.modes || !s.modes.availableModes.some((m) => m.id === params.modeId)) {
      throw RequestError.invalidParams({ modeId: params.modeId }, "no such mode");
    }
    s.modes.currentModeId = params.modeId;
    const modeOption = (s.configOptions ?? []).find((o) => o.category === "mode");
    if (modeOption) modeOption.currentValue = params.modeId;
    log(`session ${s.sessionId}: mode = ${params.modeId}`);
    return {};
  })
  .onRequest(methods.agent.session.prompt, async ({ params, signal, client }) => {
    const s = activeSession(params.sessionId);
    const epoch = s.cancelEpoch;
    const run = s.queue.then(() => runTurn(s, params, signal, client, epoch));
    s.queue = run.catch(() => {});
    return run;
  })
  .onNotification(methods.agent.session.cancel, async ({ params }) => {
    const s = sessions.get(params.sessionId);
    if (!s) {
      log(`session/cancel for unknown session ${params.sessionId}`);
      return;
    }
    s.cancelEpoch++;
    s.turn?.cancel("session/cancel");
  });

// ---------------------------------------------------------------- transport

/** Passes stdin through, recording each line to $ACP_AGENT_RECORD. */
function recordingTap(path) {
  let pending = "";
  const decoder = new TextDecoder();
  const record = (line) => {
    if (!line.trim()) return;
    let entry;
    try {
      entry = JSON.stringify(JSON.parse(line));
    } catch {
      entry = JSON.stringify({ invalid: line });
    }
    appendFileSync(path, entry + "\n");
  };
  return new TransformStream({
    transform(chunk, controller) {
      pending += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        record(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      controller.enqueue(chunk);
    },
    flush() {
      record(pending);
    },
  });
}

const startup = scenario.startup ?? {};
for (const line of startup.stderr ?? []) process.stderr.write(line + "\n");
for (const line of startup.stdout ?? []) process.stdout.write(line + "\n");
if (startup.exit !== undefined) {
  log(`scenario: exiting at startup with code ${startup.exit}`);
  process.exit(startup.exit);
}

let input = Readable.toWeb(process.stdin);
if (process.env.ACP_AGENT_RECORD) {
  const path = resolve(process.env.ACP_AGENT_RECORD);
  writeFileSync(path, "", { flag: "a" });
  input = input.pipeThrough(recordingTap(path));
}
const connection = app.connect(acp.ndJsonStream(Writable.toWeb(process.stdout), input));
connection.closed.then(() => {
  log("connection closed; exiting");
  process.exit(0);
});
