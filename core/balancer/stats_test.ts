import assert from "node:assert/strict";
import fc from "fast-check";
import { decayedPeakEwmaMs, StatsTable, StatsTableFullError } from "./stats.ts";

Deno.test("StatsTable", async (t) => {
  await t.step("first sample initialises every estimate", () => {
    const table = new StatsTable();
    table.onStart("a", 100);
    assert.equal(table.get("a")?.outstanding, 1);
    table.onFinish("a", 150, 50, false);
    const s = table.get("a");
    assert.deepEqual(s, {
      replicaId: "a",
      ewmaLatencyMs: 50,
      peakEwmaLatencyMs: 50,
      outstanding: 0,
      errorRate: 1,
      samples: 1,
      lastUpdateMs: 150,
      lastSampleMs: 150,
    });
  });

  await t.step("EWMA moves by alpha towards each sample", () => {
    const table = new StatsTable({ ewmaAlpha: 0.5 });
    for (const [now, latency, ok] of [[10, 100, true], [20, 200, true], [30, 0, false]] as const) {
      table.onStart("a", now);
      table.onFinish("a", now, latency, ok);
    }
    assert.equal(table.get("a")?.ewmaLatencyMs, 75); // 100 → 150 → 75
    assert.equal(table.get("a")?.errorRate, 0.5); // 0 → 0 → 0.5
  });

  await t.step("peak EWMA jumps up at once and decays with time since the last sample", () => {
    const table = new StatsTable({ peakDecayMs: 1000 });
    const sample = (now: number, latency: number) => {
      table.onStart("a", now);
      table.onFinish("a", now, latency, true);
    };
    sample(0, 10);
    sample(10, 500);
    assert.equal(table.get("a")?.peakEwmaLatencyMs, 500);
    sample(10, 10); // no time passed: the peak is kept entirely
    assert.equal(table.get("a")?.peakEwmaLatencyMs, 500);
    sample(1010, 10); // one time constant later: weight e^-1 on the old peak
    const expected = 500 * Math.exp(-1) + 10 * (1 - Math.exp(-1));
    assert.ok(Math.abs((table.get("a")?.peakEwmaLatencyMs ?? 0) - expected) < 1e-9);
    const s = table.get("a");
    assert.ok(s);
    assert.ok(Math.abs(decayedPeakEwmaMs(s, 2010, 1000) - expected * Math.exp(-1)) < 1e-9);
    assert.equal(decayedPeakEwmaMs(s, 0, 1000), s.peakEwmaLatencyMs, "no decay backwards");
  });

  await t.step("a finish without a start is a contract violation", () => {
    const table = new StatsTable();
    table.onStart("a", 0);
    assert.equal(table.onFinish("a", 0, 1, true), true);
    assert.throws(() => table.onFinish("a", 0, 1, true), /no outstanding call/);
    table.onStart("a", 0);
    assert.equal(table.onAbandon("a", 1), true);
    assert.equal(table.get("a")?.outstanding, 0);
    assert.equal(table.get("a")?.samples, 1, "an abandoned call is not a sample");
    assert.throws(() => table.onAbandon("a", 2), /no outstanding call/);
  });

  await t.step("calls finishing after their replica was removed are ignored", () => {
    const table = new StatsTable();
    table.onStart("a", 0);
    table.onStart("a", 0);
    table.remove("a");
    assert.equal(table.onFinish("a", 5, 5, true), false);
    assert.equal(table.onAbandon("a", 5), false);
    assert.equal(table.get("a"), undefined);
    assert.equal(table.onFinish("never-seen", 5, 5, true), false);
  });

  await t.step("rejects bad time, latency and options", () => {
    const table = new StatsTable();
    assert.throws(() => table.onStart("a", NaN), RangeError);
    table.onStart("a", 0);
    assert.throws(() => table.onFinish("a", 0, -1, true), RangeError);
    assert.throws(() => new StatsTable({ ewmaAlpha: 0 }), RangeError);
    assert.throws(() => new StatsTable({ peakDecayMs: 0 }), RangeError);
  });

  await t.step("bounded: refuses a replica beyond maxReplicas until one is removed", () => {
    const table = new StatsTable({ maxReplicas: 2 });
    table.onStart("a", 0);
    table.onStart("b", 0);
    assert.throws(() => table.onStart("c", 0), StatsTableFullError);
    assert.equal(table.remove("a"), true);
    table.onStart("c", 0);
    assert.deepEqual(table.snapshot().map((s) => s.replicaId), ["b", "c"]);
  });

  await t.step("property: estimates stay within the range of the samples", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            gapMs: fc.integer({ min: 0, max: 5000 }),
            latencyMs: fc.integer({ min: 0, max: 10_000 }),
            ok: fc.boolean(),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        (events) => {
          const table = new StatsTable();
          let now = 0;
          for (const e of events) {
            now += e.gapMs;
            table.onStart("a", now);
            table.onFinish("a", now, e.latencyMs, e.ok);
          }
          const s = table.get("a");
          assert.ok(s);
          const latencies = events.map((e) => e.latencyMs);
          const lo = Math.min(...latencies) - 1e-6;
          const hi = Math.max(...latencies) + 1e-6;
          assert.ok(s.ewmaLatencyMs >= lo && s.ewmaLatencyMs <= hi);
          assert.ok(s.peakEwmaLatencyMs >= lo && s.peakEwmaLatencyMs <= hi);
          assert.ok(s.peakEwmaLatencyMs >= latencies[latencies.length - 1] - 1e-6);
          assert.ok(s.errorRate >= 0 && s.errorRate <= 1);
          assert.equal(s.outstanding, 0);
          assert.equal(s.samples, events.length);
        },
      ),
      { numRuns: 200 },
    );
  });
});
