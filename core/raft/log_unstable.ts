/**
 * The unstable tail of the Raft log: entries (and possibly a snapshot) that the
 * core has accepted but the driver has not yet persisted.
 *
 * @module
 */
import { invariant } from "./entries.ts";
import type { Entry, Snapshot } from "./types.ts";

/**
 * Entries `[offset, offset + entries.length)` and an optional incoming snapshot
 * not yet on stable storage. Entries from `offsetInProgress` on have not been
 * handed to the driver yet; the ones before it are being written.
 *
 * @example
 * ```ts
 * import { UnstableLog } from "@safla/core/raft";
 * const u = new UnstableLog(1);
 * u.truncateAndAppend([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
 * console.assert(u.maybeLastIndex() === 1);
 * ```
 */
export class UnstableLog {
  /** An incoming snapshot, if any; it precedes `entries`. */
  snapshot: Snapshot | undefined = undefined;
  /** Entries not yet persisted. */
  entries: Entry[] = [];
  /** Index of `entries[0]`. */
  offset: number;
  /** Entries with index < this have been handed to the driver for writing. */
  offsetInProgress: number;
  /** Whether `snapshot` has been handed to the driver for writing. */
  snapshotInProgress = false;

  /** Creates an empty unstable tail starting at `offset`. */
  constructor(offset: number) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** Index of the first entry if a snapshot is pending, else undefined (ask storage). */
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.metadata.index + 1 : undefined;
  }

  /** Index of the last unstable entry or pending snapshot, else undefined. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot?.metadata.index;
  }

  /** Term of entry `index` if the unstable tail knows it. */
  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      const snap = this.snapshot;
      return snap && snap.metadata.index === index ? snap.metadata.term : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset].term;
  }

  /** Entries not yet handed to the driver. */
  nextEntries(): Entry[] {
    const start = this.offsetInProgress - this.offset;
    return start >= this.entries.length ? [] : this.entries.slice(start);
  }

  /** Whether {@link UnstableLog.nextEntries} would return entries (without copying them). */
  hasNextEntries(): boolean {
    return this.entries.length > 0 && this.offsetInProgress - this.offset < this.entries.length;
  }

  /** The snapshot if it has not yet been handed to the driver. */
  nextSnapshot(): Snapshot | undefined {
    return this.snapshot && !this.snapshotInProgress ? this.snapshot : undefined;
  }

  /** Marks everything currently unstable as handed to the driver. */
  acceptInProgress(): void {
    if (this.entries.length > 0) {
      this.offsetInProgress = this.entries[this.entries.length - 1].index + 1;
    }
    if (this.snapshot) this.snapshotInProgress = true;
  }

  /**
   * Drops entries up to `index` once the driver has persisted them. Ignored if
   * entry `index` has since been replaced by one of another term (the write the
   * driver reports is then stale).
   */
  stableTo(index: number, term: number): void {
    const known = this.maybeTerm(index);
    if (known === undefined || index < this.offset || known !== term) return;
    const n = index + 1 - this.offset;
    this.entries = this.entries.slice(n);
    this.offset = index + 1;
    this.offsetInProgress = Math.max(this.offsetInProgress, this.offset);
  }

  /** Forgets the pending snapshot once the driver has persisted it. */
  stableSnapTo(index: number): void {
    if (this.snapshot && this.snapshot.metadata.index === index) {
      this.snapshot = undefined;
      this.snapshotInProgress = false;
    }
  }

  /** Replaces everything with an incoming snapshot. */
  restore(snapshot: Snapshot): void {
    this.offset = snapshot.metadata.index + 1;
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = snapshot;
    this.snapshotInProgress = false;
  }

  /** Appends `entries`, truncating any conflicting suffix first. */
  truncateAndAppend(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const from = entries[0].index;
    // In place: a leader appends one proposal at a time, and copying the
    // tail on each append made a batch quadratic. Nothing outside holds
    // `entries` (nextEntries and slice hand out copies).
    if (from === this.offset + this.entries.length) {
      for (const e of entries) this.entries.push(e);
    } else if (from <= this.offset) {
      // The whole unstable tail is replaced; storage truncates on the next write.
      this.offset = from;
      this.offsetInProgress = from;
      this.entries = entries.slice();
    } else {
      const upper = this.offset + this.entries.length;
      invariant(
        from < upper,
        () => `unstable append at ${from} leaves a gap after [${this.offset},${upper})`,
      );
      this.entries.length = from - this.offset;
      for (const e of entries) this.entries.push(e);
      this.offsetInProgress = Math.min(this.offsetInProgress, from);
    }
  }

  /** Unstable entries in `[lo, hi)`; the range must lie within the tail. */
  slice(lo: number, hi: number): Entry[] {
    const upper = this.offset + this.entries.length;
    invariant(
      lo <= hi && this.offset <= lo && hi <= upper,
      () => `unstable.slice[${lo},${hi}) out of bounds [${this.offset},${upper})`,
    );
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
