import assert from "node:assert/strict";
import { runSimulation } from "./simulation.ts";
import type { SwarmConfig } from "./swarm.ts";

/** Shortens a drawn configuration so tests stay fast. */
const short = (c: SwarmConfig): SwarmConfig => ({ ...c, chaosUs: 1_500_000 });

Deno.test("the same seed twice gives the same trace hash; another seed does not", () => {
  const a = runSimulation({ seed: 11, nodeCount: 3, adjust: short });
  const b = runSimulation({ seed: 11, nodeCount: 3, adjust: short });
  const c = runSimulation({ seed: 12, nodeCount: 3, adjust: short });
  assert.equal(a.traceHash, b.traceHash);
  assert.equal(a.traceEvents, b.traceEvents);
  assert.equal(a.schedulerEvents, b.schedulerEvents);
  assert.deepEqual(a.traceTail, b.traceTail);
  assert.notEqual(a.traceHash, c.traceHash);
  assert.ok(a.traceEvents > 1000, `only ${a.traceEvents} events`);
});

Deno.test("correct configurations pass every checker", () => {
  for (let seed = 1; seed <= 4; seed++) {
    const r = runSimulation({ seed, adjust: short });
    assert.deepEqual(r.violations, [], `seed ${seed}:\n${r.traceTail.join("\n")}`);
    assert.equal(r.linearizability, "linearizable");
    assert.notEqual(r.convergedAfterTicks, null);
    assert.ok(r.committedIndex > r.config.nodeCount, `seed ${seed} committed ${r.committedIndex}`);
    assert.ok(r.workload.ok > 0);
  }
});

Deno.test("seeds where campaigns once found harness bugs stay clean", async (t) => {
  // 524: the watch check ran before the new leader's commit was applied everywhere.
  // 1934: a local snapshot's WAL marker landed after a newer one from the leader.
  for (const seed of [524, 1934]) {
    await t.step(`seed ${seed}`, () => {
      const r = runSimulation({ seed });
      assert.deepEqual(r.violations.map((v) => `${v.kind}: ${v.detail}`), []);
    });
  }
});
