import assert from "node:assert/strict";
import fc from "fast-check";
import {
  HealthError,
  type HealthObservation,
  type HealthPolicy,
  initialHealth,
  observeHealth,
} from "./health.ts";
import { HealthTable } from "./health_table.ts";

const policy: HealthPolicy = {
  unhealthyAfterFailures: 2,
  healthyAfterSuccesses: 1,
  minDwellMs: 100,
  requireTools: false,
};

Deno.test("HealthTable", async (t) => {
  await t.step("tracks replicas independently and reports changes", () => {
    const table = new HealthTable(policy);
    assert.equal(table.status("gh", "a"), "unknown");
    const up = table.observe("gh", "a", { kind: "probe", atMs: 0, ok: true, toolCount: 2 });
    assert.deepEqual(up, {
      serviceId: "gh",
      replicaId: "a",
      transition: { from: "unknown", to: "healthy", atMs: 0, reason: "1 consecutive successes" },
    });
    assert.equal(table.observe("gh", "b", { kind: "call", atMs: 1, ok: false }), null);
    assert.equal(
      table.observe("gh", "b", { kind: "call", atMs: 2, ok: false })?.transition.to,
      "unhealthy",
    );
    assert.equal(table.status("gh", "a"), "healthy");
    assert.equal(table.size, 2);
  });
  await t.step("tick applies transitions the dwell time held back", () => {
    const table = new HealthTable(policy);
    table.observe("s", "a", { kind: "probe", atMs: 0, ok: true });
    table.observe("s", "b", { kind: "probe", atMs: 0, ok: true });
    for (const atMs of [10, 11]) {
      assert.equal(table.observe("s", "a", { kind: "call", atMs, ok: false }), null);
      assert.equal(table.observe("s", "b", { kind: "call", atMs, ok: false }), null);
    }
    assert.deepEqual(table.tick(99), []);
    assert.deepEqual(table.tick(100).map((c) => `${c.replicaId}:${c.transition.to}`), [
      "a:unhealthy",
      "b:unhealthy",
    ]);
    assert.throws(() => table.tick(50), HealthError);
  });
  await t.step("forget, JSON round trip and validation", () => {
    const table = new HealthTable(policy);
    table.observe("s", "a", { kind: "probe", atMs: 0, ok: true });
    table.observe("s", "b", { kind: "disconnected", atMs: 3 });
    const copy = HealthTable.fromJSON(JSON.parse(JSON.stringify(table)));
    assert.deepEqual(copy.toJSON(), table.toJSON());
    assert.equal(copy.status("s", "b"), "disconnected");
    assert.ok(table.forget("s", "a"));
    assert.ok(!table.forget("s", "a"));
    assert.equal(table.status("s", "a"), "unknown");
    const snapshot = copy.toJSON();
    assert.throws(
      () =>
        HealthTable.fromJSON({ ...snapshot, entries: [snapshot.entries[0], snapshot.entries[0]] }),
      /twice/,
    );
    const broken = structuredClone(snapshot);
    (broken.entries[0].state as { status: string }).status = "fine";
    assert.throws(() => HealthTable.fromJSON(broken), /malformed/);
    assert.throws(() => new HealthTable({ ...policy, healthyAfterSuccesses: 0 }), HealthError);
  });
  await t.step("each replica behaves exactly like its own state machine", () => {
    const observation = fc.record({
      replica: fc.constantFrom("a", "b", "c"),
      gapMs: fc.integer({ min: 0, max: 80 }),
      kind: fc.constantFrom("probe", "call", "tick", "disconnected", "connected"),
      ok: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(observation, { maxLength: 60 }), (steps) => {
        const table = new HealthTable(policy);
        const solo = new Map<string, ReturnType<typeof initialHealth>>();
        let atMs = 0;
        for (const { replica, gapMs, kind, ok } of steps) {
          atMs += gapMs;
          const o = (kind === "probe" || kind === "call"
            ? { kind, atMs, ok }
            : { kind, atMs }) as HealthObservation;
          const change = table.observe("s", replica, o);
          const step = observeHealth(solo.get(replica) ?? initialHealth(atMs), o, policy);
          solo.set(replica, step.state);
          assert.deepEqual(change?.transition ?? null, step.transition);
          assert.deepEqual(table.state("s", replica), step.state);
        }
      }),
      { numRuns: 150 },
    );
  });
});
