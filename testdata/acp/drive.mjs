#!/usr/bin/env node
// An ACP v1 client for Tether's tests, built on the client side of the
// official SDK (@agentclientprotocol/sdk 2.x: client(...).connect, with
// ndJsonStream over the agent's stdio). It spawns an agent command, runs a
// list of steps from a JSON file against it, and prints one JSON line per
// event on stdout: every message it sent, every response, notification and
// request from the agent, what it answered, and what went wrong, so a Go
// test can assert on them.
//
//   node testdata/acp/drive.mjs [--cwd DIR] [--timeout-ms N] [--strict] STEPS.json -- AGENT_CMD [ARG...]
//
// Every message from the agent is checked against the SDK's schemas for
// ACP v1; a line that is not JSON, a message that fails its schema, an
// error the SDK logs, or an agent still running 10 s after its stdin closed
// is a protocol error. With --strict, so is a field the SDK's lenient
// schemas drop (reported as a "dropped" event otherwise). Exit status: 0 when every step passed and no
// protocol error was seen, 1 otherwise, 2 for bad usage. The agent's stderr
// passes through to ours. At the end the driver closes the agent's stdin
// and waits for it to exit (SIGTERM, then SIGKILL, if it does not).
// README.md beside this file documents the steps and the events.

import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import { format } from "node:util";
import { acp, schemas } from "./sdk.mjs";

const { methods } = acp;
const started = performance.now();

// ---------------------------------------------------------------- arguments

function usage(msg) {
  process.stderr.write(`drive.mjs: ${msg}\nusage: drive.mjs [--cwd DIR] [--timeout-ms N] [--strict] STEPS.json -- AGENT_CMD [ARG...]\n`);
  process.exit(2);
}

const argv = process.argv.slice(2);
let defaultCwd = process.cwd();
let timeoutMs;
let strict = false;
let stepsPath;
while (argv.length > 0) {
  const a = argv.shift();
  if (a === "--cwd") defaultCwd = resolve(argv.shift() ?? usage("--cwd needs a directory"));
  else if (a === "--timeout-ms") timeoutMs = Number(argv.shift());
  else if (a === "--strict") strict = true;
  else if (a === "--") break;
  else if (!stepsPath) stepsPath = a;
  else {
    argv.unshift(a);
    break;
  }
}
if (!stepsPath) usage("no steps file");
if (argv.length === 0) usage("no agent command");

let plan;
try {
  plan = JSON.parse(readFileSync(stepsPath, "utf8"));
} catch (err) {
  usage(`cannot read ${stepsPath}: ${err.message}`);
}
if (Array.isArray(plan)) plan = { steps: plan };
timeoutMs ??= plan.timeoutMs ?? 30000;
strict ||= plan.strict === true;
// Paths (as "dropped" events name them, e.g. "usage" of a prompt's result)
// that strict mode lets through.
const allowDropped = new Set(plan.allowDropped ?? []);
const exitTimeoutMs = plan.exitTimeoutMs ?? 10000;

// ---------------------------------------------------------------- events

function emit(event) {
  const t = Math.round((performance.now() - started) * 1000) / 1000;
  process.stdout.write(JSON.stringify({ ...event, t }) + "\n");
}

const failures = [];
function fail(what, detail = {}) {
  failures.push(what);
  emit({ event: "failure", what, ...detail });
}

// The SDK reports what it cannot handle (a session/update that fails its
// schema, a response to an unknown id) with console.error; make each of
// those an event and a failure.
console.error = (...args) => fail("sdk_error", { message: format(...args) });

// ---------------------------------------------------------------- checking

const responseSchemas = {
  initialize: schemas.zInitializeResponse,
  authenticate: schemas.zAuthenticateResponse,
  logout: schemas.zLogoutResponse,
  "session/new": schemas.zNewSessionResponse,
  "session/load": schemas.zLoadSessionResponse,
  "session/resume": schemas.zResumeSessionResponse,
  "session/list": schemas.zListSessionsResponse,
  "session/close": schemas.zCloseSessionResponse,
  "session/delete": schemas.zDeleteSessionResponse,
  "session/set_mode": schemas.zSetSessionModeResponse,
  "session/set_config_option": schemas.zSetSessionConfigOptionResponse,
  "session/prompt": schemas.zPromptResponse,
};
// Responses ACP lets an agent send as null.
const nullableResults = new Set([
  "authenticate", "logout", "session/load", "session/close", "session/delete", "session/set_mode",
]);
const incomingSchemas = {
  "session/update": schemas.zSessionNotification,
  "session/request_permission": schemas.zRequestPermissionRequest,
  "fs/read_text_file": schemas.zReadTextFileRequest,
  "fs/write_text_file": schemas.zWriteTextFileRequest,
  "terminal/create": schemas.zCreateTerminalRequest,
  "terminal/output": schemas.zTerminalOutputRequest,
  "terminal/release": schemas.zReleaseTerminalRequest,
  "terminal/wait_for_exit": schemas.zWaitForTerminalExitRequest,
  "terminal/kill": schemas.zKillTerminalRequest,
  "elicitation/create": schemas.zCreateElicitationRequest,
  "elicitation/complete": schemas.zCompleteElicitationNotification,
  "$/cancel_request": schemas.zCancelRequestNotification,
};

function check(schema, value, what) {
  if (!schema) return;
  const r = schema.safeParse(value);
  if (!r.success) {
    fail("invalid", { message: what, issues: r.error.issues.map((i) => ({ path: i.path, message: i.message })) });
    return;
  }
  // The SDK's schemas are lenient: a malformed optional field (say
  // sessionCapabilities.list: true instead of {}, or an unknown tool kind)
  // is silently dropped, and so are fields the stable schema does not
  // know. Report what did not survive the parse; with strict, fail on it.
  const paths = droppedPaths(value, r.data).filter((p) => !allowDropped.has(p));
  if (paths.length > 0) {
    if (strict) fail("dropped", { message: what, paths });
    else emit({ event: "dropped", message: what, paths });
  }
}

/** Paths of values in raw that parsed (the schema's output) lacks or changed. */
function droppedPaths(raw, parsed, path = []) {
  const here = path.join(".") || "(root)";
  if (raw === null || raw === undefined) return [];
  if (Array.isArray(raw)) {
    if (!Array.isArray(parsed) || parsed.length !== raw.length) return [here];
    return raw.flatMap((v, i) => droppedPaths(v, parsed[i], [...path, i]));
  }
  if (typeof raw === "object") {
    if (parsed === null || typeof parsed !== "object") return [here];
    return Object.entries(raw).flatMap(([k, v]) => {
      if (v === null || v === undefined) return [];
      if (parsed[k] === undefined) return [[...path, k].join(".")];
      return k === "_meta" ? [] : droppedPaths(v, parsed[k], [...path, k]);
    });
  }
  return Object.is(raw, parsed) ? [] : [here];
}

function checkResponse(method, msg) {
  if ("error" in msg) {
    const e = msg.error;
    if (!e || !Number.isInteger(e.code) || typeof e.message !== "string") {
      fail("invalid", { message: `error response to ${method} is not a JSON-RPC error object` });
    }
    return;
  }
  if (msg.result === null && nullableResults.has(method)) return;
  check(responseSchemas[method], msg.result, `result of ${method}`);
}

// ---------------------------------------------------------------- wire taps

const sentRequests = new Map(); // our request id -> method
const unsentRefs = []; // requests made by steps, in order, until their id is seen on the wire
const receivedRequests = new Map(); // agent's request id -> method
const updateLog = []; // every session/update params, in order
const waiters = new Set(); // {test, resolve}
let permissionRequests = 0;

function wake() {
  for (const w of [...waiters]) {
    if (w.test()) {
      waiters.delete(w);
      w.resolve();
    }
  }
}

function onAgentLine(line) {
  if (!line.trim()) return;
  let msg;
  try {
    msg = JSON.parse(line);
  } catch {
    fail("bad_line", { line });
    return;
  }
  if (typeof msg !== "object" || msg === null || Array.isArray(msg) || msg.jsonrpc !== "2.0") {
    fail("invalid", { message: "not a JSON-RPC 2.0 message", line });
    return;
  }
  if (typeof msg.method === "string" && "id" in msg) {
    receivedRequests.set(msg.id, msg.method);
    emit({ event: "request", id: msg.id, method: msg.method, params: msg.params });
    check(incomingSchemas[msg.method], msg.params, `params of ${msg.method}`);
    if (msg.method === "session/request_permission") permissionRequests++;
  } else if (typeof msg.method === "string") {
    emit({ event: "notification", method: msg.method, params: msg.params });
    check(incomingSchemas[msg.method], msg.params, `params of ${msg.method}`);
    if (msg.method === "session/update") updateLog.push(msg.params);
  } else {
    const method = sentRequests.get(msg.id);
    const event = { event: "response", id: msg.id, method };
    if ("error" in msg) event.error = msg.error;
    else event.result = msg.result;
    emit(event);
    if (method === undefined) fail("invalid", { message: `response to an id we never sent: ${JSON.stringify(msg.id)}` });
    else checkResponse(method, msg);
  }
  wake();
}

function onOurLine(line) {
  if (!line.trim()) return;
  const msg = JSON.parse(line);
  if (typeof msg.method === "string" && "id" in msg) {
    sentRequests.set(msg.id, msg.method);
    // The SDK writes requests in the order they are made.
    const ref = unsentRefs.shift();
    if (ref) ref.id = msg.id;
    emit({ event: "send", id: msg.id, method: msg.method, params: msg.params });
    wake();
  } else if (typeof msg.method === "string") {
    emit({ event: "send", method: msg.method, params: msg.params });
  } else {
    const event = { event: "answer", id: msg.id, method: receivedRequests.get(msg.id) };
    if ("error" in msg) event.error = msg.error;
    else event.result = msg.result;
    emit(event);
  }
}

/** Splits a byte stream into lines for fn, passing the bytes on unchanged. */
function lineTap(fn) {
  let pending = "";
  const decoder = new TextDecoder();
  return new TransformStream({
    transform(chunk, controller) {
      pending += decoder.decode(chunk, { stream: true });
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        fn(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
      }
      controller.enqueue(chunk);
    },
    flush() {
      fn(pending);
    },
  });
}

// ---------------------------------------------------------------- the agent

const [command, ...commandArgs] = argv;
const child = spawn(command, commandArgs, { stdio: ["pipe", "pipe", "inherit"] });
let exited = false;
const exitPromise = new Promise((res) => {
  child.on("exit", (code, signal) => {
    exited = true;
    emit({ event: "exit", code, signal });
    res();
    wake();
  });
});
child.on("error", (err) => {
  fail("spawn", { message: err.message });
});
child.stdin.on("error", (err) => emit({ event: "stdin_error", message: err.message }));

const toAgent = lineTap(onOurLine);
let lastWrite = Promise.resolve();
void toAgent.readable.pipeTo(
  new WritableStream({
    write(chunk) {
      lastWrite = new Promise((res, rej) => child.stdin.write(chunk, (err) => (err ? rej(err) : res())));
      return lastWrite;
    },
  }),
).catch(() => {});
const fromAgent = Readable.toWeb(child.stdout).pipeThrough(lineTap(onAgentLine));

// ---------------------------------------------------------------- permissions

const permissionAnswers = [...(plan.permissions ?? [])];
const held = new Set(); // {sessionId, resolve}
const manual = []; // {params, resolve}, in the order the requests came

/** The answer to a permission request with params that picks answer: an option kind, or {optionId}. */
function selectOption(answer, params) {
  const want = typeof answer === "string" ? answer : answer.optionId;
  const option =
    (typeof answer === "string" && params.options.find((o) => o.kind === want)) ||
    params.options.find((o) => o.optionId === want);
  if (!option) {
    fail("permission", { message: `no option ${want} among ${params.options.map((o) => o.optionId).join(", ")}` });
    return { outcome: { outcome: "cancelled" } };
  }
  return { outcome: { outcome: "selected", optionId: option.optionId } };
}

/** Answers session/request_permission with the next entry of plan.permissions. */
async function answerPermission({ params, signal }) {
  const answer = permissionAnswers.length > 0 ? permissionAnswers.shift() : (plan.permissionDefault ?? "cancelled");
  const cancelled = { outcome: { outcome: "cancelled" } };
  if (answer === "cancelled") return cancelled;
  if (answer === "hold" || answer === "wait_withdraw") {
    // "hold": answered "cancelled" by a cancel step for this session, or
    // when the agent sends $/cancel_request for it. "wait_withdraw": only
    // the agent's $/cancel_request answers it.
    return new Promise((res) => {
      const h = { sessionId: params.sessionId, resolve: () => res(cancelled) };
      if (answer === "hold") held.add(h);
      signal.addEventListener("abort", () => {
        held.delete(h);
        res(cancelled);
      });
    });
  }
  if (answer === "manual") {
    // Answered by an answer_permission step (or cancelled by the agent's
    // $/cancel_request), so steps can look at the world in between.
    return new Promise((res) => {
      const m = { params, resolve: res };
      manual.push(m);
      signal.addEventListener("abort", () => {
        const i = manual.indexOf(m);
        if (i >= 0) manual.splice(i, 1);
        res(cancelled);
      });
      wake();
    });
  }
  return selectOption(answer, params);
}

// ---------------------------------------------------------------- steps

const app = acp
  .client({ name: "tether-acp-drive" })
  .onNotification(methods.client.session.update, () => {})
  .onRequest(methods.client.session.requestPermission, answerPermission);
const connection = app.connect(acp.ndJsonStream(toAgent.writable, fromAgent));
const agent = connection.agent;

const named = new Map(); // "as" name -> {method, promise, result, error, settled}
let stepLabel = "";

function sessionIdOf(step) {
  if (step.sessionId) return step.sessionId;
  if (step.session) {
    const ref = named.get(step.session);
    if (!ref?.result?.sessionId && !ref?.params?.sessionId) throw new Error(`no session named ${step.session}`);
    return ref.result?.sessionId ?? ref.params.sessionId;
  }
  // The most recent session/new.
  for (const ref of [...named.values()].reverse()) {
    if (ref.method === "session/new" && ref.result?.sessionId) return ref.result.sessionId;
  }
  throw new Error("no session yet");
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

function waitFor(test, what, ms) {
  if (test()) return Promise.resolve();
  return withTimeout(
    new Promise((res) => waiters.add({ test, resolve: res })),
    ms,
    what,
  );
}

/** Whether actual has everything expected has (a recursive subset match). */
function matches(actual, expected) {
  if (expected === null || typeof expected !== "object") return actual === expected;
  if (actual === null || typeof actual !== "object") return false;
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && expected.length === actual.length && expected.every((e, i) => matches(actual[i], e));
  }
  return Object.entries(expected).every(([k, v]) => matches(actual[k], v));
}

/** The agent_message_chunk texts of a session among updateLog[from:to]. */
function chunksOf(sessionId, from, to) {
  return updateLog
    .slice(from, to)
    .filter((p) => p.sessionId === sessionId && p.update?.sessionUpdate === "agent_message_chunk" && p.update.content?.type === "text")
    .map((p) => p.update.content.text);
}

/** Sends a request; records it under step.as; awaits it unless wait is false. */
async function call(step, method, params) {
  const ref = { method, params, step, settled: false };
  const updatesBefore = updateLog.length;
  unsentRefs.push(ref);
  ref.promise = agent.request(method, params).then(
    (result) => {
      ref.result = result;
      ref.settled = true;
      ref.answered = true;
      ref.updates = [updatesBefore, updateLog.length];
    },
    (error) => {
      ref.error = error;
      ref.settled = true;
      // Otherwise the connection closed before an answer came.
      ref.answered = error instanceof acp.RequestError;
    },
  );
  named.set(step.as ?? `#${stepLabel}`, ref);
  if (step.wait === false) return;
  await settle(step, ref);
}

async function settle(step, ref) {
  await withTimeout(ref.promise, step.timeoutMs ?? timeoutMs, `the answer to ${ref.method}`);
  const expect = step.expect;
  if (ref.error) {
    const err = { code: ref.error.code, message: ref.error.message };
    if (expect === "error" || expect === "any") return;
    if (expect?.error && matches(err, expect.error)) return;
    throw new Error(`${ref.method} failed: ${JSON.stringify(err)}`);
  }
  if (expect === "error" || expect?.error) throw new Error(`${ref.method} succeeded, but an error was expected`);
  if (expect && expect !== "any" && !matches(ref.result, expect)) {
    throw new Error(`${ref.method} answered ${JSON.stringify(ref.result)}, expected ${JSON.stringify(expect)}`);
  }
  if (step.expectChunks !== undefined && ref.method === "session/prompt") {
    const got = chunksOf(ref.params.sessionId, ...ref.updates).length;
    if (got !== step.expectChunks) throw new Error(`the turn sent ${got} message chunks, expected ${step.expectChunks}`);
  }
  if (step.expectText !== undefined && ref.method === "session/prompt") {
    const got = chunksOf(ref.params.sessionId, ...ref.updates).join("");
    if (got !== step.expectText) {
      throw new Error(`the turn's message chunks say ${JSON.stringify(got.slice(0, 200))}, expected ${JSON.stringify(step.expectText.slice(0, 200))}`);
    }
  }
}

function promptBlocks(prompt) {
  if (typeof prompt === "string") return [{ type: "text", text: prompt }];
  return Array.isArray(prompt) ? prompt : [prompt];
}

async function endStdin() {
  // Requests a step made without waiting may still be on their way through
  // the SDK and the tap: let them reach the agent's stdin first.
  await waitFor(() => unsentRefs.length === 0 || exited, "our requests to be written", timeoutMs).catch(() => {});
  await new Promise((res) => setImmediate(res));
  await lastWrite.catch(() => {});
  if (!child.stdin.writableEnded) child.stdin.end();
  await Promise.race([exitPromise, new Promise((res) => setTimeout(res, exitTimeoutMs).unref())]);
  if (exited) return;
  fail("no_exit", { message: `the agent still runs ${exitTimeoutMs} ms after its stdin closed` });
  for (const [signal, ms] of [["SIGTERM", 3000], ["SIGKILL", 3000]]) {
    emit({ event: "kill", signal });
    child.kill(signal);
    await Promise.race([exitPromise, new Promise((res) => setTimeout(res, ms).unref())]);
    if (exited) return;
  }
}

const ops = {
  async initialize(step) {
    await call(step, methods.agent.initialize, {
      protocolVersion: 1,
      clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false },
      clientInfo: { name: "tether-acp-drive", version: "1.0.0" },
      ...step.params,
    });
  },
  async authenticate(step) {
    await call(step, methods.agent.authenticate, { methodId: step.methodId });
  },
  async new_session(step) {
    const params = { cwd: step.cwd ?? defaultCwd, mcpServers: step.mcpServers ?? [] };
    if (step.additionalDirectories) params.additionalDirectories = step.additionalDirectories;
    await call(step, methods.agent.session.new, params);
  },
  async load_session(step) {
    await call(step, methods.agent.session.load, {
      sessionId: sessionIdOf(step),
      cwd: step.cwd ?? defaultCwd,
      mcpServers: step.mcpServers ?? [],
    });
  },
  async resume_session(step) {
    await call(step, methods.agent.session.resume, {
      sessionId: sessionIdOf(step),
      cwd: step.cwd ?? defaultCwd,
      mcpServers: step.mcpServers ?? [],
    });
  },
  async list_sessions(step) {
    const params = {};
    if (step.cwd) params.cwd = step.cwd;
    if (step.cursor) params.cursor = step.cursor;
    await call(step, methods.agent.session.list, params);
  },
  async close_session(step) {
    await call(step, methods.agent.session.close, { sessionId: sessionIdOf(step) });
  },
  async set_config_option(step) {
    const params = { sessionId: sessionIdOf(step), configId: step.configId, value: step.value };
    if (typeof step.value === "boolean") params.type = "boolean";
    await call(step, methods.agent.session.setConfigOption, params);
  },
  async set_mode(step) {
    await call(step, methods.agent.session.setMode, { sessionId: sessionIdOf(step), modeId: step.modeId });
  },
  async prompt(step) {
    await call(step, methods.agent.session.prompt, { sessionId: sessionIdOf(step), prompt: promptBlocks(step.prompt) });
  },
  async cancel(step) {
    const sessionId = sessionIdOf(step);
    await agent.notify(methods.agent.session.cancel, { sessionId });
    // ACP: on session/cancel the client answers its pending permission
    // requests for that session with "cancelled".
    for (const h of [...held]) {
      if (h.sessionId === sessionId) {
        held.delete(h);
        h.resolve();
      }
    }
  },
  async cancel_request(step) {
    const ref = named.get(step.request);
    if (!ref || ref.id === undefined) throw new Error(`no request named ${step.request}`);
    await agent.notify(methods.protocol.cancelRequest, { requestId: ref.id });
  },
  async await(step) {
    for (const name of [].concat(step.request)) {
      const ref = named.get(name);
      if (!ref) throw new Error(`no request named ${name}`);
      await settle(
        {
          timeoutMs: step.timeoutMs,
          expect: step.expect ?? ref.step.expect,
          expectText: step.expectText ?? ref.step.expectText,
          expectChunks: step.expectChunks ?? ref.step.expectChunks,
        },
        ref,
      );
    }
  },
  async wait_updates(step) {
    const matching = () =>
      updateLog.filter(
        (p) =>
          (!step.session && !step.sessionId ? true : p.sessionId === sessionIdOf(step)) &&
          (!step.kind || p.update.sessionUpdate === step.kind),
      );
    if (step.text !== undefined) {
      // Chunks may arrive merged (an agent need not send one per token):
      // wait for the text they add up to, not for a number of them.
      const text = () => matching().map((p) => p.update.content?.text ?? "").join("");
      await waitFor(() => text().includes(step.text), `${step.kind ?? "session/update"} text ${JSON.stringify(step.text)}`, step.timeoutMs ?? timeoutMs);
      return;
    }
    await waitFor(() => matching().length >= step.count, `${step.count} ${step.kind ?? "session/update"} notifications`, step.timeoutMs ?? timeoutMs);
  },
  async wait_permission(step) {
    await waitFor(() => permissionRequests >= (step.count ?? 1), `${step.count ?? 1} permission requests`, step.timeoutMs ?? timeoutMs);
  },
  async answer_permission(step) {
    await waitFor(() => manual.length > 0, "a permission request to answer", step.timeoutMs ?? timeoutMs);
    const m = manual.shift();
    m.resolve(step.answer === "cancelled" ? { outcome: { outcome: "cancelled" } } : selectOption(step.answer, m.params));
  },
  async check_file(step) {
    const path = resolve(defaultCwd, step.path);
    const exists = existsSync(path);
    if (exists !== (step.exists ?? true)) throw new Error(`${path} ${exists ? "exists" : "does not exist"}`);
    if (step.content !== undefined && readFileSync(path, "utf8") !== step.content) {
      throw new Error(`${path} holds ${JSON.stringify(readFileSync(path, "utf8").slice(0, 200))}, expected ${JSON.stringify(step.content)}`);
    }
  },
  async request(step) {
    await call(step, step.method, step.params ?? {});
  },
  async notify(step) {
    await agent.notify(step.method, step.params ?? {});
  },
  async end_stdin() {
    await endStdin();
  },
  async wait_exit(step) {
    await withTimeout(exitPromise, step.timeoutMs ?? timeoutMs, "the agent to exit");
  },
};

async function run() {
  const steps = plan.steps ?? [];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i];
    stepLabel = `${i}`;
    emit({ event: "step", n: i, op: step.op, ...(step.as && { as: step.as }) });
    const op = ops[step.op];
    if (!op) {
      fail("step", { n: i, message: `unknown op ${step.op}` });
      return;
    }
    try {
      await op(step);
    } catch (err) {
      fail("step", { n: i, op: step.op, message: err.message });
      return;
    }
  }
}

await run();
await endStdin();
connection.close();
const unanswered = [...named.entries()].filter(([, r]) => !r.answered).map(([n, r]) => `${n} (${r.method})`);
emit({ event: "end", ok: failures.length === 0, failures, ...(unanswered.length > 0 && { unanswered }) });
process.exit(failures.length === 0 ? 0 : 1);
