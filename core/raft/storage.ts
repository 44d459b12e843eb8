/**
 * The read-only view of stable storage that the Raft core consults, its typed
 * errors, and {@link MemoryStorage}, the in-memory reference implementation.
 *
 * The core never writes storage: the driver writes what a {@link Ready} asks for
 * (entries, hard state, snapshot) and only then calls `advance()`.
 *
 * @module
 */
import { assertSafeIndex, invariant, limitSize } from "./entries.ts";
import type { ConfState, Entry, HardState, Snapshot, SnapshotMetadata } from "./types.ts";

/** The durable state a node restarts from. */
export interface InitialState {
  /** The last persisted hard state. */
  hardState: HardState;
  /** The membership as of the last persisted snapshot and applied conf changes. */
  confState: ConfState;
}

/** Read access to the persisted log, hard state and latest snapshot. */
export interface Storage {
  /** The persisted hard state and membership. */
  initialState(): InitialState;
  /**
   * Entries in `[lo, hi)`, limited to `maxSizeBytes` in total but always at least
   * one entry when the range is non-empty. Throws {@link CompactedError} if `lo`
   * was compacted and {@link UnavailableError} if `hi - 1` is beyond the last index.
   */
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[];
  /**
   * Term of the entry at `index`. `firstIndex() - 1` is answered too (the term
   * of the last compacted entry, needed to match appends). Throws
   * {@link CompactedError} below that, {@link UnavailableError} past the end.
   */
  term(index: number): number;
  /** Index of the first entry still available (the snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (the snapshot index if the log is empty). */
  lastIndex(): number;
  /**
   * The most recent snapshot. Throws {@link SnapshotTemporarilyUnavailableError}
   * if one is being produced; the core then retries later.
   */
  snapshot(): Snapshot;
}

/** The requested index precedes the first available entry: it was compacted into a snapshot. */
export class CompactedError extends Error {
  /** The index that was asked for. */
  readonly index: number;
  /** The first index still available. */
  readonly firstIndex: number;
  /** Creates the error. */
  constructor(index: number, firstIndex: number) {
    super(`log index ${index} is compacted; the first available index is ${firstIndex}`);
    this.name = "CompactedError";
    this.index = index;
    this.firstIndex = firstIndex;
  }
}

/** The requested index is past the last entry. */
export class UnavailableError extends Error {
  /** The index that was asked for. */
  readonly index: number;
  /** The last index available. */
  readonly lastIndex: number;
  /** Creates the error. */
  constructor(index: number, lastIndex: number) {
    super(`log index ${index} is unavailable; the last index is ${lastIndex}`);
    this.name = "UnavailableError";
    this.index = index;
    this.lastIndex = lastIndex;
  }
}

/** The snapshot is being produced; the leader retries sending it later. */
export class SnapshotTemporarilyUnavailableError extends Error {
  /** Creates the error. */
  constructor() {
    super("snapshot is temporarily unavailable");
    this.name = "SnapshotTemporarilyUnavailableError";
  }
}

/** A snapshot older than (or equal to) the current one was offered. */
export class SnapshotOutOfDateError extends Error {
  /** Index of the offered snapshot. */
  readonly index: number;
  /** Index of the snapshot already held. */
  readonly currentIndex: number;
  /** Creates the error. */
  constructor(index: number, currentIndex: number) {
    super(`snapshot at index ${index} is out of date; storage already has index ${currentIndex}`);
    this.name = "SnapshotOutOfDateError";
    this.index = index;
    this.currentIndex = currentIndex;
  }
}

/** An empty membership configuration. */
export function emptyConfState(): ConfState {
  return { voters: [], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
}

/** The snapshot of an empty log. */
export function emptySnapshot(): Snapshot {
  return { data: new Uint8Array(0), metadata: { index: 0, term: 0, confState: emptyConfState() } };
}

/**
 * Reads back the bytes of a snapshot whose data {@link MemoryStorage} released
 * (the host from its snapshot file, the simulator from its own copy);
 * undefined when they cannot be had now, and the leader tries again later.
 */
export type SnapshotDataSource = (metadata: SnapshotMetadata) => Uint8Array | undefined;

/**
 * The in-memory reference {@link Storage}. The driver appends the entries and
 * hard state of each {@link Ready} with {@link MemoryStorage.append} and
 * {@link MemoryStorage.setHardState}, installs received snapshots with
 * {@link MemoryStorage.applySnapshot}, and compacts with
 * {@link MemoryStorage.createSnapshot} + {@link MemoryStorage.compact}.
 *
 * @example
 * ```ts
 * import { MemoryStorage } from "@safla/core/raft";
 * const storage = new MemoryStorage();
 * storage.append([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
 * console.assert(storage.lastIndex() === 1 && storage.term(1) === 1);
 * ```
 */
export class MemoryStorage implements Storage {
  #hardState: HardState = { term: 0, vote: null, commit: 0 };
  #snapshot: Snapshot = emptySnapshot();
  // The log is entries (offsetIndex, offsetIndex + ents.length]; offsetIndex is the
  // last compacted entry, whose term is kept so appends after it can be matched.
  #offsetIndex = 0;
  #offsetTerm = 0;
  #ents: Entry[] = [];
  #confState: ConfState;
  #snapshotSource: SnapshotDataSource | undefined;
  /**
   * Whether `#snapshot.data` was dropped: a snapshot is as large as the whole
   * store and is needed only to catch up a follower, so once it is durable
   * elsewhere it is read back from there on demand instead of held forever.
   */
  #snapshotReleased = false;

  /**
   * Creates an empty storage. `initialConfState` seeds the membership of the
   * empty log (as if from a snapshot at index 0), for clusters that start from
   * a known configuration instead of `RawNode.bootstrap`.
   */
  constructor(initialConfState?: ConfState) {
    if (initialConfState !== undefined) {
      this.#snapshot = {
        data: new Uint8Array(0),
        metadata: { index: 0, term: 0, confState: initialConfState },
      };
    }
    this.#confState = this.#snapshot.metadata.confState;
  }

  /** The persisted hard state and the membership recorded by the driver. */
  initialState(): InitialState {
    const { term, vote, commit } = this.#hardState;
    return { hardState: { term, vote, commit }, confState: this.#confState };
  }

  /**
   * Records the membership returned by `RawNode.applyConfChange`, so that a
   * node restarted with `Config.applied` past that entry knows its members.
   */
  setConfState(confState: ConfState): void {
    this.#confState = confState;
  }

  /** Records the hard state of a {@link Ready}. */
  setHardState(hardState: HardState): void {
    assertSafeIndex("hard state term", hardState.term);
    assertSafeIndex("hard state commit", hardState.commit);
    this.#hardState = { term: hardState.term, vote: hardState.vote, commit: hardState.commit };
  }

  /** Entries in `[lo, hi)` limited to `maxSizeBytes` (at least one); see {@link Storage.entries}. */
  entries(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    if (lo <= this.#offsetIndex) throw new CompactedError(lo, this.firstIndex());
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1, this.lastIndex());
    invariant(lo <= hi, () => `entries: lo ${lo} > hi ${hi}`);
    const start = lo - this.#offsetIndex - 1;
    return limitSize(this.#ents.slice(start, hi - this.#offsetIndex - 1), maxSizeBytes);
  }

  /** Term of entry `index`, including the last compacted one; see {@link Storage.term}. */
  term(index: number): number {
    if (index < this.#offsetIndex) throw new CompactedError(index, this.firstIndex());
    if (index === this.#offsetIndex) return this.#offsetTerm;
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    return this.#ents[index - this.#offsetIndex - 1].term;
  }

  /** Index of the first entry still available. */
  firstIndex(): number {
    return this.#offsetIndex + 1;
  }

  /** Index of the last entry. */
  lastIndex(): number {
    return this.#offsetIndex + this.#ents.length;
  }

  /**
   * The most recent snapshot. Its bytes are read back from the
   * {@link SnapshotDataSource} if they were released, and not kept: the
   * caller holds them as long as it needs them. Throws
   * {@link SnapshotTemporarilyUnavailableError} if the source has none now.
   */
  snapshot(): Snapshot {
    if (!this.#snapshotReleased) return this.#snapshot;
    const { metadata } = this.#snapshot;
    const data = this.#snapshotSource!(metadata);
    if (data === undefined) throw new SnapshotTemporarilyUnavailableError();
    return { data, metadata };
  }

  /** Where released snapshot bytes are read back from (see {@link MemoryStorage.releaseSnapshotData}). */
  setSnapshotSource(source: SnapshotDataSource): void {
    this.#snapshotSource = source;
  }

  /**
   * Drops the bytes of the snapshot at `index` if it is still the latest:
   * the caller made them durable where the {@link SnapshotDataSource} finds
   * them. Returns whether they were dropped (false for an older snapshot).
   * Throws if no source is set: the bytes could never be served again.
   */
  releaseSnapshotData(index: number): boolean {
    if (this.#snapshotSource === undefined) {
      throw new Error("releaseSnapshotData: no snapshot source to read the bytes back from");
    }
    if (index !== this.#snapshot.metadata.index || index === 0) return false;
    this.#snapshot = { data: new Uint8Array(0), metadata: this.#snapshot.metadata };
    this.#snapshotReleased = true;
    return true;
  }

  /** The latest snapshot's metadata, without reading back released bytes. */
  get snapshotMetadata(): SnapshotMetadata {
    return this.#snapshot.metadata;
  }

  /** Whether the latest snapshot's bytes are held in memory (false once released). */
  get snapshotDataHeld(): boolean {
    return !this.#snapshotReleased;
  }

  /**
   * Replaces the whole log with `snapshot` (a snapshot received from the leader).
   * Throws {@link SnapshotOutOfDateError} if it is not newer than the current one.
   */
  applySnapshot(snapshot: Snapshot): void {
    const { index, term } = snapshot.metadata;
    assertSafeIndex("snapshot index", index);
    assertSafeIndex("snapshot term", term);
    if (index <= this.#snapshot.metadata.index) {
      throw new SnapshotOutOfDateError(index, this.#snapshot.metadata.index);
    }
    this.#snapshot = snapshot;
    this.#snapshotReleased = false;
    this.#confState = snapshot.metadata.confState;
    this.#offsetIndex = index;
    this.#offsetTerm = term;
    this.#ents = [];
  }

  /**
   * Records a snapshot of the state machine as of applied index `index`, to be
   * served to followers that fell behind compaction. `index` must be in the log.
   */
  createSnapshot(index: number, confState: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.#snapshot.metadata.index) {
      throw new SnapshotOutOfDateError(index, this.#snapshot.metadata.index);
    }
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    const term = this.term(index);
    this.#snapshot = { data, metadata: { index, term, confState } };
    this.#snapshotReleased = false;
    return this.#snapshot;
  }

  /**
   * Discards entries up to and including `compactIndex`. The caller must only
   * compact applied entries it has captured in a snapshot.
   */
  compact(compactIndex: number): void {
    if (compactIndex <= this.#offsetIndex) {
      throw new CompactedError(compactIndex, this.firstIndex());
    }
    if (compactIndex > this.lastIndex()) {
      throw new UnavailableError(compactIndex, this.lastIndex());
    }
    const term = this.term(compactIndex);
    this.#ents = this.#ents.slice(compactIndex - this.#offsetIndex);
    this.#offsetIndex = compactIndex;
    this.#offsetTerm = term;
  }

  /**
   * Appends entries, replacing any existing suffix they conflict with. Entries
   * already compacted are skipped; a gap after the last index is a bug and throws.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    for (let i = 0; i < entries.length; i++) {
      assertSafeIndex("entry index", entries[i].index);
      assertSafeIndex("entry term", entries[i].term);
      invariant(
        i === 0 || entries[i].index === entries[i - 1].index + 1,
        "append: entries are not contiguous",
      );
    }
    const first = this.firstIndex();
    const lastNew = entries[entries.length - 1].index;
    if (lastNew < first) return;
    const fresh = entries[0].index < first ? entries.slice(first - entries[0].index) : entries;
    const from = fresh[0].index;
    invariant(
      from <= this.lastIndex() + 1,
      () => `append: missing log entries [last: ${this.lastIndex()}, append at: ${from}]`,
    );
    // Truncate in place and push: appends are the hot path of every driver.
    this.#ents.length = from - this.#offsetIndex - 1;
    for (const e of fresh) this.#ents.push(e);
  }
}
