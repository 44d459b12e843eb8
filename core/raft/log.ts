/**
 * The Raft log: stable entries in {@link Storage} followed by the
 * {@link UnstableLog} tail, with the commit and apply cursors.
 *
 * @module
 */
import { assertSafeIndex, invariant, limitSize } from "./entries.ts";
import { UnstableLog } from "./log_unstable.ts";
import { CompactedError, type Storage, UnavailableError } from "./storage.ts";
import type { Entry, Snapshot } from "./types.ts";

/** The answer of {@link RaftLog.findConflictByTerm}: a position both logs may share. */
export interface IndexTerm {
  /** Log index. */
  index: number;
  /** Term of the entry there (0 if unknown). */
  term: number;
}

/**
 * The Raft log of one node.
 *
 * Invariants: `applied <= applying <= committed <= lastIndex()`, and
 * `firstIndex() - 1 <= applied` once a snapshot has been applied.
 *
 * @example
 * ```ts
 * import { MemoryStorage, RaftLog } from "@safla/core/raft";
 * const log = new RaftLog(new MemoryStorage(), Infinity);
 * log.append([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
 * log.commitTo(1);
 * console.assert(log.nextCommittedEnts().length === 1);
 * ```
 */
export class RaftLog {
  /** The persisted part of the log. */
  readonly storage: Storage;
  /** Entries not yet persisted. */
  readonly unstable: UnstableLog;
  /** Highest index known to be stored on a quorum. */
  committed: number;
  /** Highest index handed to the application for applying. */
  applying: number;
  /** Highest index the application has applied. */
  applied: number;
  /** Byte budget of committed entries handed out per Ready. */
  readonly maxApplyingEntsSizeBytes: number;

  /** Creates the log over `storage`, positioned just after its snapshot. */
  constructor(storage: Storage, maxApplyingEntsSizeBytes: number) {
    this.storage = storage;
    this.maxApplyingEntsSizeBytes = maxApplyingEntsSizeBytes;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new UnstableLog(last + 1);
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  /** One line describing the cursors, for error messages. */
  toString(): string {
    return `committed=${this.committed}, applied=${this.applied}, applying=${this.applying}, ` +
      `unstable.offset=${this.unstable.offset}, unstable.entries=${this.unstable.entries.length}`;
  }

  /**
   * Appends `entries` after entry (`index`, `logTerm`) if the log matches there,
   * truncating a conflicting suffix, and advances commit to
   * min(`committed`, last new index). Returns the last new index, or undefined if
   * the log does not contain (`index`, `logTerm`).
   */
  maybeAppend(
    index: number,
    logTerm: number,
    committed: number,
    entries: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNewIndex = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      invariant(
        conflict > this.committed,
        () => `entry ${conflict} conflicts with committed entry [committed(${this.committed})]`,
      );
      // Usually the whole message is new: no copy then (the unstable log
      // copies what it keeps).
      const start = conflict - (index + 1);
      this.append(start === 0 ? entries : entries.slice(start));
    }
    this.commitTo(Math.min(committed, lastNewIndex));
    return lastNewIndex;
  }

  /** Appends entries (whose first index may truncate the tail) and returns the new last index. */
  append(entries: readonly Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0].index - 1;
    invariant(
      after >= this.committed,
      () => `append after ${after} is out of range [committed(${this.committed})]`,
    );
    for (const e of entries) {
      assertSafeIndex("entry index", e.index);
      assertSafeIndex("entry term", e.term);
    }
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * Index of the first entry in `entries` that is absent from the log or has a
   * different term there; 0 if all are present. Entries must be contiguous.
   */
  findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest position (index, term) in this log with index <= `index` and term
   * <= `term`. A leader uses it to skip a whole term of mismatching entries per
   * round trip after a follower rejects an append (fast backtracking); the
   * follower uses it to build its hint. Stops at the first index whose term is
   * unknown (compacted), returning term 0 there.
   */
  findConflictByTerm(index: number, term: number): IndexTerm {
    // Each step moves one entry towards the start; the entry before the first
    // available one answers with its term or stops the walk.
    for (let i = index; i >= 0; i--) {
      const t = this.termOrUndefined(i);
      if (t === undefined) return { index: i, term: 0 };
      if (t <= term) return { index: i, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Unstable entries not yet handed to the driver. */
  nextUnstableEnts(): Entry[] {
    return this.unstable.nextEntries();
  }

  /** Whether there are unstable entries not yet handed to the driver. */
  hasNextUnstableEnts(): boolean {
    return this.unstable.hasNextEntries();
  }

  /** Whether an unstable snapshot awaits the driver. */
  hasNextUnstableSnapshot(): boolean {
    return this.unstable.nextSnapshot() !== undefined;
  }

  // Committed entries may be applied in the same Ready that persists them: the
  // driver persists before applying, so "unstable" here is never unpersisted at
  // the time of application.
  #maxAppliableIndex(): number {
    return this.committed;
  }

  /**
   * Committed entries not yet handed out for applying, limited to
   * `maxApplyingEntsSizeBytes` (but at least one entry). Empty while a snapshot
   * is pending, because the snapshot must be applied first.
   */
  nextCommittedEnts(): Entry[] {
    if (this.unstable.snapshot) return [];
    const lo = this.applying + 1;
    const hi = this.#maxAppliableIndex() + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, this.maxApplyingEntsSizeBytes);
  }

  /** Whether {@link RaftLog.nextCommittedEnts} would return entries. */
  hasNextCommittedEnts(): boolean {
    return !this.unstable.snapshot && this.applying < this.#maxAppliableIndex();
  }

  /** The pending snapshot, else the storage's latest snapshot. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Index of the first available entry. */
  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /** Index of the last entry. */
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Advances the commit index (never backwards); `index` must be in the log. */
  commitTo(index: number): void {
    if (index <= this.committed) return;
    invariant(
      index <= this.lastIndex(),
      () => `commit ${index} is out of range [lastIndex(${this.lastIndex()})]`,
    );
    assertSafeIndex("commit index", index);
    this.committed = index;
  }

  /** Records that entries up to `index` have been handed to the application. */
  acceptApplying(index: number): void {
    invariant(
      index <= this.committed && index >= this.applying,
      () => `applying ${index} out of range [${this.toString()}]`,
    );
    this.applying = index;
  }

  /** Records that the application applied entries up to `index`. */
  appliedTo(index: number): void {
    if (index === 0) return;
    invariant(
      this.committed >= index && index >= this.applied,
      () => `applied(${index}) is out of range [prevApplied(${this.applied}), ${this.toString()}]`,
    );
    this.applied = index;
    this.applying = Math.max(this.applying, index);
  }

  /** Marks entries up to (`index`, `term`) as persisted. */
  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  /** Marks the pending snapshot at `index` as persisted. */
  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** Marks all unstable entries and snapshot as handed to the driver. */
  acceptUnstable(): void {
    this.unstable.acceptInProgress();
  }

  /** Term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /**
   * Term of entry `index`. Valid for `[firstIndex() - 1, lastIndex()]`; throws
   * {@link CompactedError} or {@link UnavailableError} outside.
   */
  term(index: number): number {
    const dummy = this.firstIndex() - 1;
    if (index < dummy) throw new CompactedError(index, dummy + 1);
    if (index > this.lastIndex()) throw new UnavailableError(index, this.lastIndex());
    return this.unstable.maybeTerm(index) ?? this.storage.term(index);
  }

  /** Term of entry `index`, or undefined if it is compacted or beyond the log. */
  termOrUndefined(index: number): number | undefined {
    // Checked here rather than by catching term()'s errors: building an Error
    // (with its stack) per probe dominated replication, where findConflict
    // asks for every new entry beyond the last index.
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return undefined;
    const unstable = this.unstable.maybeTerm(index);
    if (unstable !== undefined) return unstable;
    try {
      return this.storage.term(index);
    } catch (e) {
      if (e instanceof CompactedError || e instanceof UnavailableError) return undefined;
      throw e;
    }
  }

  /** Term of entry `index`, or 0 if unknown. */
  termOrZero(index: number): number {
    return this.termOrUndefined(index) ?? 0;
  }

  /** Entries from `index` to the end, limited to `maxSizeBytes`. */
  entries(index: number, maxSizeBytes: number): Entry[] {
    if (index > this.lastIndex()) return [];
    return this.slice(index, this.lastIndex() + 1, maxSizeBytes);
  }

  /** Every entry in the log (for tests and small tools). */
  allEntries(): Entry[] {
    return this.entries(this.firstIndex(), Number.POSITIVE_INFINITY);
  }

  /**
   * Whether a log ending at (`lastIndex`, `term`) is at least as up-to-date as
   * this one (§5.4.1): a later last term wins, equal terms compare length.
   */
  isUpToDate(lastIndex: number, term: number): boolean {
    const lastTerm = this.lastTerm();
    return term > lastTerm || (term === lastTerm && lastIndex >= this.lastIndex());
  }

  /** Whether the log holds entry `index` with term `term`. */
  matchTerm(index: number, term: number): boolean {
    const t = this.termOrUndefined(index);
    return t !== undefined && t === term;
  }

  /**
   * Commits up to `maxIndex` if that entry is of term `term`. A leader passes
   * its current term: counting replicas only commits entries of the current term (§5.4.2).
   */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** Replaces the log with an incoming snapshot. */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  /**
   * Entries in `[lo, hi)`, limited to `maxSizeBytes` in total (at least one).
   * Throws {@link CompactedError} if `lo` is compacted.
   */
  slice(lo: number, hi: number, maxSizeBytes: number): Entry[] {
    this.#checkOutOfBounds(lo, hi);
    if (lo === hi) return [];
    let out: Entry[] = [];
    const offset = this.unstable.offset;
    if (lo < offset) {
      const stableHi = Math.min(hi, offset);
      out = this.storage.entries(lo, stableHi, maxSizeBytes);
      // Storage stopped early because of the size limit: the rest would exceed it too.
      if (out.length < stableHi - lo) return out;
    }
    if (hi > offset) {
      const tail = this.unstable.slice(Math.max(lo, offset), hi);
      out = out.length > 0 ? out.concat(tail) : tail;
    }
    return limitSize(out, maxSizeBytes);
  }

  #checkOutOfBounds(lo: number, hi: number): void {
    invariant(lo <= hi, () => `invalid slice ${lo} > ${hi}`);
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    const upper = this.lastIndex() + 1;
    invariant(hi <= upper, () => `slice[${lo},${hi}) out of bound [${first},${upper})`);
  }
}
