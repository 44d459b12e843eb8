import assert from "node:assert/strict";
import {
  type AuditBatch,
  auditCoalesceKey,
  auditField,
  auditSlot,
  expiredAuditSlots,
  fitAuditBatch,
  MAX_AUDIT_FIELD_CHARS,
  newestAuditRecords,
} from "./policy_audit.ts";

const record = (timeMs: number, target = "svc:t") => ({
  principal: "6:apiKey|bob",
  action: "tools/call",
  target,
  decision: "denied" as const,
  timeMs,
  revision: 3,
});

Deno.test("slots form a ring per node: the count of kept batches is bounded without deletes", () => {
  assert.deepEqual([0, 1, 2, 3, 4].map((seq) => auditSlot(seq, 3)), [0, 1, 2, 0, 1]);
  assert.throws(() => auditSlot(-1, 3), RangeError);
  assert.throws(() => auditSlot(1, 0), RangeError);
});

Deno.test("expired slots are those older than the age bound, in slot order", () => {
  const times = new Map([[2, 100], [0, 50], [1, 900]]);
  assert.deepEqual(expiredAuditSlots(times, 1_000, 500), [0, 2]);
  assert.deepEqual(expiredAuditSlots(times, 1_000, 5_000), []);
});

Deno.test("a reader gets the newest records within the age bound, in a fixed order, and the dropped count", () => {
  const batches: AuditBatch[] = [
    { node: "A", seq: 0, timeMs: 100, records: [record(100, "old")] },
    { node: "A", seq: 1, timeMs: 900, records: [record(850, "b"), record(900, "c")], dropped: 4 },
    { node: "B", seq: 0, timeMs: 900, records: [record(850, "a")] },
  ];
  const { records, dropped } = newestAuditRecords(batches, 1_000, 500, 3);
  assert.deepEqual(records.map((r) => r.target), ["c", "b", "a"]);
  assert.equal(dropped, 4);
  assert.deepEqual(newestAuditRecords([...batches].reverse(), 1_000, 500, 3).records, records);
});

Deno.test("coalescing keys and field bounds", () => {
  assert.equal(auditCoalesceKey(record(1)), auditCoalesceKey(record(2)));
  assert.notEqual(auditCoalesceKey(record(1)), auditCoalesceKey(record(1, "other")));
  assert.equal(auditField("x".repeat(10_000)).length, MAX_AUDIT_FIELD_CHARS);
});

Deno.test("a batch keeps the records that fit its byte bound and counts the rest", () => {
  const big = (i: number) => ({ ...record(i, "é".repeat(400)), principal: "𝄞".repeat(100) });
  const records = Array.from({ length: 100 }, (_, i) => big(i));
  const one = new TextEncoder().encode(JSON.stringify(records[0])).length + 1;
  const { kept, dropped } = fitAuditBatch(records, 256 + 10 * one);
  assert.equal(kept.length, 10);
  assert.equal(dropped, 90);
  assert.deepEqual(fitAuditBatch(records.slice(0, 3)), { kept: records.slice(0, 3), dropped: 0 });
});
