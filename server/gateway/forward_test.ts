// The gateway's call-path driver with real timers over a real router; the sends
// are stand-ins, so what is measured is the driver, not a backend.
import assert from "node:assert/strict";
import { ProtocolError } from "@modelcontextprotocol/server";
import { SeededRng } from "@safla/core";
import { OutcomeUnknownError } from "@safla/core/resilience";
import { type Attempt, CallRouter } from "@safla/core/routing";
import { forwardCall, ForwardFailure } from "./forward.ts";

function router(hedgeDelayMs?: number): CallRouter {
  const r = new CallRouter({
    serviceId: "svc",
    rng: new SeededRng(1),
    strategy: "round-robin",
    retryBudget: null,
    hedgeDelayMs,
    replicas: ["a", "b"].map((id) => ({ id, tools: ["t"] })),
  });
  for (const id of ["a", "b"]) {
    for (let i = 0; i < 2; i++) r.observe(id, { kind: "probe", atMs: 0, ok: true });
  }
  return r;
}

/** A send that never answers until its signal aborts, then rejects with the reason. */
function hang(signal: AbortSignal | undefined): Promise<Record<string, unknown>> {
  return new Promise((_, reject) => {
    signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

const nowMs = () => performance.now();

Deno.test("forwardCall: a hedge answers for a stuck attempt, which is then cancelled", async () => {
  const r = router(20);
  const signals = new Map<string, AbortSignal | undefined>();
  const result = await forwardCall(r, {
    request: { toolName: "t", annotations: { readOnlyHint: true } },
    hedging: true,
    signal: undefined,
    nowMs,
    send: (attempt: Attempt, signal) => {
      signals.set(attempt.replicaId, signal);
      return attempt.hedge ? Promise.resolve({ from: attempt.replicaId }) : hang(signal);
    },
  });
  assert.equal(signals.size, 2);
  const [first, hedge] = [...signals.keys()];
  assert.deepEqual(result, { from: hedge });
  assert.equal(signals.get(first)?.aborted, true, "the losing attempt was cancelled");
  await new Promise((resolve) => setTimeout(resolve, 0));
  const metrics = r.metrics();
  assert.equal(metrics.hedges, 1);
  assert.equal(metrics.inFlight, 0, "the loser reported its end");
});

Deno.test("forwardCall: without hedging the attempt runs on the client's own signal", async () => {
  const client = new AbortController();
  const seen: (AbortSignal | undefined)[] = [];
  const result = await forwardCall(router(20), {
    request: { toolName: "t", annotations: { readOnlyHint: true } },
    hedging: false,
    signal: client.signal,
    nowMs,
    send: (_attempt, signal) => {
      seen.push(signal);
      return Promise.resolve({ ok: true });
    },
  });
  assert.deepEqual(result, { ok: true });
  assert.deepEqual(seen, [client.signal]);
});

Deno.test("forwardCall: the client cancels during a hedge: both attempts end, the call rejects", async () => {
  const r = router(10);
  const client = new AbortController();
  const signals: AbortSignal[] = [];
  const call = forwardCall(r, {
    request: { toolName: "t", annotations: { readOnlyHint: true } },
    hedging: true,
    signal: client.signal,
    nowMs,
    send: (attempt, signal) => {
      signals.push(signal!);
      if (attempt.hedge) setTimeout(() => client.abort(new Error("client gave up")), 5);
      return hang(signal);
    },
  });
  await assert.rejects(call, /client gave up/);
  assert.equal(signals.length, 2);
  assert.ok(signals.every((s) => s.aborted));
  assert.equal(r.metrics().inFlight, 0);
  assert.equal(r.metrics().cancelled, 1);
});

Deno.test("forwardCall: a write whose reply was lost is not sent again", async () => {
  let sends = 0;
  const call = forwardCall(router(10), {
    request: { toolName: "t", annotations: { readOnlyHint: false, idempotentHint: false } },
    hedging: true,
    signal: undefined,
    nowMs,
    send: () => {
      sends += 1;
      return Promise.reject(new Error("connection reset"));
    },
  });
  const failure = await call.then(() => undefined, (e) => e);
  assert.ok(failure instanceof ForwardFailure);
  assert.ok(failure.failure instanceof OutcomeUnknownError);
  assert.match(String(failure.lastError), /connection reset/);
  assert.equal(sends, 1);
});

Deno.test("forwardCall: a backend's JSON-RPC error is its answer, not retried", async () => {
  let sends = 0;
  const call = forwardCall(router(), {
    request: { toolName: "t", annotations: { readOnlyHint: true } },
    hedging: false,
    signal: undefined,
    nowMs,
    send: () => {
      sends += 1;
      return Promise.reject(new ProtocolError(-32602, "bad arguments"));
    },
  });
  await assert.rejects(call, /bad arguments/);
  assert.equal(sends, 1);
});
