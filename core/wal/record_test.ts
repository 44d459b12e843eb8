import assert from "node:assert/strict";
import { encodeRecords, readRecord, type WalRecord } from "./record.ts";

// Bytes written by the first record encoder (one payload array per record). WALs on
// disk hold this format: the encoder may change how it writes, never what.
const GOLDEN_HEX = "0c000000145b7f8401020000006e31020000006331140000005e28a644020000000000" +
  "0008400000000000001c400001020311000000ffb4bdde0200000000000008400000000000002040011300" +
  "000005830a750300000000000008400000000000001c40016e321100000072ed11d2030000000000001040" +
  "00000000000020400010000000663ee35a0400000000000014400000000000000040";

const RECORDS: WalRecord[] = [
  { kind: "metadata", nodeId: "n1", clusterId: "c1" },
  { kind: "entry", entry: { term: 3, index: 7, type: "normal", data: new Uint8Array([1, 2, 3]) } },
  { kind: "entry", entry: { term: 3, index: 8, type: "confChange", data: new Uint8Array(0) } },
  { kind: "hardState", hardState: { term: 3, vote: "n2", commit: 7 } },
  { kind: "hardState", hardState: { term: 4, vote: null, commit: 8 } },
  { kind: "snapshot", index: 5, term: 2 },
];

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

Deno.test("the record encoding is byte-for-byte the format on disk", () => {
  assert.equal(hex(encodeRecords(RECORDS)), GOLDEN_HEX);
});

Deno.test("records read back from the golden bytes, at any offset in a larger buffer", () => {
  const golden = new Uint8Array(GOLDEN_HEX.match(/../g)!.map((h) => parseInt(h, 16)));
  const padded = new Uint8Array(golden.length + 5);
  padded.set(golden, 3);
  const bytes = padded.subarray(3, 3 + golden.length);
  const read: WalRecord[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const r = readRecord(bytes, offset);
    assert.ok(r.ok, r.ok ? "" : r.detail);
    read.push(r.record);
    offset = r.nextOffset;
  }
  assert.deepEqual(read, RECORDS);
});

Deno.test("a node id that starts with U+FEFF keeps it", () => {
  const bytes = encodeRecords([{
    kind: "hardState",
    hardState: { term: 1, vote: "\ufeffn", commit: 0 },
  }]);
  const r = readRecord(bytes, 0);
  assert.ok(r.ok);
  assert.deepEqual(r.record, {
    kind: "hardState",
    hardState: { term: 1, vote: "\ufeffn", commit: 0 },
  });
});
