import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type CallOutcome,
  DEFAULT_MIN_RETRIES_PER_SECOND,
  DEFAULT_RETRY_BUDGET_TTL_MS,
  mayHedge,
  OutcomeUnknownError,
  RetryBudget,
  retryDecision,
} from "./retry.ts";
import { mayRunTwice, type ToolSafetyHints } from "./tool_safety.ts";

const READ_ONLY: ToolSafetyHints = { readOnlyHint: true };
const IDEMPOTENT: ToolSafetyHints = { idempotentHint: true };
const WRITE: ToolSafetyHints = { readOnlyHint: false, idempotentHint: false };

const hintsArb: fc.Arbitrary<ToolSafetyHints | undefined> = fc.option(
  fc.record(
    {
      readOnlyHint: fc.boolean(),
      idempotentHint: fc.boolean(),
      destructiveHint: fc.boolean(),
    },
    { requiredKeys: [] },
  ),
  { nil: undefined },
);

Deno.test("mayRunTwice: only readOnlyHint or idempotentHint make a tool repeat-safe", () => {
  const cases: Array<[ToolSafetyHints | undefined, boolean]> = [
    [undefined, false],
    [{}, false],
    [READ_ONLY, true],
    [IDEMPOTENT, true],
    [WRITE, false],
    [{ destructiveHint: false }, false],
    [{ readOnlyHint: false, idempotentHint: true }, true],
  ];
  for (const [hints, expected] of cases) {
    assert.equal(mayRunTwice(hints), expected, JSON.stringify(hints));
  }
});

Deno.test("retryDecision", async (t) => {
  await t.step("table", () => {
    const cases: Array<{
      annotations?: ToolSafetyHints;
      outcome: CallOutcome;
      attempt: number;
      expected: string;
      unknownError: boolean;
    }> = [
      {
        annotations: WRITE,
        outcome: "not-sent",
        attempt: 1,
        expected: "not-sent",
        unknownError: false,
      },
      { outcome: "not-sent", attempt: 2, expected: "not-sent", unknownError: false },
      { outcome: "not-sent", attempt: 3, expected: "attempts-exhausted", unknownError: false },
      {
        annotations: WRITE,
        outcome: "failed",
        attempt: 1,
        expected: "not-safe-to-repeat",
        unknownError: false,
      },
      {
        annotations: READ_ONLY,
        outcome: "failed",
        attempt: 1,
        expected: "safe-to-repeat",
        unknownError: false,
      },
      {
        annotations: IDEMPOTENT,
        outcome: "unknown",
        attempt: 2,
        expected: "safe-to-repeat",
        unknownError: false,
      },
      {
        annotations: IDEMPOTENT,
        outcome: "unknown",
        attempt: 3,
        expected: "attempts-exhausted",
        unknownError: true,
      },
      {
        annotations: WRITE,
        outcome: "unknown",
        attempt: 1,
        expected: "not-safe-to-repeat",
        unknownError: true,
      },
      { outcome: "unknown", attempt: 1, expected: "not-safe-to-repeat", unknownError: true },
    ];
    for (const c of cases) {
      const d = retryDecision({ ...c, toolName: "t" });
      assert.equal(d.reason, c.expected, JSON.stringify(c));
      if (!d.retry) assert.equal(d.error instanceof OutcomeUnknownError, c.unknownError);
    }
  });

  await t.step("the unknown-outcome error says it may have run and was not retried", () => {
    const d = retryDecision({ annotations: {}, attempt: 1, outcome: "unknown", toolName: "pay" });
    assert.equal(d.retry, false);
    assert.ok(!d.retry && d.error);
    const error = d.error;
    assert.equal(error.toolName, "pay");
    assert.equal(error.safeToRetry, false);
    assert.match(error.message, /"pay"/);
    assert.match(error.message, /may or may not have run/);
    assert.match(error.message, /did not retry it, to avoid executing it twice/);
  });

  await t.step("a retry spends a budget token; an empty budget refuses", () => {
    const budget = new RetryBudget({ retryRatio: 0, minRetriesPerSecond: 1, ttlMs: 1_000 });
    const input = { annotations: READ_ONLY, attempt: 1, outcome: "unknown" as const, budget };
    assert.equal(retryDecision({ ...input, nowMs: 0 }).retry, true);
    const refused = retryDecision({ ...input, nowMs: 0 });
    assert.equal(refused.reason, "budget-exhausted");
    assert.equal(retryDecision({ ...input, nowMs: 1000 }).retry, true, "reserve refilled");
    assert.throws(() => retryDecision({ ...input }), RangeError);
  });

  await t.step("a refused unsafe retry does not spend budget", () => {
    const budget = new RetryBudget({ retryRatio: 0, minRetriesPerSecond: 1, ttlMs: 1_000 });
    retryDecision({ annotations: WRITE, attempt: 1, outcome: "unknown", budget, nowMs: 0 });
    assert.equal(budget.available(0), 1);
  });

  await t.step("rejects nonsense attempt counts", () => {
    assert.throws(() => retryDecision({ attempt: 0, outcome: "failed" }), RangeError);
    assert.throws(
      () => retryDecision({ attempt: 1, outcome: "failed", maxAttempts: 0 }),
      RangeError,
    );
  });

  await t.step("property: a non-repeat-safe call with unknown outcome is never retried", () => {
    fc.assert(
      fc.property(
        hintsArb.filter((h) => !mayRunTwice(h)),
        fc.integer({ min: 1, max: 100 }),
        fc.integer({ min: 1, max: 100 }),
        fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
        (annotations, attempt, maxAttempts, reserve) => {
          const budget = reserve === undefined
            ? undefined
            : new RetryBudget({ retryRatio: 1, minRetriesPerSecond: reserve });
          const d = retryDecision({
            annotations,
            attempt,
            maxAttempts,
            outcome: "unknown",
            budget,
            nowMs: 0,
          });
          assert.equal(d.retry, false);
          assert.ok(!d.retry && d.error instanceof OutcomeUnknownError);
          assert.equal(d.error.safeToRetry, false);
          assert.equal(mayHedge({ annotations }), false);
        },
      ),
      { numRuns: 300 },
    );
  });

  await t.step("property: retries never exceed maxAttempts; failed writes never retry", () => {
    fc.assert(
      fc.property(
        hintsArb,
        fc.constantFrom<CallOutcome>("not-sent", "failed", "unknown"),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 10 }),
        (annotations, outcome, attempt, maxAttempts) => {
          const d = retryDecision({ annotations, attempt, maxAttempts, outcome });
          if (d.retry) {
            assert.ok(attempt < maxAttempts);
            assert.ok(outcome === "not-sent" || mayRunTwice(annotations));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

Deno.test("RetryBudget", async (t) => {
  await t.step("retries are bounded by ratio × requests plus the reserve", () => {
    const budget = new RetryBudget({ retryRatio: 0.2, minRetriesPerSecond: 0 });
    for (let i = 0; i < 100; i++) budget.onRequest(0);
    let granted = 0;
    while (budget.tryWithdraw(0)) granted += 1;
    assert.equal(granted, 20);
  });

  await t.step("earned tokens fade with the TTL", () => {
    const budget = new RetryBudget({ retryRatio: 1, minRetriesPerSecond: 0, ttlMs: 1000 });
    for (let i = 0; i < 10; i++) budget.onRequest(0);
    assert.ok(Math.abs(budget.available(1000) - 10 * Math.exp(-1)) < 1e-9);
  });

  await t.step("the reserve refills at minRetriesPerSecond and keeps one ttl's worth", () => {
    const budget = new RetryBudget({ retryRatio: 0, minRetriesPerSecond: 4, ttlMs: 2_000 });
    assert.equal(budget.available(0), 8);
    for (let i = 0; i < 8; i++) assert.ok(budget.tryWithdraw(0));
    assert.equal(budget.tryWithdraw(0), false);
    assert.equal(budget.available(500), 2);
    assert.equal(budget.available(60_000), 8);
    const defaults = new RetryBudget({ retryRatio: 0 });
    assert.equal(
      defaults.available(0),
      (DEFAULT_MIN_RETRIES_PER_SECOND * DEFAULT_RETRY_BUDGET_TTL_MS) / 1000,
    );
  });

  await t.step("rejects bad options", () => {
    assert.throws(() => new RetryBudget({ retryRatio: 2 }), RangeError);
    assert.throws(() => new RetryBudget({ minRetriesPerSecond: -1 }), RangeError);
    assert.throws(() => new RetryBudget({ ttlMs: 0 }), RangeError);
    assert.throws(() => new RetryBudget().available(NaN), RangeError);
  });

  await t.step("property: never negative, and grants ≤ ratio·requests + reserve refills", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 20 }),
        fc.array(
          fc.record({ gapMs: fc.integer({ min: 0, max: 2000 }), request: fc.boolean() }),
          { maxLength: 200 },
        ),
        (retryRatio, minRetriesPerSecond, events) => {
          const budget = new RetryBudget({ retryRatio, minRetriesPerSecond });
          let nowMs = 0;
          let requests = 0;
          let granted = 0;
          for (const e of events) {
            nowMs += e.gapMs;
            if (e.request) {
              budget.onRequest(nowMs);
              requests += 1;
            } else if (budget.tryWithdraw(nowMs)) {
              granted += 1;
            }
            assert.ok(budget.available(nowMs) >= 0);
          }
          const reserveS = DEFAULT_RETRY_BUDGET_TTL_MS / 1000;
          const bound = retryRatio * requests + minRetriesPerSecond * (reserveS + nowMs / 1000);
          assert.ok(granted <= bound + 1e-9, `granted ${granted} > bound ${bound}`);
        },
      ),
      { numRuns: 300 },
    );
  });
});

Deno.test("mayHedge needs a repeat-safe tool and a budget token", () => {
  const budget = new RetryBudget({ retryRatio: 0, minRetriesPerSecond: 1, ttlMs: 1_000 });
  assert.equal(mayHedge({ annotations: WRITE, budget, nowMs: 0 }), false);
  assert.equal(mayHedge({ annotations: READ_ONLY, budget, nowMs: 0 }), true);
  assert.equal(mayHedge({ annotations: READ_ONLY, budget, nowMs: 0 }), false);
  assert.equal(mayHedge({ annotations: IDEMPOTENT }), true);
  assert.throws(() => mayHedge({ annotations: READ_ONLY, budget }), RangeError);
});

Deno.test("OutcomeUnknownError.ofWrite: a lost replicated write, never repeated for the caller", () => {
  const error = OutcomeUnknownError.ofWrite("LeaderLost on the leader");
  assert.ok(error instanceof OutcomeUnknownError);
  assert.equal(error.safeToRetry, false);
  assert.equal(error.toolName, undefined);
  assert.match(error.message, /may or may not have been applied \(LeaderLost on the leader\)/);
});
