import assert from "node:assert/strict";
import fc from "fast-check";
import { SeededRng } from "../rng.ts";
import { RoundRobinStrategy } from "./round_robin.ts";
import { StatsTable } from "./stats.ts";

const stats = new StatsTable();
const rng = new SeededRng(1);

Deno.test("round robin", async (t) => {
  await t.step("rotates in order and wraps", () => {
    const rr = new RoundRobinStrategy();
    const picks = Array.from({ length: 7 }, () => rr.pick(["a", "b", "c"], stats, rng));
    assert.deepEqual(picks, ["a", "b", "c", "a", "b", "c", "a"]);
  });

  await t.step("returns undefined for no candidates and keeps rotating afterwards", () => {
    const rr = new RoundRobinStrategy();
    assert.equal(rr.pick([], stats, rng), undefined);
    assert.equal(rr.pick(["a", "b"], stats, rng), "a");
    assert.equal(rr.pick(["a", "b"], stats, rng), "b");
  });

  await t.step("continues sensibly when the candidate list shrinks", () => {
    const rr = new RoundRobinStrategy();
    rr.pick(["a", "b", "c", "d"], stats, rng);
    rr.pick(["a", "b", "c", "d"], stats, rng);
    rr.pick(["a", "b", "c", "d"], stats, rng); // cursor now at index 3
    assert.equal(rr.pick(["a", "b"], stats, rng), "b"); // 3 mod 2
    assert.equal(rr.pick(["a", "b"], stats, rng), "a");
  });

  await t.step("property: fair over k·n picks from any starting position", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 30 }),
        (n, k, warmup) => {
          const rr = new RoundRobinStrategy();
          const ids = Array.from({ length: n }, (_, i) => `r${i}`);
          for (let i = 0; i < warmup; i++) rr.pick(ids.slice(0, 1 + (i % n)), stats, rng);
          const counts = new Map<string, number>();
          for (let i = 0; i < k * n; i++) {
            const id = rr.pick(ids, stats, rng);
            assert.ok(id !== undefined && ids.includes(id));
            counts.set(id, (counts.get(id) ?? 0) + 1);
          }
          for (const id of ids) assert.equal(counts.get(id), k, `${id} picked unfairly`);
        },
      ),
      { numRuns: 200 },
    );
  });
});
