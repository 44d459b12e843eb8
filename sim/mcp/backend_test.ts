import assert from "node:assert/strict";
import fc from "fast-check";
import { SeededRng } from "@safla/core";
import { Scheduler } from "../scheduler.ts";
import { type BackendReply, SimBackend } from "./backend.ts";
import { DEFAULT_LATENCY, LatencyModel, quantile } from "./latency.ts";

const FIXED_10MS = new LatencyModel({
  medianMs: 10,
  sigma: 0,
  tailProbability: 0,
  tailAlpha: 1,
  maxMs: 10,
});

function backend(scheduler: Scheduler, concurrency = 1, queueLimit = 100): SimBackend {
  return new SimBackend(scheduler, new SeededRng(1), {
    id: "r",
    concurrency,
    queueLimit,
    latency: FIXED_10MS,
    errorReplyMs: 1,
  });
}

Deno.test("SimBackend", async (t) => {
  await t.step("serves FIFO with bounded concurrency", () => {
    const scheduler = new Scheduler();
    const b = backend(scheduler, 2);
    const doneAtMs: number[] = [];
    for (let i = 0; i < 4; i++) {
      b.receive({ callId: i, toolName: "t" }, () => doneAtMs.push(scheduler.nowUs / 1000));
    }
    scheduler.runUntil(1_000_000, 100);
    assert.deepEqual(doneAtMs, [10, 10, 20, 20]);
    assert.equal(b.executed, 4);
  });

  await t.step(
    "slowdown multiplies service time; error bursts answer failed without running",
    () => {
      const scheduler = new Scheduler();
      const b = backend(scheduler);
      b.setSlowdown(10);
      const replies: Array<[BackendReply, number]> = [];
      b.receive({ callId: 1, toolName: "t" }, (r) => replies.push([r, scheduler.nowUs / 1000]));
      b.setFailing(true);
      b.receive({ callId: 2, toolName: "t" }, (r) => replies.push([r, scheduler.nowUs / 1000]));
      scheduler.runUntil(1_000_000, 100);
      assert.deepEqual(replies, [["failed", 1], ["ok", 100]]);
      assert.equal(b.executionsOf(2), 0);
    },
  );

  await t.step("a crash loses queued and running calls; running ones did execute", () => {
    const scheduler = new Scheduler();
    const b = backend(scheduler);
    const replies: number[] = [];
    for (let i = 0; i < 3; i++) b.receive({ callId: i, toolName: "t" }, () => replies.push(i));
    scheduler.at(5_000, () => b.crash());
    scheduler.at(6_000, () => b.receive({ callId: 9, toolName: "t" }, () => replies.push(9)));
    scheduler.at(7_000, () => b.restart());
    scheduler.at(8_000, () => b.receive({ callId: 10, toolName: "t" }, () => replies.push(10)));
    scheduler.runUntil(1_000_000, 100);
    assert.deepEqual(replies, [10]);
    assert.deepEqual([...b.executions().entries()], [[0, 1], [10, 1]]);
    assert.equal(b.crashes, 1);
  });

  await t.step("a full queue sheds load with an error", () => {
    const scheduler = new Scheduler();
    const b = backend(scheduler, 1, 1);
    const replies: BackendReply[] = [];
    for (let i = 0; i < 3; i++) b.receive({ callId: i, toolName: "t" }, (r) => replies.push(r));
    scheduler.runUntil(1_000_000, 100);
    assert.deepEqual(replies.sort(), ["failed", "ok", "ok"]);
  });
});

Deno.test("LatencyModel: lognormal body around the median with a heavy, capped tail", () => {
  const model = new LatencyModel(DEFAULT_LATENCY);
  const rng = new SeededRng(3);
  const samples = Array.from({ length: 20_000 }, () => model.sample(rng));
  const p50 = quantile(samples, 0.5);
  assert.ok(Math.abs(p50 - 10) < 0.5, `p50 ${p50}`);
  // 1% of calls get a Pareto(1.5) multiplier: p99.9 sits about 4.6× above the median,
  // and the largest of 20 000 samples far beyond.
  assert.ok(quantile(samples, 0.999) > 4 * p50, "the tail is heavy");
  assert.ok(Math.max(...samples) > 20 * p50, "the tail is heavy");
  assert.ok(samples.every((s) => s > 0 && s <= DEFAULT_LATENCY.maxMs));
  assert.throws(() => new LatencyModel({ ...DEFAULT_LATENCY, medianMs: 0 }), RangeError);
});

Deno.test("quantile: nearest rank over any sample", () => {
  assert.equal(quantile([5, 1, 3, 2, 4], 0.5), 3);
  assert.equal(quantile([5, 1, 3, 2, 4], 0.99), 5);
  assert.ok(Number.isNaN(quantile([], 0.5)));
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: 0, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 50 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (samples, q) => {
        const value = quantile(samples, q);
        assert.ok(samples.includes(value));
        const below = samples.filter((s) => s <= value).length;
        assert.ok(below >= Math.ceil(q * samples.length));
      },
    ),
    { numRuns: 200 },
  );
});
