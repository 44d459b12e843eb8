import assert from "node:assert/strict";
import fc from "fast-check";
import { SeededRng } from "../rng.ts";
import { ConsistentHashStrategy, HashRing, ringHash32 } from "./consistent_hash.ts";
import { StatsTable } from "./stats.ts";

const stats = new StatsTable();
const ids = (n: number, prefix = "replica-") =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const keys = (n: number) => Array.from({ length: n }, (_, i) => `session-${i}`);

Deno.test("consistent hash", async (t) => {
  await t.step("ringHash32 is a stable unsigned 32-bit hash", () => {
    assert.equal(ringHash32(""), ringHash32(""));
    assert.notEqual(ringHash32("a"), ringHash32("b"));
    for (const text of ["", "x", "session-1", "ü∂"]) {
      const h = ringHash32(text);
      assert.ok(Number.isInteger(h) && h >= 0 && h < 2 ** 32);
    }
  });

  await t.step("the ring depends on the set of replicas, not their order", () => {
    const a = new HashRing(["x", "y", "z"], 32);
    const b = new HashRing(["z", "x", "y"], 32);
    for (const key of keys(500)) assert.equal(a.lookup(key), b.lookup(key));
  });

  await t.step("keys spread roughly evenly with the default virtual nodes", () => {
    const strategy = new ConsistentHashStrategy();
    const rng = new SeededRng(0);
    const replicas = ids(8);
    const counts = new Map<string, number>();
    for (const key of keys(16_000)) {
      const id = strategy.pick(replicas, stats, rng, { key });
      assert.ok(id);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    for (const id of replicas) {
      const share = (counts.get(id) ?? 0) / 16_000;
      assert.ok(share > 0.125 * 0.6 && share < 0.125 * 1.4, `${id} share ${share}`);
    }
  });

  await t.step("without a key the pick is random among candidates", () => {
    const strategy = new ConsistentHashStrategy();
    const rng = new SeededRng(1);
    const seen = new Set<string | undefined>();
    for (let i = 0; i < 100; i++) seen.add(strategy.pick(["a", "b", "c"], stats, rng));
    assert.deepEqual([...seen].sort(), ["a", "b", "c"]);
    assert.equal(strategy.pick([], stats, rng, { key: "k" }), undefined);
  });

  await t.step("rejects bad ring sizes", () => {
    assert.throws(() => new ConsistentHashStrategy({ virtualNodesPerReplica: 0 }), RangeError);
    assert.throws(() => new HashRing(ids(2), 2 ** 20), RangeError);
  });

  await t.step("property: same key → same replica, and always a candidate", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 16 }),
        fc.array(fc.string({ maxLength: 24 }), { minLength: 1, maxLength: 20 }),
        (replicas, sessionKeys) => {
          const strategy = new ConsistentHashStrategy({ virtualNodesPerReplica: 16 });
          const rng = new SeededRng(0);
          for (const key of sessionKeys) {
            const first = strategy.pick(replicas, stats, rng, { key });
            assert.ok(first !== undefined && replicas.includes(first));
            assert.equal(strategy.pick([...replicas].reverse(), stats, rng, { key }), first);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  await t.step("property: a join moves only keys to the newcomer, at most ~2/n of them", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 16 }), fc.string({ maxLength: 6 }), (n, prefix) => {
        const before = new HashRing(ids(n, `${prefix}/`), 160);
        const after = new HashRing([...ids(n, `${prefix}/`), `${prefix}/joiner`], 160);
        const sample = keys(2000);
        let moved = 0;
        for (const key of sample) {
          const was = before.lookup(key);
          const now = after.lookup(key);
          if (was !== now) {
            moved += 1;
            assert.equal(now, `${prefix}/joiner`, "a join only moves keys to the new replica");
          }
        }
        assert.ok(moved / sample.length <= 2 / n, `moved ${moved} of ${sample.length}, n=${n}`);
      }),
      { numRuns: 40 },
    );
  });

  await t.step("property: a leave moves only the leaver's keys", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 16 }), fc.nat(), (n, leaverIndex) => {
        const replicas = ids(n);
        const leaver = replicas[leaverIndex % n];
        const before = new HashRing(replicas, 64);
        const after = new HashRing(replicas.filter((id) => id !== leaver), 64);
        for (const key of keys(1000)) {
          const was = before.lookup(key);
          if (was !== leaver) assert.equal(after.lookup(key), was, `${key} moved off ${was}`);
          else assert.notEqual(after.lookup(key), leaver);
        }
      }),
      { numRuns: 40 },
    );
  });
});
