import assert from "node:assert/strict";
import { SeededRng } from "../rng.ts";
import { OutcomeUnknownError, type ToolSafetyHints } from "../resilience/mod.ts";
import {
  type Attempt,
  type CallEffect,
  CallExecutor,
  CallRouter,
  type CallRouterOptions,
  NoReplicaAvailableError,
  RoutingProtocolError,
} from "./mod.ts";

const READ_ONLY: ToolSafetyHints = { readOnlyHint: true };
const WRITE: ToolSafetyHints = { readOnlyHint: false, idempotentHint: false };

function router(overrides: Partial<CallRouterOptions> = {}): CallRouter {
  const r = new CallRouter({
    serviceId: "svc",
    rng: new SeededRng(1),
    strategy: "round-robin",
    retryBudget: null,
    replicas: ["a", "b", "c"].map((id) => ({ id, tools: ["t"] })),
    ...overrides,
  });
  for (const { replicaId: id } of r.replicaStates(0)) {
    for (let i = 0; i < 2; i++) r.observe(id, { kind: "probe", atMs: 0, ok: true });
  }
  return r;
}

function kinds(effects: CallEffect[]): string[] {
  return effects.map((e) => e.kind);
}

function started(effects: CallEffect[]): Attempt {
  const start = effects.find((e) => e.kind === "start");
  assert.ok(start?.kind === "start", `no start in ${kinds(effects)}`);
  return start.attempt;
}

Deno.test("CallExecutor: one attempt that answers is the reply", () => {
  const exec = new CallExecutor(router(), { toolName: "t", annotations: WRITE }, 0, {
    hedging: true,
  });
  const effects = exec.start(0);
  assert.deepEqual(kinds(effects), ["start"]);
  assert.equal(effects[0].kind === "start" && effects[0].cancelAlone, false);
  const attempt = started(effects);
  const end = exec.attemptEnded(attempt, "ok", 5);
  assert.deepEqual(end, [{ kind: "reply", outcome: "ok", attempt }]);
  assert.equal(exec.answered, true);
  assert.equal(exec.running.length, 0);
});

Deno.test("CallExecutor: a read-only call whose reply was lost fails over to another replica", () => {
  const r = router();
  const exec = new CallExecutor(r, { toolName: "t", annotations: READ_ONLY }, 0, {
    hedging: false,
  });
  const first = started(exec.start(0));
  const retry = exec.attemptEnded(first, "unknown", 10);
  assert.deepEqual(kinds(retry), ["start"]);
  const second = started(retry);
  assert.notEqual(second.replicaId, first.replicaId);
  assert.equal(second.attempt, 2);
  assert.deepEqual(kinds(exec.attemptEnded(second, "ok", 20)), ["reply"]);
  assert.equal(r.metrics().failovers, 1);
});

Deno.test("CallExecutor: a write whose reply was lost ends with OutcomeUnknownError, never runs twice", () => {
  const exec = new CallExecutor(router(), { toolName: "t", annotations: WRITE }, 0, {
    hedging: true,
  });
  const first = started(exec.start(0));
  const end = exec.attemptEnded(first, "unknown", 10);
  assert.equal(end.length, 1);
  const fail = end[0];
  assert.ok(fail.kind === "fail");
  assert.ok(fail.error instanceof OutcomeUnknownError);
  assert.equal(fail.lastAttempt, first);
});

Deno.test("CallExecutor: a write that was never sent goes to another replica", () => {
  const exec = new CallExecutor(router(), { toolName: "t", annotations: WRITE }, 0, {
    hedging: true,
  });
  const first = started(exec.start(0));
  const second = started(exec.attemptEnded(first, "not-sent", 1));
  assert.notEqual(second.replicaId, first.replicaId);
});

Deno.test("CallExecutor: no replica at all is a fail effect, nothing started", () => {
  const exec = new CallExecutor(router({ replicas: [] }), { toolName: "t" }, 0, {
    hedging: true,
  });
  const effects = exec.start(0);
  assert.equal(effects.length, 1);
  assert.ok(effects[0].kind === "fail" && effects[0].error instanceof NoReplicaAvailableError);
  assert.equal(effects[0].lastAttempt, undefined);
});

Deno.test("CallExecutor: a hedge that answers first wins; the slow attempt is cancelled", () => {
  const r = router({ hedgeDelayMs: 50 });
  const exec = new CallExecutor(r, { toolName: "t", annotations: READ_ONLY }, 0, {
    hedging: true,
  });
  const effects = exec.start(0);
  assert.deepEqual(kinds(effects), ["start", "set-timer"]);
  assert.equal(effects[0].kind === "start" && effects[0].cancelAlone, true);
  assert.deepEqual(effects[1], { kind: "set-timer", atMs: 50 });
  const slow = started(effects);
  const hedged = exec.timerFired(50);
  const hedge = started(hedged);
  assert.equal(hedge.hedge, true);
  assert.notEqual(hedge.replicaId, slow.replicaId);
  // The hedge may be hedged in turn (a third attempt is within the limit).
  assert.deepEqual(hedged[1], { kind: "set-timer", atMs: 100 });
  assert.deepEqual(exec.attemptEnded(hedge, "ok", 60), [
    { kind: "cancel", attempt: slow },
    { kind: "clear-timer" },
    { kind: "reply", outcome: "ok", attempt: hedge },
  ]);
  // The loser still reports its end; the call is over, so nothing more happens.
  assert.deepEqual(exec.attemptEnded(slow, "cancelled", 61), []);
  assert.equal(r.metrics().inFlight, 0);
  assert.equal(r.metrics().hedges, 1);
});

Deno.test("CallExecutor: a timer that fires after the answer does nothing", () => {
  const exec = new CallExecutor(
    router({ hedgeDelayMs: 50 }),
    {
      toolName: "t",
      annotations: READ_ONLY,
    },
    0,
    { hedging: true },
  );
  const first = started(exec.start(0));
  assert.deepEqual(kinds(exec.attemptEnded(first, "ok", 10)), ["clear-timer", "reply"]);
  assert.deepEqual(exec.timerFired(50), []);
});

Deno.test("CallExecutor: hedging off or a write: no timer, the attempt runs on the call's signal", () => {
  for (
    const [annotations, hedging] of [[READ_ONLY, false], [WRITE, true]] as const
  ) {
    const exec = new CallExecutor(router({ hedgeDelayMs: 50 }), { toolName: "t", annotations }, 0, {
      hedging,
    });
    const effects = exec.start(0);
    assert.deepEqual(kinds(effects), ["start"]);
    assert.equal(effects[0].kind === "start" && effects[0].cancelAlone, false);
  }
});

Deno.test("CallExecutor: the client cancels: every attempt is cancelled and the reply says so", () => {
  const r = router({ hedgeDelayMs: 50 });
  const exec = new CallExecutor(r, { toolName: "t", annotations: READ_ONLY }, 0, {
    hedging: true,
  });
  const first = started(exec.start(0));
  const hedge = started(exec.timerFired(50));
  assert.deepEqual(exec.clientCancelled(), [
    { kind: "clear-timer" },
    { kind: "cancel", attempt: first },
    { kind: "cancel", attempt: hedge },
  ]);
  assert.deepEqual(exec.clientCancelled(), []);
  // A failure racing the cancellation must not start a retry nobody waits for.
  assert.deepEqual(exec.attemptEnded(first, "unknown", 60), []);
  assert.deepEqual(exec.attemptEnded(hedge, "cancelled", 61), [
    { kind: "reply", outcome: "cancelled", attempt: hedge },
  ]);
  assert.equal(r.metrics().inFlight, 0);
  assert.equal(r.metrics().retries, 0);
});

Deno.test("CallExecutor: misuse is a RoutingProtocolError", () => {
  const r = router();
  const exec = new CallExecutor(r, { toolName: "t" }, 0, { hedging: false });
  const attempt = started(exec.start(0));
  assert.throws(() => exec.start(0), RoutingProtocolError);
  exec.attemptEnded(attempt, "ok", 1);
  assert.throws(() => exec.attemptEnded(attempt, "ok", 2), RoutingProtocolError);
});
