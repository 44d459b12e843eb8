import assert from "node:assert/strict";
import fc from "fast-check";
import { SeededRng } from "../rng.ts";
import { mayRunTwice, type ToolSafetyHints } from "../resilience/mod.ts";
import { type Attempt, type CallEffect, CallExecutor, CallRouter } from "./mod.ts";
import type { AttemptOutcome } from "./outcome.ts";

const REPLICAS = ["r0", "r1", "r2", "r3"];
const hintsArb: fc.Arbitrary<ToolSafetyHints | undefined> = fc.option(
  fc.record({ readOnlyHint: fc.boolean(), idempotentHint: fc.boolean() }, { requiredKeys: [] }),
  { nil: undefined },
);
/** What a driver can see of an attempt it did not cancel (a cancelled one ends "cancelled"). */
const endArb = fc.constantFrom<AttemptOutcome>(
  "ok",
  "remote-error",
  "not-sent",
  "failed",
  "unknown",
);

type Step =
  | { kind: "end"; pick: number; outcome: AttemptOutcome; raced: boolean; afterMs: number }
  | { kind: "timer" }
  | { kind: "client-cancel" };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant("end" as const),
      pick: fc.nat(),
      outcome: endArb,
      raced: fc.boolean(),
      afterMs: fc.integer({ min: 0, max: 40 }),
    }),
  },
  { weight: 3, arbitrary: fc.constant({ kind: "timer" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "client-cancel" as const }) },
);

/**
 * A driver that performs effects literally and checks every guarantee the executor
 * gives, whatever order attempts end in.
 */
class CheckingDriver {
  readonly exec: CallExecutor;
  readonly router: CallRouter;
  nowMs = 0;
  timerAtMs: number | undefined = undefined;
  answers = 0;
  clientCancelled = false;
  readonly running = new Set<Attempt>();
  readonly cancelled = new Set<Attempt>();
  readonly ended = new Map<Attempt, AttemptOutcome>();

  constructor(router: CallRouter, annotations: ToolSafetyHints | undefined, hedging: boolean) {
    this.router = router;
    this.exec = new CallExecutor(router, { toolName: "t", annotations }, 0, { hedging });
    this.apply(this.exec.start(0), undefined);
  }

  apply(effects: CallEffect[], reported: Attempt | undefined): void {
    for (const effect of effects) {
      switch (effect.kind) {
        case "start":
          assert.equal(this.answers, 0, "an attempt started after the answer");
          assert.ok(!this.clientCancelled, "an attempt started after the client cancelled");
          assert.ok(!this.running.has(effect.attempt) && !this.ended.has(effect.attempt));
          this.running.add(effect.attempt);
          break;
        case "cancel":
          assert.ok(this.running.has(effect.attempt), "cancel of an attempt not running");
          assert.ok(!this.cancelled.has(effect.attempt), "cancelled twice");
          this.cancelled.add(effect.attempt);
          break;
        case "set-timer":
          assert.ok(effect.atMs >= this.nowMs, "a timer in the past");
          this.timerAtMs = effect.atMs;
          break;
        case "clear-timer":
          assert.notEqual(this.timerAtMs, undefined, "cleared a timer never set");
          this.timerAtMs = undefined;
          break;
        case "reply":
          this.answers += 1;
          this.allOthersCancelled();
          assert.equal(effect.attempt, reported, "the reply names another attempt than reported");
          break;
        case "fail":
          this.answers += 1;
          this.allOthersCancelled();
          break;
      }
    }
  }

  /** `raced`: a cancelled attempt ended its own way before the cancellation reached it. */
  allOthersCancelled(): void {
    for (const attempt of this.running) {
      assert.ok(this.cancelled.has(attempt), "an attempt outlived the answer uncancelled");
    }
  }

  end(attempt: Attempt, outcome: AttemptOutcome, raced: boolean): void {
    this.running.delete(attempt);
    const seen = this.cancelled.has(attempt) && !raced ? "cancelled" : outcome;
    this.ended.set(attempt, seen);
    this.apply(this.exec.attemptEnded(attempt, seen, this.nowMs), attempt);
  }

  step(step: Step): void {
    switch (step.kind) {
      case "end": {
        if (this.running.size === 0) return;
        const attempts = [...this.running];
        this.nowMs += step.afterMs;
        this.end(attempts[step.pick % attempts.length], step.outcome, step.raced);
        return;
      }
      case "timer": {
        if (this.timerAtMs === undefined) return;
        this.nowMs = Math.max(this.nowMs, this.timerAtMs);
        this.timerAtMs = undefined;
        this.apply(this.exec.timerFired(this.nowMs), undefined);
        return;
      }
      case "client-cancel":
        this.clientCancelled = true;
        this.apply(this.exec.clientCancelled(), undefined);
        return;
    }
  }
}

Deno.test("property: exactly one answer, no attempt left running, a write never runs twice", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1_000 }),
      hintsArb,
      fc.boolean(),
      fc.boolean(),
      fc.array(stepArb, { maxLength: 30 }),
      fc.array(endArb, { minLength: 12, maxLength: 12 }),
      (seed, annotations, hedging, budget, steps, drainOutcomes) => {
        const router = new CallRouter({
          serviceId: "svc",
          rng: new SeededRng(seed),
          retryBudget: budget ? undefined : null,
          maxAttempts: 4,
          hedgeDelayMs: 5,
          replicas: REPLICAS.map((id) => ({ id, tools: ["t"] })),
        });
        for (const id of REPLICAS) router.observe(id, { kind: "probe", atMs: 0, ok: true });
        const driver = new CheckingDriver(router, annotations, hedging);
        for (const step of steps) driver.step(step);
        // The transport ends whatever is still running; each retry is bounded by maxAttempts.
        for (let i = 0; driver.running.size > 0; i++) {
          assert.ok(i < drainOutcomes.length, "attempts kept starting after the drain");
          const [attempt] = driver.running;
          driver.end(attempt, drainOutcomes[i], false);
        }
        assert.equal(driver.answers, 1, "exactly one answer");
        assert.equal(driver.exec.answered, true);
        assert.equal(driver.exec.running.length, 0);
        assert.equal(router.metrics().inFlight, 0, "an attempt was left in flight in the router");
        if (!mayRunTwice(annotations)) {
          const mayHaveRun = [...driver.ended.values()].filter((o) => o !== "not-sent").length;
          assert.ok(mayHaveRun <= 1, `a write may have run ${mayHaveRun} times`);
        }
        if (!hedging) {
          assert.equal([...driver.ended.keys()].filter((a) => a.hedge).length, 0);
        }
      },
    ),
    { numRuns: 400 },
  );
});
