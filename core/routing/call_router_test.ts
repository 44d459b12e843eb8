import assert from "node:assert/strict";
import { SeededRng } from "../rng.ts";
import {
  MinorityPartitionError,
  OutcomeUnknownError,
  type ToolSafetyHints,
} from "../resilience/mod.ts";
import { type Attempt, type Call, CallRouter, type CallRouterOptions } from "./mod.ts";
import { CallFailedError, NoReplicaAvailableError, RoutingProtocolError } from "./errors.ts";
import type { AttemptOutcome } from "./outcome.ts";

const READ_ONLY: ToolSafetyHints = { readOnlyHint: true };
const IDEMPOTENT: ToolSafetyHints = { idempotentHint: true };
const WRITE: ToolSafetyHints = { readOnlyHint: false, idempotentHint: false };
const TOOLS = ["read", "write"];

function router(overrides: Partial<CallRouterOptions> = {}): CallRouter {
  return new CallRouter({
    serviceId: "svc",
    rng: new SeededRng(1),
    strategy: "round-robin",
    retryBudget: null,
    replicas: ["a", "b", "c"].map((id) => ({ id, tools: TOOLS })),
    ...overrides,
  });
}

/** Makes every replica healthy through active probes (two successes by default). */
function probeHealthy(r: CallRouter, atMs: number, ids = ["a", "b", "c"]): void {
  for (const id of ids) {
    for (let i = 0; i < 2; i++) r.observe(id, { kind: "probe", atMs, ok: true, toolCount: 2 });
  }
}

function mustBegin(r: CallRouter, call: Call, nowMs: number): Attempt {
  const begun = r.begin(call, nowMs);
  if (!begun.ok) throw begun.error;
  return begun.attempt;
}

Deno.test("CallRouter: verdict after the first attempt, by outcome and annotations", () => {
  const cases: Array<{
    outcome: AttemptOutcome;
    annotations?: ToolSafetyHints;
    kind: string;
    error?: new (...args: never[]) => Error;
  }> = [
    { outcome: "ok", annotations: WRITE, kind: "done" },
    { outcome: "remote-error", annotations: WRITE, kind: "done" },
    { outcome: "cancelled", annotations: READ_ONLY, kind: "done" },
    { outcome: "not-sent", annotations: WRITE, kind: "retry" },
    { outcome: "not-sent", kind: "retry" },
    { outcome: "failed", annotations: WRITE, kind: "fail", error: CallFailedError },
    { outcome: "unknown", annotations: WRITE, kind: "fail", error: OutcomeUnknownError },
    { outcome: "unknown", kind: "fail", error: OutcomeUnknownError },
    { outcome: "unknown", annotations: READ_ONLY, kind: "retry" },
    { outcome: "unknown", annotations: IDEMPOTENT, kind: "retry" },
    { outcome: "failed", annotations: IDEMPOTENT, kind: "retry" },
  ];
  for (const c of cases) {
    const r = router();
    probeHealthy(r, 0);
    const call = r.open({ toolName: "write", annotations: c.annotations }, 0);
    const verdict = r.complete(mustBegin(r, call, 0), c.outcome, 10);
    const label = `${c.outcome} ${JSON.stringify(c.annotations)}`;
    assert.equal(verdict.kind, c.kind, label);
    if (c.error !== undefined) {
      assert.ok(verdict.kind === "fail" && verdict.error instanceof c.error, label);
    }
    assert.equal(call.closed, c.kind !== "retry", label);
  }
});

Deno.test("CallRouter: retries", async (t) => {
  await t.step("each retry goes to a replica the call has not tried", () => {
    const r = router({ maxAttempts: 3 });
    probeHealthy(r, 0);
    const call = r.open({ toolName: "read", annotations: READ_ONLY }, 0);
    const replicas: string[] = [];
    let verdict;
    do {
      const attempt = mustBegin(r, call, 0);
      replicas.push(attempt.replicaId);
      verdict = r.complete(attempt, "unknown", 1);
    } while (verdict.kind === "retry");
    assert.equal(new Set(replicas).size, 3);
    assert.ok(verdict.kind === "fail" && verdict.error instanceof OutcomeUnknownError);
    assert.equal(verdict.error.safeToRetry, true);
    assert.equal(r.metrics().retries, 2);
    assert.equal(r.metrics().failovers, 2);
  });

  await t.step("running out of untried replicas ends the call, naming each replica", () => {
    const r = router({ maxAttempts: 10 });
    probeHealthy(r, 0);
    const call = r.open({ toolName: "write", annotations: WRITE }, 0);
    let verdict;
    for (let i = 0; i < 3; i++) verdict = r.complete(mustBegin(r, call, 0), "not-sent", 1);
    assert.ok(verdict?.kind === "fail" && verdict.error instanceof NoReplicaAvailableError);
    assert.deepEqual(verdict.error.replicas.map((s) => s.exclusion), [
      "already-tried",
      "already-tried",
      "already-tried",
    ]);
    assert.match(verdict.error.message, /service "svc" has no replica available for tool "write"/);
    assert.equal(r.metrics().noReplica, 1);
  });

  await t.step("the retry budget bounds retries", () => {
    const r = router({ retryBudget: { retryRatio: 0, minRetriesPerSecond: 0 } });
    probeHealthy(r, 0);
    const call = r.open({ toolName: "read", annotations: READ_ONLY }, 0);
    const verdict = r.complete(mustBegin(r, call, 0), "failed", 1);
    assert.ok(verdict.kind === "fail" && verdict.error instanceof CallFailedError);
    assert.equal(verdict.error.reason, "budget-exhausted");
  });

  await t.step("protocol misuse throws", () => {
    const r = router();
    probeHealthy(r, 0);
    const call = r.open({ toolName: "write", annotations: WRITE }, 0);
    const attempt = mustBegin(r, call, 0);
    assert.throws(() => r.begin(call, 0), RoutingProtocolError);
    assert.equal(r.complete(attempt, "unknown", 1).kind, "fail");
    assert.throws(() => r.complete(attempt, "ok", 1), RoutingProtocolError);
    assert.throws(() => r.begin(call, 2), RoutingProtocolError);
    const other = router();
    assert.throws(() => other.begin(call, 0), RoutingProtocolError);
    assert.throws(() => other.complete(attempt, "ok", 0), RoutingProtocolError);
  });
});

Deno.test("CallRouter: candidates", async (t) => {
  await t.step("unhealthy and disconnected replicas are never chosen", () => {
    const r = router({
      health: {
        unhealthyAfterFailures: 1,
        healthyAfterSuccesses: 1,
        minDwellMs: 0,
        requireTools: false,
      },
    });
    probeHealthy(r, 0);
    r.observe("a", { kind: "probe", atMs: 1, ok: false });
    r.observe("b", { kind: "disconnected", atMs: 1 });
    for (let i = 0; i < 20; i++) {
      const call = r.open({ toolName: "read", annotations: READ_ONLY }, 2);
      const attempt = mustBegin(r, call, 2);
      assert.equal(attempt.replicaId, "c");
      r.complete(attempt, "ok", 2);
    }
    const states = r.replicaStates(2);
    assert.deepEqual(states.map((s) => [s.health, s.exclusion]), [
      ["unhealthy", "health"],
      ["disconnected", "health"],
      ["healthy", "available"],
    ]);
  });

  await t.step("replicas not judged yet serve only while none is healthy", () => {
    const r = router();
    const first = r.open({ toolName: "read" }, 0);
    assert.equal(r.begin(first, 0).ok, true);
    probeHealthy(r, 1, ["b"]);
    for (let i = 0; i < 10; i++) {
      const call = r.open({ toolName: "read" }, 1);
      const attempt = mustBegin(r, call, 1);
      assert.equal(attempt.replicaId, "b");
      r.complete(attempt, "ok", 1);
    }
  });

  await t.step("an open breaker excludes a replica until a half-open probe is due", () => {
    const r = router({ breaker: { consecutiveFailures: 2, openDurationMs: 1000 } });
    probeHealthy(r, 0);
    let failures = 0;
    for (let i = 0; failures < 2 && i < 10; i++) {
      const call = r.open({ toolName: "read", annotations: WRITE }, 0);
      const attempt = mustBegin(r, call, 0);
      const outcome = attempt.replicaId === "a" ? "failed" : "ok";
      if (outcome === "failed") failures++;
      r.complete(attempt, outcome, 0);
    }
    assert.equal(r.replicaStates(10)[0].exclusion, "breaker-open");
    const picked = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const call = r.open({ toolName: "read" }, 10);
      const attempt = mustBegin(r, call, 10);
      picked.add(attempt.replicaId);
      r.complete(attempt, "ok", 10);
    }
    assert.ok(!picked.has("a"));
    const events = r.takeEvents().filter((e) => e.kind === "breaker");
    assert.deepEqual(events.map((e) => e.kind === "breaker" && e.transition.to), ["open"]);
    // After the open duration a's breaker admits one probe.
    let probe: Attempt | undefined;
    for (let i = 0; i < 3 && probe === undefined; i++) {
      const attempt = mustBegin(r, r.open({ toolName: "read" }, 1000), 1000);
      if (attempt.replicaId === "a") probe = attempt;
      else r.complete(attempt, "ok", 1000);
    }
    assert.ok(probe !== undefined && probe.permit.allowed && probe.permit.probe);
    r.complete(probe, "ok", 1001);
    assert.equal(r.replicaStates(1001)[0].breaker, "closed");
  });

  await t.step("an ejected outlier is not chosen", () => {
    const r = router({ outlier: { consecutiveErrors: 1, baseEjectionMs: 500 } });
    probeHealthy(r, 0);
    const call = r.open({ toolName: "read", annotations: READ_ONLY }, 0);
    const attempt = mustBegin(r, call, 0);
    r.complete(attempt, "failed", 0);
    assert.equal(r.metrics().ejections, 1);
    for (let i = 0; i < 10; i++) {
      const a = mustBegin(r, r.open({ toolName: "read" }, 1), 1);
      assert.notEqual(a.replicaId, attempt.replicaId);
      r.complete(a, "ok", 1);
    }
  });

  await t.step("a replica without the tool is not chosen", () => {
    const r = new CallRouter({
      serviceId: "svc",
      rng: new SeededRng(3),
      replicas: [{ id: "a", tools: ["read"] }, { id: "b", tools: ["read", "write"] }],
    });
    probeHealthy(r, 0, ["a", "b"]);
    for (let i = 0; i < 10; i++) {
      const a = mustBegin(r, r.open({ toolName: "write" }, 0), 0);
      assert.equal(a.replicaId, "b");
      r.complete(a, "ok", 0);
    }
    const call = r.open({ toolName: "delete" }, 0);
    const begun = r.begin(call, 0);
    assert.ok(!begun.ok && begun.error instanceof NoReplicaAvailableError);
    assert.deepEqual(begun.error.replicas.map((s) => s.exclusion), [
      "tool-not-offered",
      "tool-not-offered",
    ]);
    assert.equal(call.closed, true);
  });
});

Deno.test("CallRouter: minority partition admits only repeat-safe calls", () => {
  const r = router({ nodeId: "n3" });
  probeHealthy(r, 0);
  r.setQuorum(false);
  const write = r.begin(r.open({ toolName: "write", annotations: WRITE }, 0), 0);
  assert.ok(!write.ok && write.error instanceof MinorityPartitionError);
  assert.equal(write.error.nodeId, "n3");
  assert.equal(r.begin(r.open({ toolName: "read", annotations: READ_ONLY }, 0), 0).ok, true);
  assert.equal(r.metrics().partitionRefusals, 1);
  r.setQuorum(true);
  assert.equal(r.begin(r.open({ toolName: "write", annotations: WRITE }, 0), 0).ok, true);
});

Deno.test("CallRouter: hedging", async (t) => {
  await t.step("only repeat-safe calls get a hedge time and a hedge", () => {
    const r = router({ hedgeDelayMs: 50 });
    probeHealthy(r, 0);
    const write = r.open({ toolName: "write", annotations: WRITE }, 0);
    const writeAttempt = mustBegin(r, write, 0);
    assert.equal(writeAttempt.hedgeAtMs, undefined);
    assert.equal(r.hedge(write, 50), undefined);

    const read = r.open({ toolName: "read", annotations: READ_ONLY }, 0);
    const first = mustBegin(r, read, 0);
    assert.equal(first.hedgeAtMs, 50);
    const second = r.hedge(read, 50);
    assert.ok(second !== undefined && second.hedge && second.replicaId !== first.replicaId);
    assert.equal(r.complete(first, "unknown", 60).kind, "pending");
    const verdict = r.complete(second, "ok", 70);
    assert.equal(verdict.kind, "done");
    assert.equal(r.metrics().hedges, 1);
  });

  await t.step("the winner's verdict lists siblings to cancel; they settle", () => {
    const r = router({ hedgeDelayMs: 10 });
    probeHealthy(r, 0);
    const call = r.open({ toolName: "read", annotations: IDEMPOTENT }, 0);
    const first = mustBegin(r, call, 0);
    const second = r.hedge(call, 10)!;
    const verdict = r.complete(second, "ok", 20);
    assert.ok(verdict.kind === "done");
    assert.deepEqual(verdict.cancel, [first]);
    assert.equal(r.complete(first, "cancelled", 21).kind, "settled");
    assert.equal(r.metrics().inFlight, 0);
    assert.equal(r.stats.get(first.replicaId)?.outstanding, 0);
  });
});

Deno.test("CallRouter: evidence", async (t) => {
  await t.step("a request never sent gives no latency sample", () => {
    const r = router();
    probeHealthy(r, 0);
    const call = r.open({ toolName: "read" }, 0);
    const attempt = mustBegin(r, call, 0);
    r.complete(attempt, "not-sent", 0);
    const stats = r.stats.get(attempt.replicaId);
    assert.equal(stats?.samples, 0);
    assert.equal(stats?.outstanding, 0);
  });

  await t.step("failed calls drive health down through the hysteresis", () => {
    const r = router({
      health: {
        unhealthyAfterFailures: 2,
        healthyAfterSuccesses: 1,
        minDwellMs: 0,
        requireTools: false,
      },
      breaker: { consecutiveFailures: 100 },
      outlier: { consecutiveErrors: 100 },
    });
    probeHealthy(r, 0, ["a"]);
    for (let i = 0; i < 2; i++) {
      const attempt = mustBegin(r, r.open({ toolName: "read", annotations: WRITE }, 1), 1);
      assert.equal(attempt.replicaId, "a");
      r.complete(attempt, "failed", 2);
    }
    assert.equal(r.replicaStates(2)[0].health, "unhealthy");
    const health = r.takeEvents().filter((e) => e.kind === "health");
    assert.deepEqual(
      health.map((e) => e.kind === "health" && [e.replicaId, e.transition.to]),
      [["a", "healthy"], ["a", "unhealthy"]],
    );
  });

  await t.step("attempts to a replica that left and came back do not touch the new one", () => {
    const r = router();
    probeHealthy(r, 0);
    const call = r.open({ toolName: "read" }, 0);
    const attempt = mustBegin(r, call, 0);
    const id = attempt.replicaId;
    r.setReplicas([{ id: "x", tools: TOOLS }], 1);
    r.setReplicas([{ id, tools: TOOLS }, { id: "x", tools: TOOLS }], 2);
    probeHealthy(r, 2, [id]);
    const fresh = mustBegin(r, r.open({ toolName: "read" }, 3), 3);
    assert.equal(fresh.replicaId, id);
    assert.equal(r.complete(attempt, "ok", 4).kind, "done");
    assert.equal(r.stats.get(id)?.outstanding, 1);
    r.complete(fresh, "ok", 5);
    assert.equal(r.stats.get(id)?.outstanding, 0);
  });
});

Deno.test("CallRouter: metrics count calls, outcomes and unknown outcomes", () => {
  const r = router();
  probeHealthy(r, 0);
  const outcomes: AttemptOutcome[] = ["ok", "remote-error", "cancelled", "unknown"];
  for (const outcome of outcomes) {
    const call = r.open({ toolName: "write", annotations: WRITE }, 0);
    r.complete(mustBegin(r, call, 0), outcome, 1);
  }
  const m = r.metrics();
  assert.deepEqual(
    [m.calls, m.attempts, m.succeeded, m.remoteErrors, m.cancelled, m.failed, m.outcomeUnknown],
    [4, 4, 1, 1, 1, 1, 1],
  );
  assert.equal(m.inFlight, 0);
});

Deno.test("CallRouter: construction validates its tuning", () => {
  const bad: Array<Partial<CallRouterOptions>> = [
    { serviceId: "" },
    { maxAttempts: 0 },
    { hedgeDelayMs: -1 },
    { breaker: { consecutiveFailures: 0 } },
    { replicas: [{ id: "a", tools: [] }, { id: "a", tools: [] }] },
    { replicas: [{ id: "", tools: [] }] },
  ];
  for (const options of bad) {
    assert.throws(() => router(options), Error, JSON.stringify(options));
  }
});

Deno.test("CallRouter: NoReplicaAvailableError says why each replica was passed over", () => {
  const r = new CallRouter({
    serviceId: "svc",
    rng: new SeededRng(5),
    retryBudget: null,
    health: {
      unhealthyAfterFailures: 2,
      healthyAfterSuccesses: 1,
      minDwellMs: 0,
      requireTools: false,
    },
    breaker: { consecutiveFailures: 1, openDurationMs: 1000 },
    outlier: { consecutiveErrors: 1, maxEjectionPercent: 20 },
    replicas: [
      { id: "a", tools: ["t"] },
      { id: "b", tools: ["other"] },
      { id: "c", tools: ["t"] },
      { id: "d", tools: ["t", "only-d"] },
      { id: "e", tools: ["t", "only-e"] },
    ],
  });
  probeHealthy(r, 0, ["a", "b", "c", "d", "e"]);
  for (let i = 0; i < 2; i++) r.observe("c", { kind: "probe", atMs: 1, ok: false });
  for (const tool of ["only-d", "only-e"]) {
    const attempt = mustBegin(r, r.open({ toolName: tool }, 2), 2);
    assert.equal(attempt.replicaId, tool.slice(-1));
    r.complete(attempt, "failed", 3);
  }
  const call = r.open({ toolName: "t", annotations: WRITE }, 4);
  const attempt = mustBegin(r, call, 4);
  assert.equal(attempt.replicaId, "a");
  const verdict = r.complete(attempt, "not-sent", 5);
  assert.ok(verdict.kind === "fail" && verdict.error instanceof NoReplicaAvailableError);
  assert.deepEqual(verdict.error.replicas.map((s) => [s.replicaId, s.exclusion]), [
    ["a", "already-tried"],
    ["b", "tool-not-offered"],
    ["c", "health"],
    ["d", "ejected"],
    ["e", "breaker-open"],
  ]);
  assert.match(verdict.error.message, /c: health unhealthy; d: ejected as an outlier/);
  assert.equal(verdict.error.lastOutcome, "not-sent");
});
