import assert from "node:assert/strict";
import { SeededRng } from "@safla/core";
import { encodeCommand } from "@safla/core/state";
import {
  RegistryCommands,
  registryFromStore,
  registryProblems,
  RegistryTappedKvStateMachine,
} from "./registry_check.ts";
import { runSimulation } from "./simulation.ts";
import type { SwarmConfig } from "./swarm.ts";

/** `count` registry commands from one seed, encoded. */
function commandLog(seed: number, count: number): Uint8Array[] {
  const rng = new SeededRng(seed);
  const commands = new RegistryCommands();
  return Array.from({ length: count }, (_, i) => encodeCommand(commands.next(rng, i)));
}

Deno.test("tapped state machines fed the same log agree with the store", async (t) => {
  const log = commandLog(3, 400);
  const nodes = ["n1", "n2", "n3"].map((nodeId) => ({
    nodeId,
    stateMachine: new RegistryTappedKvStateMachine(),
  }));
  for (const { stateMachine } of nodes) log.forEach((c, i) => stateMachine.apply(c, i + 1));

  await t.step("the workload registers, catalogs and removes replicas", () => {
    const sm = nodes[0].stateMachine;
    assert.ok(sm.registry.toJSON().records.length > 0, "no replica registered at the end");
    assert.ok(
      sm.registry.toJSON().records.some((r) => r.catalog !== null),
      "no replica with a catalog",
    );
    assert.ok(sm.store.revision > 100, `only ${sm.store.revision} writes applied`);
    assert.deepEqual(sm.errors, []);
  });

  await t.step("no problems", () => {
    assert.deepEqual(registryProblems(nodes), []);
  });

  await t.step("a node restored from a snapshot mid-log still agrees", () => {
    const restored = new RegistryTappedKvStateMachine();
    restored.restore(nodes[0].stateMachine.snapshot());
    assert.deepEqual(
      restored.registry.toJSON().records,
      registryFromStore(nodes[0].stateMachine.store).toJSON().records,
    );
    assert.deepEqual(registryProblems([...nodes, { nodeId: "n4", stateMachine: restored }]), []);
  });
});

Deno.test("a node that drops one registry change is caught", async (t) => {
  const log = commandLog(5, 60);
  // Dropping a change is only visible when no later write to that key hides it; every
  // position that is visible must be caught, and some must be.
  let caught = 0;
  for (let drop = 1; drop <= 60; drop++) {
    const good = new RegistryTappedKvStateMachine();
    const bad = new RegistryTappedKvStateMachine({ dropRegistryChange: drop });
    for (const sm of [good, bad]) log.forEach((c, i) => sm.apply(c, i + 1));
    const visible = JSON.stringify(bad.registry.toJSON().records) !==
      JSON.stringify(good.registry.toJSON().records);
    const problems = registryProblems([
      { nodeId: "n1", stateMachine: good },
      { nodeId: "n2", stateMachine: bad },
    ]);
    assert.equal(problems.length > 0, visible, `drop ${drop}: ${problems.join("\n")}`);
    if (visible) {
      caught++;
      await t.step(`drop ${drop} is reported for n2`, () => {
        assert.match(problems[0], /^n2 registry differs from the committed KV state/);
      });
    }
  }
  assert.ok(caught > 0, "no dropped change was visible");
});

/** Registry changes of n1 searched for one whose drop no later write hides. */
const MAX_REGISTRY_DROPS_SEARCHED = 60;

Deno.test("the whole-cluster campaign reports a dropped registry change", () => {
  const short = (c: SwarmConfig): SwarmConfig => ({
    ...c,
    chaosUs: 1_500_000,
    workload: { ...c.workload, registryRatio: 0.5 },
  });
  const clean = runSimulation({ seed: 1, adjust: short });
  assert.deepEqual(clean.violations, []);
  assert.ok(clean.workload.registryWrites > 20, `${clean.workload.registryWrites} writes`);
  // n1 drops its Nth registry change. Whether a later write to that key hides the
  // drop moves with every change of replication timing, so search for the first
  // drop that stays visible rather than pinning N (it was 20, 19, 18, then 32).
  let reported: string | undefined;
  for (let drop = 1; drop <= MAX_REGISTRY_DROPS_SEARCHED && reported === undefined; drop++) {
    const run = runSimulation({
      seed: 1,
      adjust: short,
      bugs: { registryTap: { dropRegistryChange: drop } },
    });
    assert.deepEqual(
      run.violations.filter((v) => v.kind !== "registry"),
      [],
      `drop ${drop}: only the registry check may object`,
    );
    reported = run.violations.find((v) => v.kind === "registry")?.detail;
  }
  assert.ok(
    reported,
    `no dropped registry change of 1-${MAX_REGISTRY_DROPS_SEARCHED} was reported`,
  );
  assert.match(reported, /^n1 registry differs from the committed KV state/);
});
