import assert from "node:assert/strict";
import fc from "fast-check";
import { SeededRng } from "../rng.ts";
import { P2cPeakEwmaStrategy } from "./p2c_peak_ewma.ts";
import { StatsTable } from "./stats.ts";

function sampled(entries: Array<[string, number]>): StatsTable {
  const table = new StatsTable({ peakDecayMs: 1000 });
  for (const [id, latencyMs] of entries) {
    table.onStart(id, 0);
    table.onFinish(id, 0, latencyMs, true);
  }
  return table;
}

Deno.test("P2C peak EWMA", async (t) => {
  await t.step("cost is peak EWMA × (outstanding + 1)", () => {
    const p2c = new P2cPeakEwmaStrategy();
    const table = sampled([["a", 20]]);
    assert.equal(p2c.cost("a", table), 20);
    table.onStart("a", 0);
    table.onStart("a", 0);
    assert.equal(p2c.cost("a", table), 60);
  });

  await t.step("unsampled replicas: free when idle, penalised while a probe is in flight", () => {
    const p2c = new P2cPeakEwmaStrategy({ unsampledPenaltyMs: 5000 });
    const table = new StatsTable();
    assert.equal(p2c.cost("new", table), 0);
    table.onStart("new", 0);
    assert.equal(p2c.cost("new", table), 5001);
  });

  await t.step("with nowMs an idle replica's peak decays, so it is tried again", () => {
    const p2c = new P2cPeakEwmaStrategy({ peakDecayMs: 1000 });
    const table = sampled([["slow", 1000], ["fast", 10]]);
    const rng = new SeededRng(4);
    assert.equal(p2c.pick(["slow", "fast"], table, rng, { nowMs: 0 }), "fast");
    assert.ok(Math.abs(p2c.cost("slow", table, 1000) - 1000 * Math.exp(-1)) < 1e-9);
    // Five time constants without traffic shrink the slow replica's old peak to ≈ 6.7 ms,
    // below the fast replica's fresh 10 ms sample: the slow one gets to prove itself again.
    table.onStart("fast", 5000);
    table.onFinish("fast", 5000, 10, true);
    assert.equal(p2c.pick(["slow", "fast"], table, rng, { nowMs: 5000 }), "slow");
  });

  await t.step("a replica with calls in flight does not age: a hung replica stays costly", () => {
    const p2c = new P2cPeakEwmaStrategy({ peakDecayMs: 1000 });
    const table = sampled([["hung", 100], ["ok", 20]]);
    table.onStart("hung", 0);
    assert.equal(p2c.cost("hung", table, 60_000), 200);
    assert.equal(p2c.pick(["hung", "ok"], table, new SeededRng(1), { nowMs: 60_000 }), "ok");
  });

  await t.step("edge cases: empty and single candidate", () => {
    const p2c = new P2cPeakEwmaStrategy();
    const rng = new SeededRng(1);
    assert.equal(p2c.pick([], new StatsTable(), rng), undefined);
    assert.equal(p2c.pick(["only"], new StatsTable(), rng), "only");
  });

  await t.step("rejects bad options", () => {
    assert.throws(() => new P2cPeakEwmaStrategy({ unsampledPenaltyMs: -1 }), RangeError);
    assert.throws(() => new P2cPeakEwmaStrategy({ peakDecayMs: 0 }), RangeError);
  });

  await t.step("with a fixed seed it sends most calls to the fast replica", () => {
    const p2c = new P2cPeakEwmaStrategy();
    const table = sampled([["fast", 5], ["slow-1", 200], ["slow-2", 250]]);
    const rng = new SeededRng(2024);
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const id = p2c.pick(["fast", "slow-1", "slow-2"], table, rng);
      assert.ok(id);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    // fast wins every draw it is in (2 of 3 pairs); slow-1 wins only against slow-2.
    const fastShare = (counts.get("fast") ?? 0) / 3000;
    assert.ok(fastShare > 0.6 && fastShare < 0.73, `fast share ${fastShare}`);
    assert.equal(counts.get("slow-2") ?? 0, 0, "the worst replica never wins a draw");
  });

  await t.step("property: always a candidate, never the single worst of ≥ 2", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), { minLength: 2, maxLength: 16 }),
        fc.integer(),
        (latencies, seed) => {
          const ids = latencies.map((_, i) => `r${i}`);
          const table = sampled(ids.map((id, i) => [id, latencies[i]]));
          const p2c = new P2cPeakEwmaStrategy();
          const rng = new SeededRng(seed);
          const worst = ids[latencies.indexOf(Math.max(...latencies))];
          for (let i = 0; i < 20; i++) {
            const id = p2c.pick(ids, table, rng);
            assert.ok(id !== undefined && ids.includes(id));
            assert.notEqual(id, worst);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  await t.step("property: load-aware — outstanding calls push traffic away", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.integer(), (extra, seed) => {
        const table = sampled([["a", 10], ["b", 10]]);
        for (let i = 0; i < extra; i++) table.onStart("a", 0);
        const p2c = new P2cPeakEwmaStrategy();
        assert.equal(p2c.pick(["a", "b"], table, new SeededRng(seed)), "b");
      }),
      { numRuns: 100 },
    );
  });
});
