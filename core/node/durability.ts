/**
 * How a node's durable state maps onto the write-ahead log (`core/wal`) and
 * back: the records a `persist` effect becomes, and the Raft storage a
 * restarting node rebuilds from a replayed WAL and its snapshot. Shared by
 * every driver, so the simulator recovers exactly as production does.
 *
 * @module
 */
import { MemoryStorage } from "../raft/storage.ts";
import type { Entry, HardState, Snapshot } from "../raft/types.ts";
import type { WalRecord } from "../wal/record.ts";
import type { WalState } from "../wal/replay.ts";

/**
 * WAL records for one persist, in the order that keeps a torn or partial
 * write recoverable: snapshot marker, then entries, then the hard state
 * (whose commit never points past what precedes it).
 *
 * @example
 * ```ts
 * import { walRecordsForPersist } from "./durability.ts";
 * const records = walRecordsForPersist({ term: 1, vote: "a", commit: 0 }, [], undefined);
 * console.assert(records.length === 1 && records[0].kind === "hardState");
 * ```
 */
export function walRecordsForPersist(
  hardState: HardState | undefined,
  entries: readonly Entry[],
  snapshot: Snapshot | undefined,
): WalRecord[] {
  const records: WalRecord[] = [];
  if (snapshot) {
    records.push({
      kind: "snapshot",
      index: snapshot.metadata.index,
      term: snapshot.metadata.term,
    });
  }
  for (const entry of entries) records.push({ kind: "entry", entry });
  if (hardState) records.push({ kind: "hardState", hardState });
  return records;
}

/** The state a restarting node resumes from. */
export interface RecoveredState {
  /** Raft storage holding the snapshot, entries and hard state. */
  storage: MemoryStorage;
  /** The snapshot to restore the state machine from, if any. */
  snapshot: Snapshot | undefined;
  /** Index the state machine reflects once restored from `snapshot`. */
  appliedIndex: number;
}

/** Thrown when the WAL and the snapshot on disk do not belong together. */
export class RecoveryMismatchError extends Error {
  /** Describes the mismatch. */
  constructor(detail: string) {
    super(`cannot recover: ${detail}`);
    this.name = "RecoveryMismatchError";
  }
}

/**
 * Rebuilds Raft storage from a replayed WAL and the snapshot its marker names.
 *
 * @example
 * ```ts
 * import { recoverStorage } from "./durability.ts";
 * const r = recoverStorage({
 *   hardState: { term: 2, vote: null, commit: 0 }, snapshot: { index: 0, term: 0 },
 *   entries: [], validBytesInLastSegment: 0, tornTail: false,
 * }, undefined);
 * console.assert(r.storage.initialState().hardState.term === 2);
 * ```
 */
export function recoverStorage(wal: WalState, snapshot: Snapshot | undefined): RecoveredState {
  const storage = new MemoryStorage();
  if (wal.snapshot.index > 0) {
    if (!snapshot || snapshot.metadata.index !== wal.snapshot.index) {
      throw new RecoveryMismatchError(
        `WAL names snapshot ${wal.snapshot.index}, found ${snapshot?.metadata.index ?? "none"}`,
      );
    }
    storage.applySnapshot(snapshot);
  }
  storage.append(wal.entries);
  // A crash can tear the write that carried a snapshot marker after the
  // marker itself, losing the hard state that followed it. A snapshot only
  // ever holds committed entries, so its index is a sound commit floor.
  const commit = Math.max(wal.hardState.commit, wal.snapshot.index);
  storage.setHardState({ ...wal.hardState, commit });
  return {
    storage,
    snapshot: wal.snapshot.index > 0 ? snapshot : undefined,
    appliedIndex: wal.snapshot.index,
  };
}
