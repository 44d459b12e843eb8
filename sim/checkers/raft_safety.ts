/**
 * Raft safety checker: the five properties of Figure 3 of the Raft paper
 * (Election Safety, Leader Append-Only, Log Matching, Leader Completeness,
 * State Machine Safety) plus the per-node invariants that term, commit and
 * applied indices never go backwards and never run past what exists.
 *
 * The checker is incremental: it is fed one node's view after every
 * simulated event and only looks at what changed. Committed entries are
 * recorded once in a global map (index -> term, data hash) and every node's
 * committed prefix is compared against it as its commit index advances, so
 * only committed prefixes are compared (uncommitted tails may legitimately
 * differ between nodes).
 *
 * Leader Completeness needs the term in which an entry was committed, which
 * no node reports. A node learns of a commit in its current term at the
 * latest, so the lowest term of a node seen holding the entry committed is
 * an upper bound: a leader of a later term must hold the entry. The bound
 * never raises a false alarm, and each leader is checked incrementally.
 *
 * @module
 */

import type { HardState, NodeId, RaftRole } from "@safla/core/raft";

/** A digest of an entry's payload, computed by the driver (see {@link hashEntryData}). */
export type DataHash = string | number;

/** The safety properties and invariants that the checker enforces. */
export type SafetyRule =
  /** At most one leader per term, over the whole history. */
  | "electionSafety"
  /** A leader never overwrites or deletes entries of its log while leader in a term. */
  | "leaderAppendOnly"
  /** Committed prefixes of all logs agree (same index => same term and data). */
  | "logMatching"
  /** A leader of term T holds every entry committed in terms before T. */
  | "leaderCompleteness"
  /** No two nodes apply different entries at the same index. */
  | "stateMachineSafety"
  /** A node's term never decreases (except to its durable term on restart). */
  | "termMonotonic"
  /** A node's commit index never decreases (except to its durable commit on restart). */
  | "commitMonotonic"
  /** A node's applied index never decreases (except to its snapshot on restart). */
  | "appliedMonotonic"
  /** A node never commits an index its log does not hold. */
  | "commitBeyondLog"
  /** A leader commits an index only once a quorum holds its entry on disk. */
  | "commitNotDurableOnQuorum"
  /** A node never applies an index it has not committed. */
  | "appliedBeyondCommit"
  /** Entries are applied in index order, without gaps or repeats. */
  | "applyOrder"
  /** A node votes for at most one candidate per term, crashes included. */
  | "oneVotePerTerm"
  /** A restart recovers the term, vote and log entries the node had reported durable. */
  | "durableStateLost"
  /** A node's state machine never goes back, and the state after an index is the same on all. */
  | "stateRegressed";

/** One broken invariant, with what a reader needs to find it in the trace. */
export interface Violation {
  /** Which property is broken. */
  rule: SafetyRule;
  /** The node whose observation revealed it. */
  nodeId: NodeId;
  /** Human-readable explanation with the indices and terms involved. */
  detail: string;
  /** Index of the simulated event during which it was observed, when the driver passes one. */
  eventIndex?: number;
}

/** An entry as the checker sees it: position and a digest of its payload. */
export interface EntryView {
  /** Log index. */
  index: number;
  /** Term of the entry. */
  term: number;
  /** Digest of the entry payload. */
  dataHash: DataHash;
}

/**
 * Read access to one node's log (stable plus unstable parts). `term(i)` is
 * defined for `firstIndex - 1 <= i <= lastIndex` when the snapshot term is
 * known, and returns `undefined` for compacted or absent indices.
 */
export interface LogView {
  /** First index still held as an entry (snapshot index + 1). */
  readonly firstIndex: number;
  /** Last index of the log (the snapshot index when the log is empty). */
  readonly lastIndex: number;
  /** Term of the entry at `index`, or undefined when not available. */
  term(index: number): number | undefined;
  /** Payload digest of the entry at `index`, when the driver can provide it. */
  dataHash?(index: number): DataHash | undefined;
}

/** What the checker observes of one node after an event. */
export interface NodeView {
  /** Current term. */
  term: number;
  /** Current role. */
  role: RaftRole;
  /** Leader this node believes in for `term`, or null. */
  lead: NodeId | null;
  /**
   * Candidate this node voted for in `term` (the hard state's vote), when
   * the driver reports it; enables the one-vote-per-term check, which is what
   * catches a vote lost in a crash.
   */
  vote?: NodeId | null;
  /** Highest index known committed. */
  commitIndex: number;
  /** Highest index applied to the state machine (including via snapshot). */
  appliedIndex: number;
  /** The node's log. */
  log: LogView;
  /** Entries applied during this event, in the order they were applied. */
  newlyApplied: readonly EntryView[];
  /** Index of a snapshot restored into the state machine in this event, before `newlyApplied`. */
  appliedSnapshotIndex?: number;
  /**
   * Lowest index written (appended or overwritten) into the log during this
   * event, if any. Lets the checker verify that no committed entry was
   * rewritten without rescanning the log.
   */
  writtenFrom?: number;
}

/** What survives a crash: used to reset the monotonic baselines on restart. */
export interface DurableState {
  /** The persisted hard state. */
  hardState: HardState;
  /** Index of the persisted snapshot the state machine restarts from (0 for none). */
  snapshotIndex: number;
}

/** Tuning of the checker's memory use. */
export interface RaftSafetyCheckerOptions {
  /**
   * How many of the highest committed entries to retain; older ones are
   * pruned and no longer compared (a node lagging further behind than this
   * is not checked on the pruned indices). Defaults to 1,000,000.
   */
  maxRetainedCommitted?: number;
}

/** Thrown by {@link assertNoViolations}: carries every violation found. */
export class SafetyViolationError extends Error {
  /** The violations, in the order found. */
  readonly violations: readonly Violation[];

  /** Builds the error with a message listing every violation. */
  constructor(violations: readonly Violation[]) {
    super(
      `Raft safety violated:\n${violations.map(formatViolation).join("\n")}`,
    );
    this.name = "SafetyViolationError";
    this.violations = violations;
  }
}

/** One line per violation: `[rule] node n1 (event 42): detail`. */
export function formatViolation(v: Violation): string {
  const at = v.eventIndex === undefined ? "" : ` (event ${v.eventIndex})`;
  return `[${v.rule}] node ${v.nodeId}${at}: ${v.detail}`;
}

/** Throws {@link SafetyViolationError} when `violations` is not empty. */
export function assertNoViolations(violations: readonly Violation[]): void {
  if (violations.length > 0) throw new SafetyViolationError(violations);
}

/** FNV-1a over the payload bytes: a cheap digest for {@link EntryView.dataHash}. */
export function hashEntryData(data: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h ^= data[i];
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Adapts a list of entries (plus the snapshot they follow) to a {@link LogView}
 * in O(1). The entries must be contiguous and start at `snapshotIndex + 1`:
 * the ends are checked at once, every entry looked up is checked when read.
 */
export function logViewFromEntries(
  entries: readonly EntryView[],
  snapshotIndex = 0,
  snapshotTerm = 0,
): LogView {
  const at = (index: number): EntryView | undefined => {
    const entry = entries[index - snapshotIndex - 1];
    if (entry !== undefined && entry.index !== index) {
      throw new RangeError(
        `log entries not contiguous: position ${
          index - snapshotIndex - 1
        } holds index ${entry.index}, expected ${index}`,
      );
    }
    return entry;
  };
  if (entries.length > 0) {
    at(snapshotIndex + 1);
    at(snapshotIndex + entries.length);
  }
  return {
    firstIndex: snapshotIndex + 1,
    lastIndex: snapshotIndex + entries.length,
    term(index: number): number | undefined {
      if (index === snapshotIndex) return snapshotTerm;
      return at(index)?.term;
    },
    dataHash(index: number): DataHash | undefined {
      return at(index)?.dataHash;
    },
  };
}

interface CommittedRecord {
  term: number;
  dataHash: DataHash | undefined;
  /** Upper bound on the term in which the entry was committed (observer's term when first seen). */
  seenInTerm: number;
  /** Node whose observation first recorded it, for readable details. */
  firstSeenBy: NodeId;
}

interface NodeTrack {
  /** Vote per term, for the latest {@link MAX_VOTES_PER_NODE} terms; survives restarts. */
  votes: Map<number, NodeId>;
  term: number;
  commit: number;
  applied: number;
  /** Term in which this node was last observed as leader, or -1. */
  leaderTerm: number;
  leaderLastIndex: number;
  leaderLastTerm: number;
  /** Committed indices up to here are known present in the leader's log. */
  leaderCompleteUpTo: number;
}

const DEFAULT_MAX_RETAINED_COMMITTED = 1_000_000;
/** Leaders of old terms are pruned each time this many more have been recorded (see `#prune`). */
const MAX_RETAINED_TERMS = 10_000;
/** Votes remembered per node: a vote lost in a crash is re-cast within a few terms. */
const MAX_VOTES_PER_NODE = 64;

/**
 * Checks Raft safety incrementally over per-node observations.
 *
 * @example
 * ```ts
 * import { logViewFromEntries, RaftSafetyChecker } from "./raft_safety.ts";
 * const checker = new RaftSafetyChecker();
 * const log = logViewFromEntries([{ index: 1, term: 1, dataHash: 7 }]);
 * const base = { term: 1, commitIndex: 1, appliedIndex: 0, log, newlyApplied: [] };
 * checker.observe("n1", { ...base, role: "leader", lead: "n1" });
 * const violations = checker.observe("n2", { ...base, role: "leader", lead: "n2" });
 * console.assert(violations[0].rule === "electionSafety");
 * ```
 */
export class RaftSafetyChecker {
  readonly #leaders = new Map<number, NodeId>();
  readonly #committed = new Map<number, CommittedRecord>();
  readonly #nodes = new Map<NodeId, NodeTrack>();
  readonly #maxRetainedCommitted: number;
  #highestCommitted = 0;
  #leadersPruneAt = MAX_RETAINED_TERMS;
  /** Every index below this has been pruned from `#committed`. */
  #retainedFrom = 1;

  /** Creates a checker with empty history. */
  constructor(options: RaftSafetyCheckerOptions = {}) {
    this.#maxRetainedCommitted = options.maxRetainedCommitted ?? DEFAULT_MAX_RETAINED_COMMITTED;
    if (!(this.#maxRetainedCommitted >= 1)) {
      throw new RangeError(`maxRetainedCommitted must be >= 1, got ${this.#maxRetainedCommitted}`);
    }
  }

  /** Highest index any node has been observed to commit. */
  get highestCommitted(): number {
    return this.#highestCommitted;
  }

  /** The recorded committed entry at `index`, if retained. */
  committedEntry(index: number): { term: number; dataHash: DataHash | undefined } | undefined {
    const r = this.#committed.get(index);
    return r === undefined ? undefined : { term: r.term, dataHash: r.dataHash };
  }

  /** The node observed (or inferred from `lead`) as leader of `term`, if any. */
  leaderOf(term: number): NodeId | undefined {
    return this.#leaders.get(term);
  }

  /**
   * Tells the checker that `nodeId` crashed and restarted from `durable`:
   * term and commit fall back to the persisted hard state, applied to the
   * snapshot the state machine restarts from.
   */
  restarted(nodeId: NodeId, durable: DurableState): void {
    const fresh = this.#freshTrack();
    fresh.term = durable.hardState.term;
    fresh.commit = durable.hardState.commit;
    fresh.applied = durable.snapshotIndex;
    // Votes survive on purpose: a second vote in a term after a crash is the bug to catch.
    const votes = this.#nodes.get(nodeId)?.votes;
    if (votes !== undefined) fresh.votes = votes;
    this.#nodes.set(nodeId, fresh);
  }

  /** Stops tracking a node removed from the cluster (a later observation starts it afresh). */
  forget(nodeId: NodeId): void {
    this.#nodes.delete(nodeId);
  }

  /**
   * Checks one node's view after an event and returns the violations it
   * reveals (empty when all is well). Updates the history either way.
   */
  observe(nodeId: NodeId, view: NodeView, eventIndex?: number): Violation[] {
    const out: Violation[] = [];
    const report = (rule: SafetyRule, detail: string): void => {
      const v: Violation = { rule, nodeId, detail };
      if (eventIndex !== undefined) v.eventIndex = eventIndex;
      out.push(v);
    };
    let track = this.#nodes.get(nodeId);
    if (track === undefined) {
      track = this.#freshTrack();
      this.#nodes.set(nodeId, track);
    }

    this.#checkTerm(track, view, report);
    this.#checkElection(nodeId, view, report);
    this.#checkVote(track, view, report);
    this.#checkCommit(nodeId, track, view, report);
    this.#checkLeader(track, view, report);
    this.#checkApplied(nodeId, track, view, report);
    this.#prune();
    return out;
  }

  #freshTrack(): NodeTrack {
    return {
      votes: new Map(),
      term: 0,
      commit: 0,
      applied: 0,
      leaderTerm: -1,
      leaderLastIndex: 0,
      leaderLastTerm: 0,
      leaderCompleteUpTo: 0,
    };
  }

  #checkTerm(track: NodeTrack, view: NodeView, report: Reporter): void {
    if (view.term < track.term) {
      report("termMonotonic", `term went back from ${track.term} to ${view.term}`);
    }
    track.term = Math.max(track.term, view.term);
  }

  #checkElection(nodeId: NodeId, view: NodeView, report: Reporter): void {
    const claimed = view.role === "leader" ? nodeId : view.lead;
    if (claimed === null) return;
    const known = this.#leaders.get(view.term);
    if (known === undefined) {
      this.#leaders.set(view.term, claimed);
      return;
    }
    if (known === claimed) return;
    if (view.role === "leader") {
      report(
        "electionSafety",
        `${nodeId} is leader of term ${view.term}, but ${known} already was`,
      );
    } else {
      report(
        "electionSafety",
        `${nodeId} follows ${claimed} as leader of term ${view.term}, ` +
          `but ${known} was leader of that term`,
      );
    }
  }

  #checkVote(track: NodeTrack, view: NodeView, report: Reporter): void {
    if (view.vote === undefined || view.vote === null) return;
    const earlier = track.votes.get(view.term);
    if (earlier === undefined) {
      track.votes.set(view.term, view.vote);
      if (track.votes.size > MAX_VOTES_PER_NODE) {
        track.votes.delete(Math.min(...track.votes.keys()));
      }
      return;
    }
    if (earlier !== view.vote) {
      report(
        "oneVotePerTerm",
        `voted for ${view.vote} in term ${view.term}, having voted for ${earlier} in that term`,
      );
    }
  }

  #checkCommit(nodeId: NodeId, track: NodeTrack, view: NodeView, report: Reporter): void {
    const log = view.log;
    const prevCommit = track.commit;
    if (view.commitIndex < prevCommit) {
      report("commitMonotonic", `commit index went back from ${prevCommit} to ${view.commitIndex}`);
    }
    if (view.commitIndex > log.lastIndex) {
      report(
        "commitBeyondLog",
        `commit index ${view.commitIndex} is past the last log index ${log.lastIndex}`,
      );
    }
    // Entries rewritten at or below the old commit index are committed entries being replaced.
    if (view.writtenFrom !== undefined && view.writtenFrom <= prevCommit) {
      const hi = Math.min(prevCommit, log.lastIndex);
      for (let i = Math.max(view.writtenFrom, this.#retainedFrom); i <= hi; i++) {
        this.#compareCommitted(nodeId, view, i, "rewritten", report);
      }
    }
    const newCommit = Math.min(view.commitIndex, log.lastIndex);
    const lo = Math.max(prevCommit + 1, log.firstIndex - 1, this.#retainedFrom);
    for (let i = lo; i <= newCommit; i++) {
      this.#compareCommitted(nodeId, view, i, "committed", report);
    }
    // Spot check of the commit point itself: cheaply catches truncations the driver did not report.
    if (newCommit < lo && newCommit >= this.#retainedFrom) {
      this.#compareCommitted(nodeId, view, newCommit, "committed", report);
    }
    track.commit = Math.max(prevCommit, view.commitIndex);
  }

  /** Compares (or records) the node's entry at committed index `i` with the global record. */
  #compareCommitted(
    nodeId: NodeId,
    view: NodeView,
    i: number,
    how: "committed" | "rewritten",
    report: Reporter,
  ): void {
    const term = view.log.term(i);
    if (term === undefined || i < 1) return;
    const hash = view.log.dataHash?.(i);
    const rec = this.#committed.get(i);
    if (rec === undefined) {
      if (how === "rewritten") return;
      this.#committed.set(i, { term, dataHash: hash, seenInTerm: view.term, firstSeenBy: nodeId });
      if (i > this.#highestCommitted) this.#highestCommitted = i;
      return;
    }
    if (view.term < rec.seenInTerm && how === "committed") rec.seenInTerm = view.term;
    const termDiffers = rec.term !== term;
    const hashDiffers = hash !== undefined && rec.dataHash !== undefined && hash !== rec.dataHash;
    if (termDiffers || hashDiffers) {
      const what = how === "rewritten"
        ? `committed entry ${i} was rewritten`
        : `committed entry ${i} differs`;
      report(
        "logMatching",
        `${what}: this node has (term ${term}, data ${String(hash)}), ` +
          `${rec.firstSeenBy} committed (term ${rec.term}, data ${String(rec.dataHash)})`,
      );
      return;
    }
    if (rec.dataHash === undefined && hash !== undefined) rec.dataHash = hash;
  }

  #checkLeader(track: NodeTrack, view: NodeView, report: Reporter): void {
    const log = view.log;
    if (view.role !== "leader") {
      track.leaderTerm = -1;
      return;
    }
    if (track.leaderTerm !== view.term) {
      track.leaderTerm = view.term;
      track.leaderLastIndex = log.lastIndex;
      track.leaderLastTerm = log.term(log.lastIndex) ?? 0;
      track.leaderCompleteUpTo = Math.min(track.commit, log.lastIndex);
    } else {
      this.#checkAppendOnly(track, view, report);
    }
    this.#checkCompleteness(track, view, report);
  }

  #checkAppendOnly(track: NodeTrack, view: NodeView, report: Reporter): void {
    const log = view.log;
    if (log.lastIndex < track.leaderLastIndex) {
      report(
        "leaderAppendOnly",
        `leader of term ${view.term} shrank its log ` +
          `from ${track.leaderLastIndex} to ${log.lastIndex}`,
      );
    } else {
      const t = log.term(track.leaderLastIndex);
      if (t !== undefined && t !== track.leaderLastTerm) {
        report(
          "leaderAppendOnly",
          `leader of term ${view.term} overwrote entry ${track.leaderLastIndex} ` +
            `(term ${track.leaderLastTerm} became ${t})`,
        );
      } else if (view.writtenFrom !== undefined && view.writtenFrom <= track.leaderLastIndex) {
        report(
          "leaderAppendOnly",
          `leader of term ${view.term} wrote at ${view.writtenFrom}, ` +
            `at or below its last index ${track.leaderLastIndex}`,
        );
      }
    }
    track.leaderLastIndex = log.lastIndex;
    track.leaderLastTerm = log.term(log.lastIndex) ?? 0;
  }

  /**
   * Walks the committed indices the leader has not been checked against yet,
   * as long as they were committed before its term.
   */
  #checkCompleteness(track: NodeTrack, view: NodeView, report: Reporter): void {
    const log = view.log;
    let i = Math.max(track.leaderCompleteUpTo + 1, this.#retainedFrom);
    for (; i <= this.#highestCommitted; i++) {
      const rec = this.#committed.get(i);
      if (rec === undefined) continue;
      if (rec.seenInTerm >= view.term) break;
      if (i < log.firstIndex - 1) continue;
      const t = log.term(i);
      if (i > log.lastIndex || t === undefined) {
        report(
          "leaderCompleteness",
          `leader of term ${view.term} lacks entry ${i} (term ${rec.term}) ` +
            `committed by term ${rec.seenInTerm}; ` +
            `its log ends at ${log.lastIndex}`,
        );
        i++;
        break;
      }
      if (t !== rec.term) {
        report(
          "leaderCompleteness",
          `leader of term ${view.term} has term ${t} at index ${i}, ` +
            `but term ${rec.term} was committed there by term ${rec.seenInTerm}`,
        );
        i++;
        break;
      }
    }
    track.leaderCompleteUpTo = i - 1;
  }

  #checkApplied(nodeId: NodeId, track: NodeTrack, view: NodeView, report: Reporter): void {
    if (view.appliedIndex < track.applied) {
      report(
        "appliedMonotonic",
        `applied index went back from ${track.applied} to ${view.appliedIndex}`,
      );
    }
    if (view.appliedIndex > view.commitIndex) {
      report(
        "appliedBeyondCommit",
        `applied index ${view.appliedIndex} is past commit index ${view.commitIndex}`,
      );
    }
    let cursor = track.applied;
    if (view.appliedSnapshotIndex !== undefined && view.appliedSnapshotIndex > cursor) {
      cursor = view.appliedSnapshotIndex;
    }
    for (const e of view.newlyApplied) {
      if (e.index !== cursor + 1) {
        report(
          "applyOrder",
          `applied entry ${e.index} right after ${cursor}` +
            (e.index <= cursor ? " (applied twice or out of order)" : " (entries skipped)"),
        );
      }
      if (e.index > view.commitIndex) {
        report(
          "appliedBeyondCommit",
          `applied entry ${e.index} while commit index is ${view.commitIndex}`,
        );
      }
      cursor = Math.max(cursor, e.index);
      this.#compareApplied(nodeId, view, e, report);
    }
    if (cursor !== view.appliedIndex && view.appliedIndex >= track.applied) {
      report(
        "applyOrder",
        `applied index is ${view.appliedIndex} but the entries applied so far end at ${cursor}`,
      );
    }
    track.applied = Math.max(track.applied, view.appliedIndex);
  }

  #compareApplied(nodeId: NodeId, view: NodeView, e: EntryView, report: Reporter): void {
    if (e.index < this.#retainedFrom) return;
    const rec = this.#committed.get(e.index);
    if (rec === undefined) {
      this.#committed.set(e.index, {
        term: e.term,
        dataHash: e.dataHash,
        seenInTerm: view.term,
        firstSeenBy: nodeId,
      });
      if (e.index > this.#highestCommitted) this.#highestCommitted = e.index;
      return;
    }
    if (rec.term !== e.term || (rec.dataHash !== undefined && rec.dataHash !== e.dataHash)) {
      report(
        "stateMachineSafety",
        `applied (term ${e.term}, data ${String(e.dataHash)}) at index ${e.index}, ` +
          `but (term ${rec.term}, data ${
            String(rec.dataHash)
          }) is committed there (first seen on ${rec.firstSeenBy})`,
      );
      return;
    }
    if (rec.dataHash === undefined) rec.dataHash = e.dataHash;
  }

  #prune(): void {
    if (this.#leaders.size > this.#leadersPruneAt) {
      // No tracked node can still act in a term below every node's current term.
      let lowestTerm = Infinity;
      for (const t of this.#nodes.values()) lowestTerm = Math.min(lowestTerm, t.term);
      for (const term of this.#leaders.keys()) {
        if (term < lowestTerm) this.#leaders.delete(term);
      }
      this.#leadersPruneAt = this.#leaders.size + MAX_RETAINED_TERMS;
    }
    if (this.#committed.size <= this.#maxRetainedCommitted) return;
    // A hard bound: indices of lagging nodes beyond the window are no longer compared.
    const target = this.#highestCommitted - this.#maxRetainedCommitted;
    for (let i = this.#retainedFrom; i <= target; i++) this.#committed.delete(i);
    if (target >= this.#retainedFrom) this.#retainedFrom = target + 1;
  }
}

type Reporter = (rule: SafetyRule, detail: string) => void;
