/**
 * Recovery of a write-ahead log: replays its segments into the state Raft
 * restarts from, and tells a torn tail (safe to cut off) from corruption in
 * the middle (never silently dropped).
 *
 * @module
 */
import type { Entry, HardState } from "../raft/types.ts";
import { lastSnapshotMarker, readRecord, type WalRecord } from "./record.ts";

/** The WAL holds data that cannot be trusted and must not be truncated silently. */
export class WalCorruptionError extends Error {
  /** Creates the error naming the segment and what is wrong in it. */
  constructor(readonly segment: number, detail: string) {
    super(`WAL segment ${segment} is corrupt: ${detail}`);
    this.name = "WalCorruptionError";
  }
}

/** What a WAL replay recovers. */
export interface WalState {
  /** The identity written when the WAL was created, if any. */
  metadata?: { nodeId: string; clusterId: string };
  /** Latest persisted hard state. */
  hardState: HardState;
  /** Latest snapshot marker: entries up to it live in the snapshot file. */
  snapshot: { index: number; term: number };
  /** Entries after the snapshot, contiguous. */
  entries: Entry[];
  /** Where a torn tail starts in the last segment (its length if none). */
  validBytesInLastSegment: number;
  /** Whether the last segment had a torn tail that must be truncated before appending. */
  tornTail: boolean;
}

/** Looks for any valid record at or after `offset`: if one exists, a bad record is not a tail. */
function validRecordFollows(bytes: Uint8Array, offset: number): boolean {
  for (let at = offset; at < bytes.length; at++) {
    const read = readRecord(bytes, at);
    if (read.ok) return true;
  }
  return false;
}

/**
 * Replays WAL segments, oldest first. A record that is cut short or fails its
 * checksum at the end of the LAST segment, with no valid record after it, is a
 * torn write from a crash and is reported for truncation; anything else that
 * fails to decode throws {@link WalCorruptionError}.
 *
 * @example
 * ```ts
 * import { encodeRecords, replayWal } from "@safla/core/wal";
 * const segment = encodeRecords([{ kind: "hardState", hardState: { term: 2, vote: null, commit: 0 } }]);
 * console.assert(replayWal([segment]).hardState.term === 2);
 * ```
 */
export function replayWal(segments: readonly Uint8Array[]): WalState {
  const state: WalState = {
    hardState: { term: 0, vote: null, commit: 0 },
    snapshot: { index: 0, term: 0 },
    entries: [],
    validBytesInLastSegment: 0,
    tornTail: false,
  };
  const marker = latestMarker(segments);
  segments.forEach((bytes, segment) => {
    const last = segment === segments.length - 1;
    let offset = 0;
    while (offset < bytes.length) {
      // Entries before the latest marker and covered by it are dropped when
      // it is reached: they are checked, not decoded.
      const before = marker !== undefined &&
        (segment < marker.segment || (segment === marker.segment && offset < marker.offset));
      const read = readRecord(bytes, offset, before ? marker.index : -1);
      if (!read.ok) {
        // Scan from the next byte even when the record seems to run past the end:
        // its length may be the damaged part, with intact records after it.
        if (last && !validRecordFollows(bytes, offset + 1)) {
          state.tornTail = true;
          break;
        }
        throw new WalCorruptionError(segment, read.detail);
      }
      if (read.record === undefined) skipEntry(state, read.entryIndex);
      else apply(state, read.record, segment);
      offset = read.nextOffset;
    }
    if (last) state.validBytesInLastSegment = offset;
  });
  if (state.entries.length > 0 && state.entries[0].index !== state.snapshot.index + 1) {
    throw new WalCorruptionError(
      segments.length - 1,
      `entries resume at ${
        state.entries[0].index
      }, leaving a gap after snapshot ${state.snapshot.index}`,
    );
  }
  state.entries = ownEntryData(state.entries);
  if (state.hardState.commit > lastIndex(state)) {
    throw new WalCorruptionError(
      segments.length - 1,
      `hard state commit ${state.hardState.commit} is beyond the last entry ${lastIndex(state)}`,
    );
  }
  return state;
}

/**
 * Entries whose data no longer views the segments: the kept ones' data is
 * copied into one buffer. Copying each entry on decode was most of a
 * restart's WAL replay (an allocation per entry, and most entries precede the
 * snapshot marker and are dropped), and views would keep whole segments alive.
 */
function ownEntryData(entries: Entry[]): Entry[] {
  let sizeBytes = 0;
  for (const entry of entries) sizeBytes += entry.data.length;
  const buffer = new Uint8Array(sizeBytes);
  let at = 0;
  // The entry objects were made by this replay's decoding: nothing else holds them.
  for (const entry of entries) {
    buffer.set(entry.data, at);
    entry.data = buffer.subarray(at, at + entry.data.length);
    at += entry.data.length;
  }
  return entries;
}

function lastIndex(state: WalState): number {
  return state.entries.length > 0
    ? state.entries[state.entries.length - 1].index
    : state.snapshot.index;
}

/** The latest snapshot marker of all segments: which segment, where, and its index. */
function latestMarker(
  segments: readonly Uint8Array[],
): { segment: number; offset: number; index: number } | undefined {
  for (let segment = segments.length - 1; segment >= 0; segment--) {
    const found = lastSnapshotMarker(segments[segment]);
    if (found !== undefined) return { segment, ...found };
  }
  return undefined;
}

/**
 * What {@link apply} does with an entry at `index` that the latest marker
 * drops anyway. Every entry kept before that marker is above it, so above
 * `index`: the entry overwrites them all (they were an uncommitted suffix)
 * unless the current marker already covers it.
 */
function skipEntry(state: WalState, index: number): void {
  if (index > state.snapshot.index) state.entries = [];
}

function apply(state: WalState, record: WalRecord, segment: number): void {
  switch (record.kind) {
    case "metadata":
      if (state.metadata && state.metadata.nodeId !== record.nodeId) {
        throw new WalCorruptionError(
          segment,
          `metadata names node ${record.nodeId}, expected ${state.metadata.nodeId}`,
        );
      }
      state.metadata = { nodeId: record.nodeId, clusterId: record.clusterId };
      return;
    case "hardState":
      state.hardState = record.hardState;
      return;
    case "snapshot":
      if (record.index < state.snapshot.index) {
        throw new WalCorruptionError(segment, `snapshot marker ${record.index} goes backwards`);
      }
      state.snapshot = { index: record.index, term: record.term };
      state.entries = state.entries.filter((e) => e.index > record.index);
      return;
    case "entry": {
      const { entry } = record;
      // A later entry at an existing index is Raft overwriting an uncommitted suffix.
      if (entry.index <= state.snapshot.index) return;
      const first = state.entries.length > 0 ? state.entries[0].index : state.snapshot.index + 1;
      if (entry.index > lastIndex(state) + 1 || entry.index < first) {
        // Segments released after a snapshot leave a gap that a later snapshot
        // marker must cover; replayWal checks that at the end.
        state.entries = [entry];
        return;
      }
      state.entries.length = entry.index - first;
      state.entries.push(entry);
      return;
    }
  }
}
