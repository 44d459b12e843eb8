import assert from "node:assert/strict";
import fc from "fast-check";
import type { Entry } from "../raft/types.ts";
import { encodeRecords, readRecord, type WalRecord } from "./record.ts";
import { replayWal, WalCorruptionError } from "./replay.ts";

const entry = (index: number, term: number, text = `e${index}`): WalRecord => ({
  kind: "entry",
  entry: { index, term, type: "normal", data: new TextEncoder().encode(text) },
});
const hard = (term: number, commit: number, vote: string | null = null): WalRecord => ({
  kind: "hardState",
  hardState: { term, commit, vote },
});
const indices = (entries: Entry[]) => entries.map((e) => `${e.index}@${e.term}`);

Deno.test("every record kind round-trips through encode and read", () => {
  const records: WalRecord[] = [
    { kind: "metadata", nodeId: "n1", clusterId: "c-ü" },
    entry(1, 1),
    {
      kind: "entry",
      entry: { index: 2, term: 1, type: "confChange", data: new Uint8Array([1, 2]) },
    },
    hard(3, 2, "n2"),
    hard(4, 2, null),
    { kind: "snapshot", index: 2, term: 1 },
  ];
  const bytes = encodeRecords(records);
  const decoded: WalRecord[] = [];
  for (let offset = 0; offset < bytes.length;) {
    const read = readRecord(bytes, offset);
    assert.ok(read.ok, "record should decode");
    decoded.push(read.record);
    offset = read.nextOffset;
  }
  assert.deepEqual(decoded, records);
});

Deno.test("replay keeps the last hard state and lets later entries overwrite a suffix", () => {
  const segment = encodeRecords([
    entry(1, 1),
    entry(2, 1),
    entry(3, 1),
    hard(1, 1, "a"),
    entry(2, 2, "new"),
    hard(2, 2, "b"),
  ]);
  const state = replayWal([segment]);
  assert.deepEqual(indices(state.entries), ["1@1", "2@2"]);
  assert.deepEqual(state.hardState, { term: 2, commit: 2, vote: "b" });
  assert.equal(state.tornTail, false);
  assert.equal(state.validBytesInLastSegment, segment.length);
});

Deno.test("replay drops entries covered by a snapshot marker, across segments", () => {
  const first = encodeRecords([entry(1, 1), entry(2, 1), entry(3, 2)]);
  const second = encodeRecords([{ kind: "snapshot", index: 2, term: 1 }, entry(4, 2), hard(2, 4)]);
  const state = replayWal([first, second]);
  assert.deepEqual(state.snapshot, { index: 2, term: 1 });
  assert.deepEqual(indices(state.entries), ["3@2", "4@2"]);
});

Deno.test("a record cut short at the end of the last segment is a torn tail", () => {
  const good = encodeRecords([entry(1, 1), hard(1, 1)]);
  const torn = encodeRecords([entry(2, 1)]).subarray(0, 12);
  const state = replayWal([new Uint8Array([...good, ...torn])]);
  assert.equal(state.tornTail, true);
  assert.equal(state.validBytesInLastSegment, good.length);
  assert.deepEqual(indices(state.entries), ["1@1"]);
});

Deno.test("a garbage tail with no valid record after it is torn, not corrupt", () => {
  const good = encodeRecords([entry(1, 1)]);
  const state = replayWal([new Uint8Array([...good, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]);
  assert.equal(state.tornTail, true);
  assert.equal(state.validBytesInLastSegment, good.length);
});

Deno.test("a bad record followed by valid records is corruption, never truncated", () => {
  const bytes = encodeRecords([entry(1, 1), entry(2, 1), entry(3, 1)]);
  const second = encodeRecords([entry(1, 1)]).length + 12;
  bytes[second] ^= 0xff;
  assert.throws(() => replayWal([bytes]), WalCorruptionError);
});

Deno.test("any damage to a segment that is not the last is corruption", () => {
  const older = encodeRecords([entry(1, 1), entry(2, 1)]);
  const cut = older.subarray(0, older.length - 3);
  assert.throws(() => replayWal([cut, encodeRecords([entry(3, 1)])]), /segment 0 is corrupt/);
});

Deno.test("a gap in entry indices is corruption", () => {
  assert.throws(
    () => replayWal([encodeRecords([entry(1, 1), entry(3, 1)])]),
    /gap after snapshot 0/,
  );
});

Deno.test("a commit index beyond the log is corruption", () => {
  assert.throws(
    () => replayWal([encodeRecords([entry(1, 1), hard(1, 5)])]),
    /beyond the last entry/,
  );
});

Deno.test("property: cutting the log at any byte recovers exactly the records fully written", () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ maxLength: 20 }), { minLength: 1, maxLength: 12 }),
      fc.nat(),
      (texts, cutSeed) => {
        const records = texts.map((t, i) => entry(i + 1, 1, t));
        const ends: number[] = [];
        let total = 0;
        for (const r of records) ends.push(total += encodeRecords([r]).length);
        const bytes = encodeRecords(records);
        const cut = cutSeed % (bytes.length + 1);
        const state = replayWal([bytes.subarray(0, cut)]);
        const complete = ends.filter((end) => end <= cut).length;
        assert.equal(state.entries.length, complete);
        assert.equal(state.validBytesInLastSegment, complete === 0 ? 0 : ends[complete - 1]);
        assert.equal(state.tornTail, cut !== state.validBytesInLastSegment);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("a gap left by released segments is fine once a snapshot marker covers it", () => {
  const released = encodeRecords([entry(25, 1), entry(26, 1)]);
  const last = encodeRecords([{ kind: "snapshot", index: 25, term: 1 }, entry(27, 1)]);
  assert.deepEqual(indices(replayWal([released, last]).entries), ["26@1", "27@1"]);
  assert.throws(() => replayWal([released]), /gap after snapshot 0/);
});

Deno.test("a flipped bit in a record's length is corruption, not a torn tail", () => {
  const bytes = encodeRecords([hard(1, 0), hard(2, 0)]);
  bytes[1] ^= 1;
  assert.throws(() => replayWal([bytes]), WalCorruptionError);
});

Deno.test("property: one flipped bit in any record but the last never loses a later record", () => {
  fc.assert(
    fc.property(
      fc.array(fc.string({ maxLength: 16 }), { minLength: 2, maxLength: 8 }),
      fc.nat(),
      (texts, bitSeed) => {
        const records = texts.map((t, i) => entry(i + 1, 1, t));
        const bytes = encodeRecords(records);
        const lastRecordBytes = encodeRecords([records[records.length - 1]]).length;
        const bits = (bytes.length - lastRecordBytes) * 8;
        const bit = bitSeed % bits;
        bytes[bit >> 3] ^= 1 << (bit & 7);
        assert.throws(() => replayWal([bytes]), WalCorruptionError);
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("replayed entries own their data: changing the segments afterwards changes nothing", () => {
  const segment = encodeRecords([
    entry(1, 1, "dropped"),
    entry(2, 1, "kept-a"),
    { kind: "snapshot", index: 1, term: 1 },
    entry(3, 1, "kept-b"),
  ]);
  const state = replayWal([segment]);
  segment.fill(0);
  const text = (e: Entry) => new TextDecoder().decode(e.data);
  assert.deepEqual(state.entries.map(text), ["kept-a", "kept-b"]);
  // Both survivors share one buffer of exactly their bytes, none of the dropped entry.
  assert.equal(state.entries[0].data.buffer, state.entries[1].data.buffer);
  assert.equal(state.entries[0].data.buffer.byteLength, "kept-akept-b".length);
});

/**
 * The replay's rules applied to every record decoded, none skipped: what
 * replayWal gave before it stopped decoding entries the latest marker covers.
 */
function replayDecodingAll(records: readonly WalRecord[]): { snapshot: number; entries: string[] } {
  let snapshot = 0;
  let entries: Entry[] = [];
  for (const record of records) {
    if (record.kind === "snapshot") {
      snapshot = record.index;
      entries = entries.filter((e) => e.index > record.index);
    } else if (record.kind === "entry") {
      const e = record.entry;
      if (e.index <= snapshot) continue;
      const first = entries.length > 0 ? entries[0].index : snapshot + 1;
      const last = entries.length > 0 ? entries[entries.length - 1].index : snapshot;
      if (e.index > last + 1 || e.index < first) {
        entries = [e];
        continue;
      }
      entries.length = e.index - first;
      entries.push(e);
    }
  }
  return { snapshot, entries: indices(entries) };
}

Deno.test("property: skipping the entries the latest marker covers recovers what decoding all does", () => {
  // Appends, rewrites of a suffix (Raft overwriting uncommitted entries), and
  // markers that never move back, split into segments anywhere.
  const arbStep = fc.oneof(
    { arbitrary: fc.constant({ op: "append" as const, back: 0 }), weight: 5 },
    { arbitrary: fc.record({ op: fc.constant("rewrite" as const), back: fc.nat(4) }), weight: 1 },
    { arbitrary: fc.record({ op: fc.constant("marker" as const), back: fc.nat(6) }), weight: 1 },
  );
  fc.assert(
    fc.property(
      fc.array(arbStep, { minLength: 1, maxLength: 60 }),
      fc.array(fc.nat(), { maxLength: 4 }),
      (steps, cuts) => {
        const records: WalRecord[] = [];
        let last = 0;
        let marker = 0;
        let term = 1;
        for (const step of steps) {
          if (step.op === "append") {
            records.push(entry(++last, term));
          } else if (step.op === "rewrite") {
            last = Math.max(marker, last - step.back);
            term++;
            records.push(entry(++last, term));
          } else {
            marker = Math.max(marker, last - step.back);
            records.push({ kind: "snapshot", index: marker, term });
          }
        }
        const expected = replayDecodingAll(records);
        const at = [...new Set(cuts.map((c) => c % (records.length + 1)))].sort((a, b) => a - b);
        const bounds = [0, ...at, records.length];
        const segments = bounds.slice(1).map((end, i) =>
          encodeRecords(records.slice(bounds[i], end))
        );
        let state;
        try {
          state = replayWal(segments);
        } catch (error) {
          // A gap the markers never covered: both readings must see it.
          assert.ok(error instanceof WalCorruptionError);
          assert.ok(
            expected.entries.length > 0 &&
              !expected.entries[0].startsWith(`${expected.snapshot + 1}@`),
          );
          return;
        }
        assert.equal(state.snapshot.index, expected.snapshot);
        assert.deepEqual(indices(state.entries), expected.entries);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("a skipped rewrite still drops the suffix it overwrote", () => {
  // Entries 1..10 of term 1, then Raft overwrites from 7 in term 2 and a
  // snapshot covers 7: the old 8..10 must not come back.
  const records: WalRecord[] = [];
  for (let i = 1; i <= 10; i++) records.push(entry(i, 1));
  records.push(entry(7, 2), { kind: "snapshot", index: 7, term: 2 });
  const state = replayWal([encodeRecords(records)]);
  assert.deepEqual(state.snapshot, { index: 7, term: 2 });
  assert.deepEqual(indices(state.entries), []);
  assert.deepEqual(replayDecodingAll(records), { snapshot: 7, entries: [] });
});
