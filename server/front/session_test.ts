// One 2025 session's state without HTTP: pushed questions and their answers,
// their bound, cancellation of direct calls, and what a takeover restores.
import assert from "node:assert/strict";
import { SeededRng } from "@safla/core";
import { parseConfig } from "../config.ts";
import { Gateway } from "../gateway/gateway.ts";
import { createResumeCodec } from "./front.ts";
import { MAX_QUESTIONS_PER_SESSION, Session } from "./session.ts";

async function withSession(
  fn: (session: Session, pushed: Record<string, unknown>[]) => Promise<void>,
  onStateChange?: () => void,
): Promise<void> {
  const gateway = new Gateway(parseConfig({ mcpServers: {} }), {
    nowMs: () => 0,
    rng: new SeededRng(1),
  });
  const session = new Session(gateway, createResumeCodec("k".repeat(32)), {
    id: "s",
    onStateChange,
  });
  try {
    await fn(session, []);
  } finally {
    await session.close();
    await gateway.close();
  }
}

/** The outcome of a question: its result, or its error's code (or message). */
function outcome(answer: Promise<Record<string, unknown>>): Promise<unknown> {
  return answer.then(
    (result) => ({ result }),
    (error) => ({ error: (error as { code?: number }).code ?? (error as Error).message }),
  );
}

Deno.test("session: client answers reach their questions; the rest goes on to the SDK", () =>
  withSession(async (session) => {
    const pushed: Record<string, unknown>[] = [];
    const push = (m: Record<string, unknown>) => (pushed.push(m), true);
    const ask = () => outcome(session.ask(push, { method: "sampling/createMessage" }, undefined));
    const notOurs = { jsonrpc: "2.0", id: 7, result: {} };
    assert.equal(session.answerQuestions(notOurs), notOurs, "nothing waits: untouched");

    const [first, second, third] = [ask(), ask(), ask()];
    const ids = pushed.map((m) => m.id as string);
    assert.equal(new Set(ids).size, 3, "each question has an id of its own");
    assert.deepEqual(pushed[0].params, {}, "a question without params gets empty params");
    const only = { jsonrpc: "2.0", id: ids[0], result: { role: "assistant" } };
    assert.equal(session.answerQuestions(only), undefined, "all answered: nothing for the SDK");
    assert.deepEqual(await first, { result: { role: "assistant" } });

    const batch = [
      { jsonrpc: "2.0", id: ids[1], error: { code: -32601, message: "Method not found" } },
      notOurs,
      { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 3 } },
      { jsonrpc: "2.0", id: ids[2], result: "not an object" },
    ];
    assert.deepEqual(session.answerQuestions(batch), [batch[1], batch[2]]);
    assert.deepEqual(await second, { error: -32601 });
    assert.deepEqual(await third, { error: -32602 });
    assert.equal(session.questionCount, 0);

    // A request from the client that happens to use one of our ids is not an answer.
    const fourth = ask();
    const request = { jsonrpc: "2.0", id: pushed[3].id, method: "ping" };
    assert.equal(session.answerQuestions(request), request);
    session.end();
    assert.deepEqual(await fourth, { error: "the session ended" });
    assert.equal(session.questionCount, 0);
  }));

Deno.test("session: an aborted question is withdrawn with notifications/cancelled", () =>
  withSession(async (session) => {
    const pushed: Record<string, unknown>[] = [];
    const abort = new AbortController();
    const answer = outcome(
      session.ask((m) => (pushed.push(m), true), { method: "roots/list" }, abort.signal),
    );
    abort.abort(new Error("the backend gave up"));
    assert.deepEqual(await answer, { error: "the backend gave up" });
    assert.deepEqual(pushed[1], {
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: pushed[0].id, reason: "Error: the backend gave up" },
    });
    assert.equal(session.questionCount, 0);
  }));

Deno.test(`session: at most ${MAX_QUESTIONS_PER_SESSION} questions wait at once`, () =>
  withSession(async (session) => {
    const push = () => true;
    const waiting = Array.from(
      { length: MAX_QUESTIONS_PER_SESSION },
      () => outcome(session.ask(push, { method: "roots/list" }, undefined)),
    );
    const refused = await outcome(session.ask(push, { method: "roots/list" }, undefined));
    assert.deepEqual(refused, { error: -32603 });
    assert.equal(session.questionCount, MAX_QUESTIONS_PER_SESSION);
    session.end();
    for (const w of waiting) assert.deepEqual(await w, { error: "the session ended" });
  }));

Deno.test("session: notifications/cancelled aborts the direct call it names", () =>
  withSession((session) => {
    const [one, two] = [new AbortController(), new AbortController()];
    const untrackOne = session.trackCall(1, one);
    session.trackCall("2", two);
    session.cancelCalls([
      { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: "1" } },
      { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1, reason: "x" } },
    ]);
    assert.equal((one.signal.reason as Error).message, "x", "ids match by type and value");
    assert.ok(!two.signal.aborted);
    untrackOne();
    session.end();
    assert.equal((two.signal.reason as Error).message, "the session ended");
    return Promise.resolve();
  }));

Deno.test("session: what the client set is its state, reported on change but not while restoring", () => {
  let changes = 0;
  return withSession((session) => {
    assert.deepEqual(session.state(), { subscriptions: [] });
    assert.equal(session.origin().logLevel, "debug", "no level asked: everything");
    session.setLogLevel("error");
    session.setLogLevel("error");
    assert.equal(changes, 1, "setting the same level again is no change");
    session.subscriptions.add("a://1");
    session.restoring = true;
    session.stateChanged();
    assert.equal(changes, 1);
    assert.deepEqual(session.state(), { logLevel: "error", subscriptions: ["a://1"] });
    assert.equal(session.origin().client, session, "the session is the client's identity");
    return Promise.resolve();
  }, () => changes++);
});
