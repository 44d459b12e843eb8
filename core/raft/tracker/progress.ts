/**
 * What a leader knows about one follower's log, and how it replicates to it.
 *
 * @module
 */
import { Inflights } from "./inflights.ts";

/**
 * How the leader sends entries to a follower:
 * - `probe`: the follower's log position is unknown; send one append at a time
 *   and wait for its answer (or a heartbeat) before the next.
 * - `replicate`: the follower keeps up; stream appends optimistically, bounded
 *   by the inflight window.
 * - `snapshot`: the follower needs a snapshot; send no appends until it is
 *   applied or fails.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

/** Thrown when a {@link Progress} is driven against its contract (a bug in the caller). */
export class ProgressError extends Error {
  /** Creates the error with a message saying which rule was broken. */
  constructor(message: string) {
    super(message);
    this.name = "ProgressError";
  }
}

/** The initial state of a {@link Progress}. */
export interface ProgressInit {
  /** Highest index known to be replicated on the follower (default 0). */
  match?: number;
  /** Index of the next entry to send; must exceed `match`. */
  next: number;
  /** The window of unacknowledged appends (its owner from now on). */
  inflights: Inflights;
  /** Whether the follower is a learner (default false). */
  isLearner?: boolean;
  /** Whether the follower was heard from recently (default false). */
  recentActive?: boolean;
}

/**
 * A leader's view of one follower: the state machine of probe, replicate and
 * snapshot states. Invariants, asserted after every change: `match < next`,
 * both are safe integers, and `match` never decreases.
 *
 * @example
 * ```ts
 * import { Inflights, Progress } from "@safla/core/raft";
 * const pr = new Progress({ next: 11, inflights: new Inflights(4, 0) });
 * pr.maybeUpdate(10); // the follower acknowledged index 10
 * pr.becomeReplicate();
 * pr.updateOnEntriesSend(3, 300, 11); // entries 11..13 sent
 * console.assert(pr.next === 14 && pr.inflights.count === 1);
 * ```
 */
export class Progress {
  #match: number;
  #next: number;
  #state: ProgressState = "probe";
  /**
   * In `snapshot` state, the index of the snapshot being sent. A leader sets
   * it to 0 when the snapshot failed, so the next probe starts from `match`.
   */
  pendingSnapshot = 0;
  /**
   * Whether the follower was heard from since the last quorum check. Reset by
   * the leader on every CheckQuorum round.
   */
  recentActive: boolean;
  /**
   * Whether sending appends is paused: in `probe` state, after a probe was
   * sent; in `replicate` state, while the inflight window is full. A heartbeat
   * response clears it in probe state, so probing resumes.
   */
  msgAppFlowPaused = false;
  /** Whether the follower is a learner (receives the log, never votes). */
  isLearner: boolean;
  /** The window of unacknowledged appends (used in `replicate` state). */
  readonly inflights: Inflights;

  /** Creates a progress in `probe` state. */
  constructor(init: ProgressInit) {
    this.#match = init.match ?? 0;
    this.#next = init.next;
    this.inflights = init.inflights;
    this.isLearner = init.isLearner ?? false;
    this.recentActive = init.recentActive ?? false;
    this.#assertInvariants();
  }

  /** Highest index known to be replicated on the follower. */
  get match(): number {
    return this.#match;
  }

  /** Index of the next entry to send. */
  get next(): number {
    return this.#next;
  }

  /** Current replication state. */
  get state(): ProgressState {
    return this.#state;
  }

  /**
   * Enters `probe` state. Leaving `snapshot` state, probing starts after the
   * pending snapshot (if it is still set, it was applied); otherwise right
   * after `match`.
   */
  becomeProbe(): void {
    const pendingSnapshot = this.#state === "snapshot" ? this.pendingSnapshot : 0;
    this.#resetState("probe");
    this.#next = Math.max(this.#match + 1, pendingSnapshot + 1);
    this.#assertInvariants();
  }

  /** Enters `replicate` state, streaming from right after `match`. */
  becomeReplicate(): void {
    this.#resetState("replicate");
    this.#next = this.#match + 1;
    this.#assertInvariants();
  }

  /** Enters `snapshot` state while a snapshot up to `snapshotIndex` is sent. */
  becomeSnapshot(snapshotIndex: number): void {
    assertIndex("snapshotIndex", snapshotIndex);
    this.#resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
    this.#next = Math.max(this.#match + 1, snapshotIndex + 1);
    this.#assertInvariants();
  }

  /**
   * Handles an acknowledgement of index `n` from the follower. Returns false
   * if it was stale (`n ≤ match`); otherwise raises `match` (and `next` if
   * needed), unpauses sending and returns true.
   */
  maybeUpdate(n: number): boolean {
    assertIndex("acknowledged index", n);
    if (n <= this.#match) return false;
    this.#match = n;
    this.#next = Math.max(this.#next, n + 1);
    this.msgAppFlowPaused = false;
    this.#assertInvariants();
    return true;
  }

  /**
   * Records that an append of `entryCount` entries (`sizeBytes` in total)
   * starting at `nextIndex` was sent. In `replicate` state `next` advances
   * past the sent entries at once (optimistically) and the message joins the
   * inflight window, pausing when it fills. In `probe` state any append is a
   * probe, so sending pauses until the follower answers. Sending in
   * `snapshot` state is a bug.
   */
  updateOnEntriesSend(entryCount: number, sizeBytes: number, nextIndex: number): void {
    if (!Number.isSafeInteger(entryCount) || entryCount < 0) {
      throw new ProgressError(`entryCount must be a non-negative safe integer, got ${entryCount}`);
    }
    assertIndex("nextIndex", nextIndex);
    if (nextIndex !== this.#next) {
      throw new ProgressError(
        `appends must start at next=${this.#next}, but one was sent from ${nextIndex}`,
      );
    }
    switch (this.#state) {
      case "replicate":
        if (entryCount > 0) {
          const lastIndex = nextIndex + entryCount - 1;
          this.#next = lastIndex + 1;
          this.inflights.add(lastIndex, sizeBytes);
        }
        this.msgAppFlowPaused = this.inflights.full();
        break;
      case "probe":
        this.msgAppFlowPaused = true;
        break;
      case "snapshot":
        throw new ProgressError(`cannot send entries in snapshot state: ${this.toString()}`);
    }
    this.#assertInvariants();
  }

  /**
   * Handles a rejected append at index `rejected`, where the follower hinted
   * that its log may match up to `matchHint`. Returns false if the rejection
   * is stale. In `replicate` state `next` falls back to `match + 1`; in
   * `probe` state it jumps back to the hint (fast backtracking), never below
   * `match + 1`, and probing resumes.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    assertIndex("rejected index", rejected);
    assertIndex("matchHint", matchHint);
    if (this.#state === "replicate") {
      if (rejected <= this.#match) return false;
      this.#next = this.#match + 1;
      this.#assertInvariants();
      return true;
    }
    // Outside replicate state one append is in flight at a time, starting
    // right after next-1; a rejection of any other index is stale.
    if (rejected !== this.#next - 1) return false;
    this.#next = Math.max(Math.min(rejected, matchHint + 1), this.#match + 1);
    this.msgAppFlowPaused = false;
    this.#assertInvariants();
    return true;
  }

  /**
   * Whether the leader must not send appends now: in `probe` and `replicate`
   * states while paused, always in `snapshot` state.
   */
  isPaused(): boolean {
    return this.#state === "snapshot" || this.msgAppFlowPaused;
  }

  /** An independent copy (its own inflight window). */
  clone(): Progress {
    const copy = new Progress({
      match: this.#match,
      next: this.#next,
      inflights: this.inflights.clone(),
      isLearner: this.isLearner,
      recentActive: this.recentActive,
    });
    copy.#state = this.#state;
    copy.pendingSnapshot = this.pendingSnapshot;
    copy.msgAppFlowPaused = this.msgAppFlowPaused;
    return copy;
  }

  /** A one-line description for logs, e.g. `replicate match=5 next=8 inflight=2`. */
  toString(): string {
    let out = `${this.#state} match=${this.#match} next=${this.#next}`;
    if (this.isLearner) out += " learner";
    if (this.isPaused()) out += " paused";
    if (this.pendingSnapshot > 0) out += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) out += " inactive";
    const inflight = this.inflights.count;
    if (inflight > 0) out += ` inflight=${inflight}${this.inflights.full() ? "[full]" : ""}`;
    return out;
  }

  #resetState(state: ProgressState): void {
    this.msgAppFlowPaused = false;
    this.pendingSnapshot = 0;
    this.#state = state;
    this.inflights.reset();
  }

  #assertInvariants(): void {
    assertIndex("match", this.#match);
    assertIndex("next", this.#next);
    if (this.#match >= this.#next) {
      throw new ProgressError(
        `match must stay below next: match=${this.#match} next=${this.#next}`,
      );
    }
  }
}

function assertIndex(name: string, index: number): void {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new ProgressError(`${name} must be a non-negative safe integer, got ${index}`);
  }
}
