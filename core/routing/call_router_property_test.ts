import assert from "node:assert/strict";
import fc from "fast-check";
import { SeededRng } from "../rng.ts";
import { mayRunTwice, OutcomeUnknownError, type ToolSafetyHints } from "../resilience/mod.ts";
import { STRATEGY_NAMES } from "../balancer/mod.ts";
import { type Attempt, type Call, CallRouter, type Verdict } from "./mod.ts";
import { RoutingProtocolError } from "./errors.ts";
import { ATTEMPT_OUTCOMES, type AttemptOutcome, outcomeEvidence } from "./outcome.ts";

const REPLICAS = ["r0", "r1", "r2", "r3"];
const outcomeArb = fc.constantFrom(...ATTEMPT_OUTCOMES);
const hintsArb: fc.Arbitrary<ToolSafetyHints | undefined> = fc.option(
  fc.record({ readOnlyHint: fc.boolean(), idempotentHint: fc.boolean() }, { requiredKeys: [] }),
  { nil: undefined },
);

function newRouter(
  seed: number,
  strategy: (typeof STRATEGY_NAMES)[number],
  hedge: boolean,
  budget = true,
) {
  return new CallRouter({
    retryBudget: budget ? undefined : null,
    serviceId: "svc",
    rng: new SeededRng(seed),
    strategy,
    maxAttempts: 4,
    hedgeDelayMs: hedge ? 5 : undefined,
    health: {
      unhealthyAfterFailures: 2,
      healthyAfterSuccesses: 1,
      minDwellMs: 20,
      requireTools: false,
    },
    breaker: { consecutiveFailures: 2, openDurationMs: 50 },
    outlier: { consecutiveErrors: 3, baseEjectionMs: 40 },
    replicas: REPLICAS.map((id) => ({ id, tools: ["t"] })),
  });
}

Deno.test("property: a call that is not repeat-safe runs at most once, and an unknown outcome ends it", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1_000 }),
      fc.constantFrom(...STRATEGY_NAMES),
      hintsArb,
      fc.array(outcomeArb, { minLength: 1, maxLength: 12 }),
      fc.boolean(),
      fc.boolean(),
      (seed, strategy, annotations, outcomes, hedge, budget) => {
        const router = newRouter(seed, strategy, hedge, budget);
        for (const id of REPLICAS) router.observe(id, { kind: "probe", atMs: 0, ok: true });
        const call = router.open({ toolName: "t", annotations }, 0);
        const safe = mayRunTwice(annotations);
        let mayHaveRun = 0;
        let sawUnknown = false;
        let nowMs = 0;
        let verdict: Verdict | undefined;
        for (const outcome of outcomes) {
          const begun = router.begin(call, nowMs);
          if (!begun.ok) break;
          // The driver also tries to hedge whenever it can; the router must refuse unsafe calls.
          const hedged = router.hedge(call, nowMs);
          if (hedged !== undefined) {
            assert.ok(safe, "an unsafe call was hedged");
            verdict = router.complete(hedged, "cancelled", nowMs);
          }
          nowMs += 1;
          if (outcomeEvidence(outcome).mayHaveExecuted) mayHaveRun += 1;
          sawUnknown ||= outcome === "unknown";
          verdict = router.complete(begun.attempt, outcome, nowMs);
          if (verdict.kind !== "retry") break;
        }
        if (!safe) {
          assert.ok(mayHaveRun <= 1, `unsafe call may have run ${mayHaveRun} times`);
          if (sawUnknown) {
            assert.ok(verdict?.kind === "fail" && verdict.error instanceof OutcomeUnknownError);
          }
        }
        if (call.closed) assert.throws(() => router.begin(call, nowMs), RoutingProtocolError);
        assert.equal(call.inFlight, 0);
      },
    ),
    { numRuns: 300 },
  );
});

type Op =
  | { kind: "open"; safe: boolean }
  | { kind: "complete"; index: number; outcome: AttemptOutcome }
  | { kind: "hedge"; index: number }
  | { kind: "probe"; replica: number; ok: boolean }
  | { kind: "disconnect"; replica: number }
  | { kind: "connect"; replica: number }
  | { kind: "tick" }
  | { kind: "partition"; hasQuorum: boolean }
  | { kind: "membership"; keep: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("open" as const), safe: fc.boolean() }) },
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("complete" as const),
      index: fc.nat(),
      outcome: outcomeArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("hedge" as const), index: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("probe" as const),
      replica: fc.nat({ max: 3 }),
      ok: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("disconnect" as const), replica: fc.nat({ max: 3 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("connect" as const), replica: fc.nat({ max: 3 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "tick" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("partition" as const), hasQuorum: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("membership" as const), keep: fc.nat({ max: 15 }) }),
  },
);

Deno.test("property: never routes to an unhealthy, ejected or breaker-open replica; in-flight counts return to zero", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1_000 }),
      fc.constantFrom(...STRATEGY_NAMES),
      fc.array(opArb, { maxLength: 80 }),
      (seed, strategy, ops) => {
        const router = newRouter(seed, strategy, true);
        const pending: Array<{ call: Call; attempt: Attempt }> = [];
        let members = [...REPLICAS];
        let nowMs = 0;
        const check = (
          call: Call,
          attempt: Attempt,
          before: ReturnType<CallRouter["replicaStates"]>,
        ) => {
          const state = before.find((s) => s.replicaId === attempt.replicaId);
          assert.ok(state !== undefined, `routed to ${attempt.replicaId}, not a member`);
          assert.equal(state.exclusion, "available", JSON.stringify(state));
          const anyHealthy = before.some((s) =>
            s.exclusion === "available" && s.health === "healthy"
          );
          assert.ok(state.health === "healthy" || (state.health === "unknown" && !anyHealthy));
          assert.ok(call.triedReplicaIds.includes(attempt.replicaId));
        };
        const beginNext = (call: Call) => {
          const before = router.replicaStates(nowMs, call);
          const begun = router.begin(call, nowMs);
          if (begun.ok) {
            check(call, begun.attempt, before);
            pending.push({ call, attempt: begun.attempt });
          }
        };
        for (const op of ops) {
          nowMs += 3;
          switch (op.kind) {
            case "open":
              beginNext(router.open({
                toolName: "t",
                annotations: op.safe ? { readOnlyHint: true } : undefined,
              }, nowMs));
              break;
            case "complete": {
              if (pending.length === 0) break;
              const [{ call, attempt }] = pending.splice(op.index % pending.length, 1);
              const verdict = router.complete(attempt, op.outcome, nowMs);
              if (verdict.kind === "retry") beginNext(call);
              break;
            }
            case "hedge": {
              if (pending.length === 0) break;
              const { call } = pending[op.index % pending.length];
              const before = router.replicaStates(nowMs, call);
              const attempt = router.hedge(call, nowMs);
              if (attempt !== undefined) {
                check(call, attempt, before);
                pending.push({ call, attempt });
              }
              break;
            }
            case "probe":
              if (members.includes(REPLICAS[op.replica])) {
                router.observe(REPLICAS[op.replica], { kind: "probe", atMs: nowMs, ok: op.ok });
              }
              break;
            case "disconnect":
            case "connect":
              if (members.includes(REPLICAS[op.replica])) {
                router.observe(REPLICAS[op.replica], {
                  kind: op.kind === "connect" ? "connected" : "disconnected",
                  atMs: nowMs,
                });
              }
              break;
            case "tick":
              router.tick(nowMs);
              break;
            case "partition":
              router.setQuorum(op.hasQuorum);
              break;
            case "membership":
              members = REPLICAS.filter((_, i) => (op.keep & (1 << i)) !== 0);
              router.setReplicas(members.map((id) => ({ id, tools: ["t"] })), nowMs);
              break;
          }
        }
        // Drain: every attempt in flight ends; retries may begin more, bounded by maxAttempts.
        for (let guard = 0; pending.length > 0; guard++) {
          assert.ok(guard < 10_000, "drain did not terminate");
          nowMs += 1;
          const { call, attempt } = pending.shift()!;
          const verdict = router.complete(attempt, guard % 2 === 0 ? "unknown" : "ok", nowMs);
          if (verdict.kind === "retry") beginNext(call);
        }
        assert.equal(router.metrics().inFlight, 0);
        for (const id of members) assert.equal(router.stats.get(id)?.outstanding ?? 0, 0, id);
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("property: the same seed and inputs give the same routing", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1_000 }),
      fc.constantFrom(...STRATEGY_NAMES),
      fc.array(outcomeArb, { minLength: 1, maxLength: 40 }),
      (seed, strategy, outcomes) => {
        const trace = (): string[] => {
          const router = newRouter(seed, strategy, false);
          const out: string[] = [];
          outcomes.forEach((outcome, i) => {
            const call = router.open({ toolName: "t", affinityKey: `k${i % 5}` }, i);
            const begun = router.begin(call, i);
            out.push(begun.ok ? begun.attempt.replicaId : begun.error.name);
            if (begun.ok) out.push(router.complete(begun.attempt, outcome, i + 1).kind);
          });
          return out;
        };
        assert.deepEqual(trace(), trace());
      },
    ),
    { numRuns: 100 },
  );
});
