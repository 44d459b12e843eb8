import assert from "node:assert/strict";
import type { Entry, Snapshot } from "../raft/types.ts";
import { encodeRecords } from "../wal/record.ts";
import { replayWal } from "../wal/replay.ts";
import { recoverStorage, RecoveryMismatchError, walRecordsForPersist } from "./durability.ts";

const entry = (index: number, term: number): Entry => ({
  index,
  term,
  type: "normal",
  data: new Uint8Array([index]),
});

const snapshot = (index: number, term: number): Snapshot => ({
  data: new Uint8Array([42]),
  metadata: {
    index,
    term,
    confState: {
      voters: ["a"],
      votersOutgoing: [],
      learners: [],
      learnersNext: [],
      autoLeave: false,
    },
  },
});

Deno.test("persists replay into the storage Raft restarts from", () => {
  const wal = encodeRecords([
    ...walRecordsForPersist(
      { term: 1, vote: "a", commit: 0 },
      [entry(1, 1), entry(2, 1)],
      undefined,
    ),
    // A new leader overwrote index 2.
    ...walRecordsForPersist(
      { term: 2, vote: "b", commit: 2 },
      [entry(2, 2), entry(3, 2)],
      undefined,
    ),
  ]);
  const r = recoverStorage(replayWal([wal]), undefined);
  assert.equal(r.appliedIndex, 0);
  assert.equal(r.storage.lastIndex(), 3);
  assert.equal(r.storage.term(2), 2);
  assert.deepEqual(r.storage.initialState().hardState, { term: 2, vote: "b", commit: 2 });
});

Deno.test("a snapshot marker positions the log after the snapshot", () => {
  const wal = encodeRecords([
    ...walRecordsForPersist(undefined, [entry(1, 1), entry(2, 1)], undefined),
    ...walRecordsForPersist({ term: 1, vote: null, commit: 5 }, [entry(6, 1)], snapshot(5, 1)),
  ]);
  const r = recoverStorage(replayWal([wal]), snapshot(5, 1));
  assert.equal(r.appliedIndex, 5);
  assert.equal(r.storage.firstIndex(), 6);
  assert.equal(r.storage.lastIndex(), 6);
  assert.throws(() => recoverStorage(replayWal([wal]), snapshot(4, 1)), RecoveryMismatchError);
  assert.throws(() => recoverStorage(replayWal([wal]), undefined), RecoveryMismatchError);
});

Deno.test("a commit behind the snapshot (torn after the marker) is raised to the snapshot", () => {
  const wal = encodeRecords([
    ...walRecordsForPersist(
      { term: 1, vote: null, commit: 2 },
      [entry(1, 1), entry(2, 1)],
      undefined,
    ),
    { kind: "snapshot", index: 5, term: 1 },
  ]);
  const r = recoverStorage(replayWal([wal]), snapshot(5, 1));
  assert.equal(r.storage.initialState().hardState.commit, 5);
});
