// Checks what drive.mjs printed for one selftest case, beyond the
// expectations in the case's steps: node check.mjs CASE DIR RC, where DIR
// holds events.jsonl (drive.mjs's stdout), record.jsonl (what agent.mjs
// received) and cwd/ (the sessions' working directory).

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [name, dir, rcText] = process.argv.slice(2);
const rc = Number(rcText);
const lines = (file) =>
  existsSync(join(dir, file))
    ? readFileSync(join(dir, file), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l))
    : [];
const events = lines("events.jsonl");
const record = lines("record.jsonl");
const end = events.at(-1);
const updates = events.filter((e) => e.event === "notification" && e.method === "session/update").map((e) => e.params.update);
const responses = (method) => events.filter((e) => e.event === "response" && e.method === method);
const received = (method) => record.filter((m) => m.method === method);

const problems = [];
function expect(ok, what) {
  if (!ok) problems.push(what);
}
function expectClean() {
  expect(rc === 0, `drive.mjs exited ${rc}, want 0`);
  expect(end?.event === "end" && end.ok === true, `the last event is ${JSON.stringify(end)}, want an ok end`);
}

const checks = {
  basic() {
    expectClean();
    const tool = updates.find((u) => u.sessionUpdate === "tool_call" && u.kind === "edit");
    expect(tool?.content?.[0]?.type === "diff" && tool.locations?.length === 1 && tool.rawInput, "an edit tool_call with a diff, locations and rawInput");
    expect(updates.some((u) => u.sessionUpdate === "tool_call_update" && u.status === "completed" && u.rawOutput), "a completed tool_call_update with rawOutput");
    expect(updates.some((u) => u.sessionUpdate === "tool_call_update" && u.status === "failed"), "a failed tool_call_update");
    expect(updates.filter((u) => u.sessionUpdate === "plan").length === 2, "two plan updates");
    expect(updates.filter((u) => u.sessionUpdate === "agent_thought_chunk").length === 2, "two thought chunks");
    expect(updates.some((u) => u.sessionUpdate === "usage_update" && u.size === 200000), "a usage_update");
    const newAt = events.findIndex((e) => e.event === "response" && e.method === "session/new");
    const cmdsAt = events.findIndex((e) => e.event === "notification" && e.params?.update?.sessionUpdate === "available_commands_update");
    expect(newAt >= 0 && cmdsAt > newAt, "available_commands_update after the session/new answer");
    const blocks = received("session/prompt")[1]?.params.prompt.map((b) => b.type).join(",");
    expect(blocks === "text,image,resource_link,resource", `the agent got the four content blocks, got ${blocks}`);
    expect(record[0]?.method === "initialize", "the agent recorded initialize first");
  },
  "permission-allow"() {
    expectClean();
    const file = join(dir, "cwd", "allowed.txt");
    expect(existsSync(file) && readFileSync(file, "utf8") === "allowed\n", "allowed.txt was written");
    const answers = events.filter((e) => e.event === "answer" && e.method === "session/request_permission");
    expect(answers.map((a) => a.result.outcome.optionId).join() === "allow_once,allow_always", "answered allow_once then allow_always");
    const recordedAnswers = record.filter((m) => m.result?.outcome);
    expect(recordedAnswers.length === 2, "the agent recorded both permission answers");
    const ask = events.find((e) => e.event === "request" && e.method === "session/request_permission");
    expect(ask?.params.options.map((o) => o.kind).join() === "allow_once,allow_always,reject_once,reject_always", "four option kinds offered");
    expect(ask?.params.toolCall.content?.[0]?.type === "diff", "the permission request carries the diff");
  },
  "permission-manual"() {
    expectClean();
    const answers = events.filter((e) => e.event === "answer" && e.method === "session/request_permission");
    expect(answers.map((a) => a.result.outcome.optionId).join() === "reject_once,allow_once", "answered by the steps: reject_once, then allow_once");
    const checks = events.filter((e) => e.event === "step" && e.op === "check_file").length;
    expect(checks === 3, `three check_file steps ran, got ${checks}`);
  },
  "permission-reject"() {
    expectClean();
    expect(!existsSync(join(dir, "cwd", "allowed.txt")), "allowed.txt was not written");
    expect(updates.filter((u) => u.sessionUpdate === "tool_call_update" && u.status === "failed").length === 4, "four failed tool calls");
  },
  cancel() {
    expectClean();
    expect(received("session/cancel").length === 2, "the agent got two session/cancel");
    expect(received("$/cancel_request").length === 1, "the agent got the client's $/cancel_request");
    expect(events.some((e) => e.event === "notification" && e.method === "$/cancel_request"), "the agent withdrew its permission request with $/cancel_request");
    expect(responses("session/prompt").filter((r) => r.result?.stopReason === "cancelled").length === 4, "four cancelled prompts");
    expect(!updates.some((u) => u.content?.text?.startsWith("never sent")), "nothing after the hold");
  },
  sessions() {
    expectClean();
    const loadAt = events.findIndex((e) => e.event === "response" && e.method === "session/load" && e.result);
    const replayed = events
      .slice(0, loadAt)
      .filter((e) => e.event === "notification" && e.params?.sessionId === "old-1")
      .map((e) => `${e.params.update.sessionUpdate}:${e.params.update.content.text}`);
    expect(
      replayed.join("|") === "user_message_chunk:fix the build|agent_message_chunk:Fixed |agent_message_chunk:it.",
      `session/load replays the transcript before answering, got ${replayed.join("|")}`,
    );
    const overlap = events.findIndex((e) => e.event === "response" && e.method === "session/prompt");
    const sends = events.slice(0, overlap).filter((e) => e.event === "send" && e.method === "session/prompt");
    expect(sends.length === 2, "two sessions' prompts were in flight at once");
  },
  "prompt-error"() {
    expectClean();
    expect(responses("session/prompt")[0]?.error?.data?.retryable === true, "the error carries its data");
  },
  flood() {
    expectClean();
    expect(updates.length === 5000, `5000 updates, got ${updates.length}`);
    const send = events.find((e) => e.event === "send" && e.method === "session/prompt");
    const done = responses("session/prompt")[0];
    process.stderr.write(`flood: 5000 chunks in ${(done.t - send.t).toFixed(1)} ms through drive.mjs\n`);
  },
  "exit-midturn"() {
    expectClean();
    expect(events.some((e) => e.event === "exit" && e.code === 3), "the agent exited with status 3");
    expect(responses("session/prompt").length === 0, "no answer to the prompt");
  },
  "hang-initialize"() {
    expectClean();
    expect(responses("initialize").length === 0, "initialize is never answered");
    expect(end?.unanswered?.[0]?.startsWith("init"), "the end event lists initialize as unanswered");
    expect(events.some((e) => e.event === "exit" && e.code === 0), "the agent exits 0 on stdin EOF");
  },
  "garbage-stdout"() {
    expect(rc === 1, `drive.mjs exited ${rc}, want 1`);
    expect(end?.failures?.join() === "bad_line,bad_line", `two bad lines, got ${end?.failures}`);
    expect(responses("session/prompt")[0]?.result?.stopReason === "end_turn", "the turn still ends");
    expect(record.filter((m) => m.error?.code === -32700).length === 2, "the SDK answered each bad line with -32700");
  },
  "auth-required"() {
    expectClean();
  },
  "bad-update"() {
    expect(rc === 1, `drive.mjs exited ${rc}, want 1`);
    expect(end?.failures?.filter((f) => f === "invalid").length === 2, `two invalid updates, got ${end?.failures}`);
  },
  nocaps() {
    expectClean();
    expect(!responses("session/new")[0]?.result?.configOptions, "no configOptions");
  },
  "state-1"() {
    expectClean();
  },
  "state-2"() {
    expectClean();
    const replayed = updates.slice(0, 2).map((u) => u.content?.text);
    expect(replayed.join("|") === "remember me|echo: remember me", `a restarted agent replays the first process's session, got ${replayed}`);
  },
};

const check = checks[name];
if (!check) {
  console.error(`check.mjs: no checks for ${name}`);
  process.exit(1);
}
check();
for (const p of problems) console.error(`${name}: ${p}`);
process.exit(problems.length === 0 ? 0 : 1);
