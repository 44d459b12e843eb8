import assert from "node:assert/strict";
import fc from "fast-check";
import { SeededRng } from "../rng.ts";
import { LeastOutstandingStrategy } from "./least_outstanding.ts";
import { StatsTable } from "./stats.ts";

function withOutstanding(counts: readonly number[]): StatsTable {
  const table = new StatsTable();
  counts.forEach((n, i) => {
    for (let k = 0; k < n; k++) table.onStart(`r${i}`, 0);
  });
  return table;
}

Deno.test("least outstanding", async (t) => {
  await t.step("table: picks the least loaded; unknown replicas count as idle", () => {
    const lo = new LeastOutstandingStrategy();
    const rng = new SeededRng(5);
    const cases: Array<[number[], string[], string]> = [
      [[3, 1, 2], ["r0", "r1", "r2"], "r1"],
      [[0, 4], ["r0", "r1"], "r0"],
      [[2, 2, 0], ["r0", "r1", "r2"], "r2"],
      [[5, 5], ["r0", "r1", "unknown"], "unknown"],
    ];
    for (const [counts, candidates, expected] of cases) {
      assert.equal(lo.pick(candidates, withOutstanding(counts), rng), expected);
    }
    assert.equal(lo.pick([], new StatsTable(), rng), undefined);
  });

  await t.step("ties are shared, not always the first", () => {
    const lo = new LeastOutstandingStrategy();
    const rng = new SeededRng(11);
    const seen = new Set<string | undefined>();
    const table = withOutstanding([1, 1, 1, 1]);
    for (let i = 0; i < 200; i++) seen.add(lo.pick(["r0", "r1", "r2", "r3"], table, rng));
    assert.deepEqual([...seen].sort(), ["r0", "r1", "r2", "r3"]);
  });

  await t.step(
    "property: never picks a replica with strictly more outstanding than another",
    () => {
      fc.assert(
        fc.property(
          fc.array(fc.integer({ min: 0, max: 8 }), { minLength: 1, maxLength: 16 }),
          fc.integer(),
          (counts, seed) => {
            const ids = counts.map((_, i) => `r${i}`);
            const id = new LeastOutstandingStrategy().pick(
              ids,
              withOutstanding(counts),
              new SeededRng(seed),
            );
            assert.ok(id !== undefined);
            const picked = counts[ids.indexOf(id)];
            assert.equal(picked, Math.min(...counts));
          },
        ),
        { numRuns: 300 },
      );
    },
  );
});
