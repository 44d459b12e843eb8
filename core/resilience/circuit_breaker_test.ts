import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type BreakerPermit,
  type BreakerTransition,
  CircuitBreaker,
  type CircuitBreakerOptions,
} from "./circuit_breaker.ts";

function fail(breaker: CircuitBreaker, nowMs: number): BreakerTransition | undefined {
  const permit = breaker.acquire(nowMs);
  assert.ok(permit.allowed, "expected the call to be admitted");
  return breaker.onFailure(permit, nowMs);
}

function succeed(breaker: CircuitBreaker, nowMs: number): BreakerTransition | undefined {
  const permit = breaker.acquire(nowMs);
  assert.ok(permit.allowed, "expected the call to be admitted");
  return breaker.onSuccess(permit, nowMs);
}

Deno.test("CircuitBreaker", async (t) => {
  await t.step("an option given as undefined keeps its default (5 consecutive failures)", () => {
    const breaker = new CircuitBreaker({ consecutiveFailures: undefined, minimumCalls: 20 });
    for (let i = 0; i < 4; i++) assert.equal(fail(breaker, i), undefined);
    assert.equal(fail(breaker, 4)?.reason, "consecutive-failures");
  });

  await t.step("opens after consecutive failures; a success resets the streak", () => {
    const breaker = new CircuitBreaker({ consecutiveFailures: 3, minimumCalls: 20 });
    assert.equal(fail(breaker, 0), undefined);
    assert.equal(fail(breaker, 1), undefined);
    assert.equal(succeed(breaker, 2), undefined);
    assert.equal(fail(breaker, 3), undefined);
    assert.equal(fail(breaker, 4), undefined);
    assert.deepEqual(fail(breaker, 5), {
      from: "closed",
      to: "open",
      atMs: 5,
      reason: "consecutive-failures",
    });
    assert.equal(breaker.state, "open");
  });

  await t.step("opens on the failure rate over the window once it has minimumCalls", () => {
    const breaker = new CircuitBreaker({
      consecutiveFailures: 100,
      failureRateThreshold: 0.5,
      windowSize: 10,
      minimumCalls: 6,
    });
    // alternate: after 5 calls the rate is already ≥ 50%, but the window is too small
    for (let i = 0; i < 5; i++) {
      assert.equal(i % 2 === 0 ? fail(breaker, i) : succeed(breaker, i), undefined);
    }
    assert.equal(succeed(breaker, 5), undefined, "successes never open the breaker");
    assert.equal(fail(breaker, 6)?.reason, "failure-rate"); // 4 of 7
  });

  await t.step("the window is bounded: old failures age out", () => {
    const breaker = new CircuitBreaker({
      consecutiveFailures: 100,
      failureRateThreshold: 0.5,
      windowSize: 4,
      minimumCalls: 4,
    });
    fail(breaker, 0);
    for (let i = 1; i <= 4; i++) succeed(breaker, i); // the failure has left the window
    assert.equal(fail(breaker, 5), undefined); // 1 of 4
    assert.equal(fail(breaker, 6)?.reason, "failure-rate"); // 2 of 4
  });

  await t.step("open refuses with retryAfterMs, then admits limited half-open probes", () => {
    const breaker = new CircuitBreaker({
      consecutiveFailures: 1,
      openDurationMs: 1000,
      halfOpenProbes: 2,
    });
    fail(breaker, 0);
    assert.deepEqual(breaker.acquire(400), { allowed: false, retryAfterMs: 600 });
    assert.equal(breaker.isAvailable(999), false);
    assert.equal(breaker.isAvailable(1000), true);
    const first = breaker.acquire(1000);
    assert.ok(first.allowed && first.probe);
    assert.deepEqual(first.transition, {
      from: "open",
      to: "half-open",
      atMs: 1000,
      reason: "open-duration-elapsed",
    });
    const second = breaker.acquire(1001);
    assert.ok(second.allowed && second.probe && second.transition === undefined);
    assert.deepEqual(breaker.acquire(1002), { allowed: false, retryAfterMs: 0 });
    assert.equal(breaker.onSuccess(first, 1003), undefined);
    assert.deepEqual(breaker.acquire(1004), { allowed: false, retryAfterMs: 0 }, "2 per episode");
    assert.equal(breaker.onSuccess(second, 1005)?.to, "closed");
    assert.equal(breaker.state, "closed");
  });

  await t.step("a failed probe reopens for another full open duration", () => {
    const breaker = new CircuitBreaker({ consecutiveFailures: 1, openDurationMs: 100 });
    fail(breaker, 0);
    const probe = breaker.acquire(100);
    assert.ok(probe.allowed);
    assert.deepEqual(breaker.onFailure(probe, 150), {
      from: "half-open",
      to: "open",
      atMs: 150,
      reason: "probe-failed",
    });
    assert.equal(breaker.acquire(200).allowed, false);
    assert.equal(breaker.acquire(250).allowed, true);
  });

  await t.step("a cancelled probe gives its slot back", () => {
    const breaker = new CircuitBreaker({ consecutiveFailures: 1, openDurationMs: 0 });
    fail(breaker, 0);
    const probe = breaker.acquire(0);
    assert.ok(probe.allowed && probe.probe);
    assert.equal(breaker.acquire(0).allowed, false);
    breaker.onCancel(probe);
    assert.equal(breaker.probesInFlight, 0);
    assert.equal(breaker.acquire(0).allowed, true);
  });

  await t.step("results of calls admitted before a state change are ignored", () => {
    const breaker = new CircuitBreaker({ consecutiveFailures: 2, openDurationMs: 100 });
    const slow = breaker.acquire(0);
    fail(breaker, 1);
    fail(breaker, 2); // opens
    assert.equal(breaker.onSuccess(slow, 3), undefined);
    assert.equal(breaker.state, "open");
  });

  await t.step("contract violations throw", () => {
    const breaker = new CircuitBreaker({ consecutiveFailures: 1, openDurationMs: 0 });
    fail(breaker, 0);
    const refused: BreakerPermit = { allowed: false, retryAfterMs: 5 };
    assert.throws(() => breaker.onSuccess(refused, 0), /refused permit/);
    const probe = breaker.acquire(0);
    breaker.onCancel(probe);
    assert.throws(() => breaker.onSuccess(probe, 0), /settled twice/);
    assert.throws(() => new CircuitBreaker({ halfOpenProbes: 0 }), RangeError);
    assert.throws(() => new CircuitBreaker({ failureRateThreshold: 0 }), RangeError);
    assert.throws(() => new CircuitBreaker({ windowSize: 4, minimumCalls: 5 }), RangeError);
    assert.doesNotThrow(() => new CircuitBreaker({ windowSize: 4 }), "default minimum shrinks");
    assert.throws(() => breaker.acquire(NaN), RangeError);
  });
});

type Op =
  | { kind: "acquire"; gapMs: number }
  | { kind: "settle"; pick: number; result: "success" | "failure" | "cancel" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("acquire" as const), gapMs: fc.integer({ min: 0, max: 400 }) }),
  fc.record({
    kind: fc.constant("settle" as const),
    pick: fc.nat(),
    result: fc.constantFrom("success" as const, "failure" as const, "cancel" as const),
  }),
);

const optionsArb: fc.Arbitrary<CircuitBreakerOptions> = fc.record({
  consecutiveFailures: fc.integer({ min: 1, max: 5 }),
  windowSize: fc.constant(8),
  minimumCalls: fc.integer({ min: 1, max: 8 }),
  failureRateThreshold: fc.double({ min: 0.1, max: 1, noNaN: true }),
  openDurationMs: fc.integer({ min: 0, max: 1000 }),
  halfOpenProbes: fc.integer({ min: 1, max: 4 }),
});

const LEGAL = new Set(["closed>open", "open>half-open", "half-open>open", "half-open>closed"]);

Deno.test("CircuitBreaker property: never more than N probes in half-open", () => {
  fc.assert(
    fc.property(
      optionsArb,
      fc.array(opArb, { maxLength: 150 }),
      fc.boolean(),
      (o, ops, cancels) => {
        const breaker = new CircuitBreaker(o);
        const probes = o.halfOpenProbes ?? 1;
        const outstanding: BreakerPermit[] = [];
        let nowMs = 0;
        let admittedThisEpisode = 0;
        let openedAtMs = -Infinity;
        const note = (transition: BreakerTransition | undefined) => {
          if (transition === undefined) return;
          assert.ok(LEGAL.has(`${transition.from}>${transition.to}`), JSON.stringify(transition));
          if (transition.to === "half-open") admittedThisEpisode = 0;
          if (transition.to === "open") openedAtMs = transition.atMs;
          assert.equal(breaker.state, transition.to);
        };
        for (const op of ops) {
          if (op.kind === "acquire") {
            nowMs += op.gapMs;
            const before = breaker.state;
            const permit = breaker.acquire(nowMs);
            if (before === "open" && nowMs - openedAtMs < (o.openDurationMs ?? 0)) {
              assert.equal(permit.allowed, false, "open breaker admitted a call too early");
            }
            if (!permit.allowed) continue;
            note(permit.transition);
            if (permit.probe) {
              admittedThisEpisode += 1;
              if (!cancels) assert.ok(admittedThisEpisode <= probes, "too many probes admitted");
            }
            outstanding.push(permit);
          } else if (outstanding.length > 0) {
            const [permit] = outstanding.splice(op.pick % outstanding.length, 1);
            if (op.result === "success") note(breaker.onSuccess(permit, nowMs));
            else if (op.result === "failure") note(breaker.onFailure(permit, nowMs));
            else if (cancels) breaker.onCancel(permit);
            else note(breaker.onSuccess(permit, nowMs));
          }
          assert.ok(breaker.probesInFlight <= probes, "too many probes in flight");
          if (breaker.state !== "half-open") assert.equal(breaker.probesInFlight, 0);
        }
      },
    ),
    { numRuns: 300 },
  );
});
