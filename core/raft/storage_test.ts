import assert from "node:assert/strict";
import fc from "fast-check";
import {
  CompactedError,
  emptyConfState,
  MemoryStorage,
  SnapshotOutOfDateError,
  SnapshotTemporarilyUnavailableError,
  UnavailableError,
} from "./storage.ts";
import { RaftInvariantError } from "./entries.ts";
import type { Entry } from "./types.ts";

function ent(index: number, term: number, size = 0): Entry {
  return { index, term, type: "normal", data: new Uint8Array(size) };
}

/** Storage holding a compacted prefix up to 3 (term 3) and entries 4..5. */
function storage345(): MemoryStorage {
  const s = new MemoryStorage();
  s.append([ent(1, 1), ent(2, 2), ent(3, 3), ent(4, 4), ent(5, 5)]);
  s.compact(3);
  return s;
}

Deno.test("MemoryStorage", async (t) => {
  await t.step("term answers the compacted boundary and throws outside the log", () => {
    const s = storage345();
    assert.throws(() => s.term(2), CompactedError);
    assert.equal(s.term(3), 3);
    assert.equal(s.term(4), 4);
    assert.equal(s.term(5), 5);
    assert.throws(() => s.term(6), UnavailableError);
  });

  await t.step("entries respects bounds and the size limit but returns at least one", () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1, 10), ent(2, 1, 10), ent(3, 1, 10)]);
    assert.equal(s.entries(1, 4, Infinity).length, 3);
    assert.equal(s.entries(1, 4, 0).length, 1);
    assert.equal(s.entries(1, 4, 26 * 2).length, 2);
    assert.equal(s.entries(2, 2, Infinity).length, 0);
    assert.throws(() => s.entries(1, 5, Infinity), UnavailableError);
    s.compact(1);
    assert.throws(() => s.entries(1, 3, Infinity), CompactedError);
  });

  await t.step("first and last index follow compaction", () => {
    const s = storage345();
    assert.equal(s.firstIndex(), 4);
    assert.equal(s.lastIndex(), 5);
    s.compact(5);
    assert.equal(s.firstIndex(), 6);
    assert.equal(s.lastIndex(), 5);
    assert.equal(s.term(5), 5);
  });

  await t.step("compact rejects already-compacted and unavailable indices", () => {
    const s = storage345();
    assert.throws(() => s.compact(3), CompactedError);
    assert.throws(() => s.compact(6), UnavailableError);
    s.compact(4);
    assert.equal(s.firstIndex(), 5);
  });

  await t.step("append truncates a conflicting suffix and skips compacted entries", () => {
    const s = storage345();
    s.append([ent(3, 3), ent(4, 6), ent(5, 6)]);
    assert.deepEqual(s.entries(4, 6, Infinity).map((e) => e.term), [6, 6]);
    s.append([ent(5, 7), ent(6, 7)]);
    assert.deepEqual(s.entries(4, 7, Infinity).map((e) => e.term), [6, 7, 7]);
    s.append([ent(1, 1), ent(2, 2)]);
    assert.equal(s.lastIndex(), 6);
    assert.throws(() => s.append([ent(8, 7)]), RaftInvariantError);
  });

  await t.step("createSnapshot records term and conf state; older ones are refused", () => {
    const s = storage345();
    const cs = { ...emptyConfState(), voters: ["a", "b"] };
    const snap = s.createSnapshot(4, cs, new Uint8Array([1]));
    assert.equal(snap.metadata.term, 4);
    assert.deepEqual(s.snapshot().metadata.confState.voters, ["a", "b"]);
    assert.deepEqual(s.initialState().confState.voters, [], "membership comes from setConfState");
    s.setConfState(cs);
    assert.deepEqual(s.initialState().confState.voters, ["a", "b"]);
    assert.throws(() => s.createSnapshot(4, cs, new Uint8Array()), SnapshotOutOfDateError);
    assert.throws(() => s.createSnapshot(9, cs, new Uint8Array()), UnavailableError);
  });

  await t.step("applySnapshot replaces the log; an older snapshot is refused", () => {
    const s = storage345();
    const cs = emptyConfState();
    s.applySnapshot({ data: new Uint8Array(), metadata: { index: 10, term: 7, confState: cs } });
    assert.equal(s.firstIndex(), 11);
    assert.equal(s.lastIndex(), 10);
    assert.equal(s.term(10), 7);
    assert.throws(
      () =>
        s.applySnapshot({ data: new Uint8Array(), metadata: { index: 9, term: 7, confState: cs } }),
      SnapshotOutOfDateError,
    );
  });

  await t.step("setHardState round-trips and rejects unsafe integers", () => {
    const s = new MemoryStorage();
    s.setHardState({ term: 3, vote: "b", commit: 0 });
    assert.deepEqual(s.initialState().hardState, { term: 3, vote: "b", commit: 0 });
    assert.throws(() => s.setHardState({ term: 2 ** 53, vote: null, commit: 0 }), RangeError);
  });
});

Deno.test("MemoryStorage releases snapshot bytes and reads them back from the source", () => {
  const s = storage345();
  const data = new Uint8Array([1, 2, 3]);
  const snap = s.createSnapshot(4, emptyConfState(), data);
  assert.throws(() => s.releaseSnapshotData(4), /no snapshot source/);
  const reads: number[] = [];
  let available = true;
  s.setSnapshotSource((metadata) => {
    reads.push(metadata.index);
    return available ? new Uint8Array(data) : undefined;
  });
  assert.equal(s.releaseSnapshotData(3), false, "an older snapshot is not the one held");
  assert.equal(s.snapshotDataHeld, true);
  assert.equal(s.releaseSnapshotData(4), true);
  assert.equal(s.snapshotDataHeld, false);
  assert.deepEqual(s.snapshotMetadata, snap.metadata);
  assert.deepEqual(reads, [], "the metadata alone reads nothing back");
  const served = s.snapshot();
  assert.deepEqual(served.metadata, snap.metadata);
  assert.deepEqual([...served.data], [1, 2, 3]);
  assert.deepEqual(reads, [4]);
  available = false;
  assert.throws(() => s.snapshot(), SnapshotTemporarilyUnavailableError);
  // A newer snapshot is held again until it is released in turn.
  s.createSnapshot(5, emptyConfState(), new Uint8Array([9]));
  assert.equal(s.snapshotDataHeld, true);
  assert.deepEqual([...s.snapshot().data], [9]);
  assert.deepEqual(reads, [4, 4]);
});

Deno.test("property: MemoryStorage behaves like an array of entries with a compacted prefix", () => {
  type Op = { kind: "append"; back: number; count: number; term: number } | {
    kind: "compact";
    ahead: number;
  };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      kind: fc.constant("append" as const),
      back: fc.nat(4),
      count: fc.integer({ min: 1, max: 4 }),
      term: fc.integer({ min: 1, max: 5 }),
    }),
    fc.record({ kind: fc.constant("compact" as const), ahead: fc.nat(4) }),
  );
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
      const s = new MemoryStorage();
      const model: Entry[] = []; // model[i] is entry i + 1
      let compacted = 0;
      for (const op of ops) {
        if (op.kind === "append") {
          const from = Math.max(compacted + 1, model.length + 1 - op.back);
          const entries = Array.from({ length: op.count }, (_, i) => ent(from + i, op.term));
          s.append(entries);
          model.length = from - 1;
          model.push(...entries);
        } else {
          const index = compacted + 1 + op.ahead;
          if (index > model.length) continue;
          s.compact(index);
          compacted = index;
        }
        assert.equal(s.firstIndex(), compacted + 1);
        assert.equal(s.lastIndex(), model.length);
        for (let i = compacted + 1; i <= model.length; i++) {
          assert.equal(s.term(i), model[i - 1].term);
        }
        if (compacted > 0) assert.equal(s.term(compacted), model[compacted - 1].term);
        assert.deepEqual(
          s.entries(compacted + 1, model.length + 1, Infinity).map((e) => e.term),
          model.slice(compacted).map((e) => e.term),
        );
      }
    }),
    { numRuns: 300 },
  );
});
