import assert from "node:assert/strict";
import { swarmConfig } from "./swarm.ts";
import { runSimulation } from "./simulation.ts";

Deno.test("the swarm draws every cluster size from 1 to 7, even ones included", () => {
  const sizes = new Set<number>();
  for (let seed = 1; seed <= 200; seed++) sizes.add(swarmConfig(seed).nodeCount);
  assert.deepEqual([...sizes].sort(), [1, 2, 3, 4, 5, 6, 7]);
});

Deno.test("the swarm draws lease reads, membership changes, tiny messages and inflight limits", () => {
  const configs = Array.from({ length: 200 }, (_, i) => swarmConfig(i + 1));
  const lease = configs.filter((c) => c.readOnlyOption === "leaseBased");
  assert.ok(lease.length > 20, `${lease.length} lease-read seeds`);
  // Lease reads assume bounded clocks and no stalls: such seeds draw neither.
  assert.ok(lease.every((c) => c.faults.pausePerSec === 0 && c.faults.maxClockDrift <= 0.02));
  assert.ok(configs.filter((c) => c.membership.changesPerSec > 0).length > 40);
  assert.ok(configs.some((c) => c.maxSizePerMsgBytes < 1024));
  assert.ok(configs.some((c) => c.maxInflightMsgs === 1));
  for (const c of configs) {
    assert.ok(c.faults.maxCorruptNodes === 0 || c.nodeCount >= 3, `seed ${c.seed}`);
  }
});

Deno.test("membership changes go through joint consensus under faults and the run stays correct", () => {
  // Seed 2: five voters and two spares; a joint change adds the spares and removes a voter.
  const r = runSimulation({ seed: 2 });
  assert.deepEqual(r.violations, []);
  assert.ok(r.membershipChanges.several > 0, JSON.stringify(r.membershipChanges));
  assert.notDeepEqual(r.finalVoters, ["n1", "n2", "n3", "n4", "n5"]);
  assert.ok(r.finalVoters.some((id) => id === "n6" || id === "n7"), r.finalVoters.join(","));
});
