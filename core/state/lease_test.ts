import assert from "node:assert/strict";
import fc from "fast-check";
import type { Command } from "./commands.ts";
import { KvStore } from "./kv.ts";
import { Lessor } from "./lease.ts";
import { WatchHub } from "./watch.ts";

/** A store plus a primary lessor, applying commands at successive indices with a clock. */
function leader(nowMs = 0) {
  const store = new KvStore();
  const lessor = new Lessor({ expireRetryMs: 50 });
  lessor.promote(nowMs, store.leases());
  const apply = (cmd: Command, atMs: number) => {
    const result = store.apply(store.appliedIndex + 1, cmd);
    lessor.observe(result, atMs);
    return result;
  };
  return { store, lessor, apply };
}

Deno.test("lessor", async (t) => {
  await t.step(
    "a lease is due exactly ttl after its grant, and expiring it deletes its keys",
    () => {
      const { store, lessor, apply } = leader();
      apply({ op: "leaseGrant", leaseId: 1, ttlMs: 100, nowMs: 10 }, 10);
      apply({ op: "put", key: "services/a", value: "up", leaseId: 1 }, 20);
      assert.deepEqual(lessor.expireCommands(109, 3, store), []);
      assert.equal(lessor.remainingMs(1, 109), 1);
      const commands = lessor.expireCommands(110, 3, store);
      assert.deepEqual(commands, [{ op: "leaseExpire", leaseId: 1, term: 3, renewIndex: 1 }]);
      const result = apply(commands[0], 111);
      assert.ok(result.ok && result.op === "leaseExpire");
      assert.deepEqual(result.deletedKeys, ["services/a"]);
      assert.equal(store.get("services/a"), null);
      assert.equal(lessor.size, 0);
    },
  );
  await t.step("keep-alives push the deadline back", () => {
    const { store, lessor, apply } = leader();
    apply({ op: "leaseGrant", leaseId: 1, ttlMs: 100, nowMs: 0 }, 0);
    apply({ op: "leaseKeepAlive", leaseId: 1, nowMs: 90 }, 90);
    assert.deepEqual(lessor.expireCommands(150, 1, store), []);
    assert.deepEqual(lessor.due(190), [1]);
  });
  await t.step("a proposed expiry is not re-proposed until the retry delay passes", () => {
    const { store, lessor, apply } = leader();
    apply({ op: "leaseGrant", leaseId: 1, ttlMs: 10, nowMs: 0 }, 0);
    assert.equal(lessor.expireCommands(10, 1, store).length, 1);
    assert.equal(lessor.expireCommands(59, 1, store).length, 0, "proposal may still be in flight");
    assert.equal(lessor.expireCommands(60, 1, store).length, 1, "proposal was lost: retry");
  });
  await t.step("due leases come earliest first, bounded per call", () => {
    const store = new KvStore();
    const lessor = new Lessor({ maxExpiriesPerCall: 2 });
    [[3, 30], [1, 50], [2, 30], [4, 10]].forEach(([leaseId, ttlMs], i) =>
      store.apply(i + 1, { op: "leaseGrant", leaseId, ttlMs, nowMs: 0 })
    );
    lessor.promote(0, store.leases());
    assert.deepEqual(lessor.due(100), [4, 2]);
    assert.deepEqual(lessor.expireCommands(100, 1, store).map((c) => c.leaseId), [4, 2]);
    assert.deepEqual(lessor.expireCommands(100, 1, store).map((c) => c.leaseId), [3, 1]);
  });
  await t.step("a follower's lessor decides nothing", () => {
    const store = new KvStore();
    const lessor = new Lessor();
    lessor.observe(store.apply(1, { op: "leaseGrant", leaseId: 1, ttlMs: 1, nowMs: 0 }), 0);
    assert.equal(lessor.isPrimary, false);
    assert.deepEqual(lessor.expireCommands(1_000_000, 1, store), []);
  });
  await t.step("leases that vanished from the store are forgotten", () => {
    const { store, lessor } = leader();
    store.apply(1, { op: "leaseGrant", leaseId: 1, ttlMs: 5, nowMs: 0 });
    lessor.promote(0, store.leases());
    store.apply(2, { op: "leaseRevoke", leaseId: 1 });
    assert.deepEqual(lessor.expireCommands(10, 1, store), []);
    assert.equal(lessor.size, 0);
  });
  await t.step("bad arguments are refused", () => {
    const { store, lessor } = leader();
    assert.throws(() => lessor.due(-1), RangeError);
    assert.throws(() => lessor.expireCommands(0, 0, store), RangeError);
    assert.throws(() => new Lessor({ expireRetryMs: 0 }), RangeError);
  });
});

Deno.test("leader change", async (t) => {
  await t.step("the new leader restarts every TTL, so the failover itself expires nothing", () => {
    const old = leader();
    old.apply({ op: "leaseGrant", leaseId: 1, ttlMs: 100, nowMs: 0 }, 0);
    old.apply({ op: "put", key: "a", value: "", leaseId: 1 }, 0);
    // The new leader's clock is unrelated; it learns leases from the replicated state.
    const follower = KvStore.restore(old.store.snapshot());
    const lessor = new Lessor();
    lessor.promote(5000, follower.leases(), 20);
    assert.deepEqual(lessor.expireCommands(5119, 2, follower), []);
    assert.equal(lessor.expireCommands(5120, 2, follower).length, 1);
  });
  await t.step("a deposed leader's expiry decided before a keep-alive is fenced off", () => {
    const old = leader();
    old.apply({ op: "leaseGrant", leaseId: 1, ttlMs: 100, nowMs: 0 }, 0);
    old.apply({ op: "put", key: "a", value: "", leaseId: 1 }, 0);
    const [stale] = old.lessor.expireCommands(100, 1, old.store);
    // Meanwhile the new leader (term 2) applied a keep-alive; then the stale entry commits.
    old.apply({ op: "leaseKeepAlive", leaseId: 1, nowMs: 101 }, 101);
    const result = old.store.apply(old.store.appliedIndex + 1, stale);
    assert.ok(!result.ok && result.code === "fenced");
    assert.equal(old.store.get("a")?.value, "", "the key survives");
  });
  await t.step("demoting forgets deadlines", () => {
    const { lessor, apply } = leader();
    apply({ op: "leaseGrant", leaseId: 1, ttlMs: 1, nowMs: 0 }, 0);
    lessor.demote();
    assert.equal(lessor.isPrimary, false);
    assert.equal(lessor.size, 0);
    assert.deepEqual(lessor.due(100), []);
  });
});

Deno.test("expiring a lease deletes its keys with watch events", () => {
  const { store, lessor, apply } = leader();
  const hub = new WatchHub();
  apply({ op: "leaseGrant", leaseId: 9, ttlMs: 10, nowMs: 0 }, 0);
  apply({ op: "put", key: "s/b", value: "2", leaseId: 9 }, 0);
  apply({ op: "put", key: "s/a", value: "1", leaseId: 9 }, 0);
  const id = hub.watch(store, { prefix: "s/" });
  for (const cmd of lessor.expireCommands(10, 1, store)) apply(cmd, 10);
  const [delivery] = hub.poll(store);
  assert.ok(delivery.kind === "events" && delivery.watchId === id);
  assert.deepEqual(
    delivery.events.map((e) => [e.type, e.kv.key, e.revision, e.prevKv?.value]),
    [["delete", "s/a", 3, "1"], ["delete", "s/b", 3, "2"]],
  );
});

Deno.test("property: leases survive snapshot/restore and a leased key never outlives its lease", () => {
  const arbStep = fc.oneof(
    fc.record({
      kind: fc.constant("grant" as const),
      id: fc.integer({ min: 1, max: 3 }),
      ttlMs: fc.integer({ min: 1, max: 50 }),
    }),
    fc.record({
      kind: fc.constant("put" as const),
      id: fc.integer({ min: 1, max: 3 }),
      key: fc.constantFrom("a", "b", "c"),
    }),
    fc.record({ kind: fc.constant("keepAlive" as const), id: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ kind: fc.constant("tick" as const), ms: fc.integer({ min: 1, max: 40 }) }),
    fc.record({ kind: fc.constant("failover" as const) }),
  );
  fc.assert(
    fc.property(fc.array(arbStep, { maxLength: 40, size: "max" }), (steps) => {
      let store = new KvStore();
      let lessor = new Lessor();
      let nowMs = 0;
      let term = 1;
      lessor.promote(nowMs, store.leases());
      const apply = (cmd: Command) =>
        lessor.observe(store.apply(store.appliedIndex + 1, cmd), nowMs);
      for (const step of steps) {
        if (step.kind === "grant") {
          apply({ op: "leaseGrant", leaseId: step.id, ttlMs: step.ttlMs, nowMs });
        } else if (step.kind === "put") {
          apply({ op: "put", key: step.key, value: "", leaseId: step.id });
        } else if (step.kind === "keepAlive") {
          apply({ op: "leaseKeepAlive", leaseId: step.id, nowMs });
        } else if (step.kind === "tick") {
          nowMs += step.ms;
          for (const cmd of lessor.expireCommands(nowMs, term, store)) apply(cmd);
        } else {
          store = KvStore.restore(store.snapshot());
          lessor = new Lessor();
          term++;
          lessor.promote(nowMs, store.leases());
        }
        for (const kv of store.range("", 10).kvs) {
          const lease = store.lease(kv.leaseId);
          assert.ok(
            lease !== null && lease.keys.includes(kv.key),
            `key ${kv.key} without its lease`,
          );
        }
        for (const lease of store.leases()) {
          const remaining = lessor.remainingMs(lease.id, nowMs);
          assert.ok(remaining !== null && remaining > 0, `lease ${lease.id} is overdue`);
          assert.ok(remaining <= lease.ttlMs, `lease ${lease.id} deadline beyond its TTL`);
        }
      }
    }),
    { numRuns: 150 },
  );
});
