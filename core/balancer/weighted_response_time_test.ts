import assert from "node:assert/strict";
import fc from "fast-check";
import { SeededRng } from "../rng.ts";
import { StatsTable } from "./stats.ts";
import { WeightedResponseTimeStrategy } from "./weighted_response_time.ts";

function sampled(entries: Array<[string, number]>): StatsTable {
  const table = new StatsTable();
  for (const [id, latencyMs] of entries) {
    table.onStart(id, 0);
    table.onFinish(id, 0, latencyMs, true);
  }
  return table;
}

function shares(
  candidates: string[],
  table: StatsTable,
  picks: number,
  seed: number,
): Map<string, number> {
  const wrt = new WeightedResponseTimeStrategy();
  const rng = new SeededRng(seed);
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const id = wrt.pick(candidates, table, rng);
    assert.ok(id !== undefined);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return new Map([...counts].map(([id, n]) => [id, n / picks]));
}

Deno.test("weighted response time", async (t) => {
  await t.step("shares follow 1 / (latency + 1 ms)", () => {
    // weights 1/10 and 1/40: expected shares 0.8 and 0.2
    const s = shares(["fast", "slow"], sampled([["fast", 9], ["slow", 39]]), 20_000, 99);
    assert.ok(Math.abs((s.get("fast") ?? 0) - 0.8) < 0.02, `fast share ${s.get("fast")}`);
  });

  await t.step("an unsampled replica is weighted as the mean, not as infinitely fast", () => {
    // weights: a = 1/10, b = 1/30, new = mean = 1/15 → shares 0.5, 1/6, 1/3
    const s = shares(["a", "b", "new"], sampled([["a", 9], ["b", 29]]), 30_000, 7);
    assert.ok(Math.abs((s.get("new") ?? 0) - 1 / 3) < 0.02, `new share ${s.get("new")}`);
  });

  await t.step("no samples at all: uniform", () => {
    const s = shares(["a", "b", "c", "d"], new StatsTable(), 20_000, 3);
    for (const id of ["a", "b", "c", "d"]) assert.ok(Math.abs((s.get(id) ?? 0) - 0.25) < 0.02);
  });

  await t.step("property: returns a candidate or undefined for none", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 40 }),
        fc.integer(),
        (latencies, seed) => {
          const ids = latencies.map((_, i) => `r${i}`);
          const table = sampled(ids.filter((_, i) => i % 3 !== 0).map((id) => [id, 5]));
          const id = new WeightedResponseTimeStrategy().pick(ids, table, new SeededRng(seed));
          if (ids.length === 0) assert.equal(id, undefined);
          else assert.ok(id !== undefined && ids.includes(id));
        },
      ),
      { numRuns: 200 },
    );
  });
});
