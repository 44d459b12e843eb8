// The audit log under a flood: one store write per flush interval at most,
// equal denials coalesced into one record with a count, distinct ones past
// the pending bound dropped and counted; a node's batches form a bounded
// ring of keys, and old slots are deleted.
import assert from "node:assert/strict";
import type { StateStore } from "../store/types.ts";
import { AUDIT_PREFIX, AuditLog } from "./audit_log.ts";

/** The part of a store the audit log uses, in memory, counting writes. */
function memoryStore() {
  const kv = new Map<string, string>();
  let revision = 0;
  const writes: string[] = [];
  const store = {
    range: (prefix: string, options: { limit?: number; after?: string } = {}) => {
      const all = [...kv].filter(([k]) => k.startsWith(prefix) && k > (options.after ?? ""))
        .sort(([a], [b]) => a < b ? -1 : 1).map(([key, value]) => ({ key, value }));
      const kvs = all.slice(0, options.limit ?? all.length);
      return Promise.resolve({ kvs, revision, more: kvs.length < all.length });
    },
    put: (key: string, value: string) => {
      writes.push(key);
      kv.set(key, value);
      return Promise.resolve({ revision: ++revision, prev: [] });
    },
    delete: (key: string) => {
      kv.delete(key);
      return Promise.resolve({ revision: ++revision, prev: [], deleted: 1 });
    },
  };
  return { store: store as unknown as StateStore, kv, writes };
}

const denial = (target: string, principal = "p") => ({
  principal,
  action: "tools/call",
  target,
  decision: "denied" as const,
  revision: 1,
});

Deno.test("a flood of denials makes one write per interval, coalesced, with drops counted", async () => {
  const { store, writes } = memoryStore();
  const log = new AuditLog();
  log.configure({ flushIntervalMs: 50, maxPendingRecords: 10 });
  await log.attach(store, "n1");
  try {
    for (let i = 0; i < 10_000; i++) log.record(denial("svc:same"));
    for (let i = 0; i < 100; i++) log.record(denial(`svc:t${i}`));
    assert.equal(writes.length, 0, "nothing written before the interval");
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(writes.length, 1, "one batch for the whole flood");
    const { records, dropped } = await log.list(100);
    assert.equal(records.length, 10);
    assert.equal(records.find((r) => r.target === "svc:same")?.count, 10_000);
    assert.equal(dropped, 91, "distinct records past the bound are dropped and counted");
    assert.equal(log.stats.dropped, 91);
  } finally {
    await log.close();
  }
});

Deno.test("a node's batches form a bounded ring; slots past the age bound are deleted", async () => {
  const { store, kv } = memoryStore();
  const log = new AuditLog();
  log.configure({ flushIntervalMs: 1_000_000, maxBatchesPerNode: 3, maxAgeMs: 60_000 });
  // Other nodes' batches: more than one page of a listing.
  for (let i = 0; i < 100; i++) {
    const batch = { node: `m${i}`, seq: 0, timeMs: Date.now() - 1_000, records: [] };
    await store.put(`${AUDIT_PREFIX}m${String(i).padStart(3, "0")}/000000`, JSON.stringify(batch));
  }
  await log.attach(store, "n1");
  for (let i = 0; i < 7; i++) {
    log.record(denial(`svc:${i}`));
    await log.flush();
  }
  const keys = [...kv.keys()].filter((k) => k.startsWith(`${AUDIT_PREFIX}n1/`));
  assert.equal(keys.length, 3, "the ring holds three batches");
  assert.deepEqual((await log.list(10)).records.map((r) => r.target), ["svc:6", "svc:5", "svc:4"]);
  // A restarted node continues after its newest batch instead of overwriting it.
  const again = new AuditLog();
  again.configure({ flushIntervalMs: 1_000_000, maxBatchesPerNode: 3, maxAgeMs: 0 });
  await again.attach(store, "n1");
  again.record(denial("svc:7"));
  await new Promise((r) => setTimeout(r, 5));
  await again.flush();
  assert.deepEqual(
    [...kv.keys()].filter((k) => k.startsWith(`${AUDIT_PREFIX}n1/`)),
    [`${AUDIT_PREFIX}n1/000001`],
    "batch 7 went to slot 1 (after the newest, not over it); every older slot is past the age bound",
  );
  await log.close();
  await again.close();
});
