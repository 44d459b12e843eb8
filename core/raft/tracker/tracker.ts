/**
 * The leader's view of the whole cluster: the active configuration, the
 * progress of every member, and the votes of the current election.
 *
 * @module
 */
import { JointConfig } from "../quorum/joint.ts";
import type { VoteResult } from "../quorum/types.ts";
import type { ConfState, NodeId } from "../types.ts";
import type { Progress } from "./progress.ts";

/**
 * A membership configuration as the core uses it. Invariants (kept by the
 * conf-change `Changer`): voters and learners are disjoint; `learnersNext` is
 * a subset of the outgoing voters; outside a joint configuration
 * `learnersNext` is empty and `autoLeave` is false.
 */
export interface TrackerConfig {
  /** The voters, possibly joint. */
  voters: JointConfig;
  /** Whether a joint configuration is left automatically once committed. */
  autoLeave: boolean;
  /** Members that receive the log but do not vote. */
  learners: Set<NodeId>;
  /**
   * Outgoing voters that become learners when the joint configuration is
   * left: they cannot be learners while they still vote in the outgoing half.
   */
  learnersNext: Set<NodeId>;
}

/** A configuration together with the progress of its members. */
export interface ConfigAndProgress {
  /** The membership. */
  config: TrackerConfig;
  /** One progress per voter and learner. */
  progress: Map<NodeId, Progress>;
}

/** The tally of an election. */
export interface VoteTally {
  /** Voters that granted their vote. */
  granted: number;
  /** Voters that rejected. */
  rejected: number;
  /** Outcome under the (possibly joint) configuration. */
  result: VoteResult;
}

/** An empty configuration: no voters, no learners. */
export function emptyTrackerConfig(): TrackerConfig {
  return {
    voters: new JointConfig(),
    autoLeave: false,
    learners: new Set(),
    learnersNext: new Set(),
  };
}

/** A deep copy of `config` (quorum halves are immutable and shared). */
export function cloneTrackerConfig(config: TrackerConfig): TrackerConfig {
  return {
    voters: config.voters,
    autoLeave: config.autoLeave,
    learners: new Set(config.learners),
    learnersNext: new Set(config.learnersNext),
  };
}

/** The ConfState that describes `config`, every list sorted. */
export function trackerConfigToConfState(config: TrackerConfig): ConfState {
  return {
    voters: config.voters.incoming.slice(),
    votersOutgoing: config.voters.outgoing.slice(),
    learners: [...config.learners].sort(),
    learnersNext: [...config.learnersNext].sort(),
    autoLeave: config.autoLeave,
  };
}

/** A one-line description, e.g. `voters=(a b c)&&(a b d) learners=(e) learners_next=(d) autoleave`. */
export function trackerConfigToString(config: TrackerConfig): string {
  let out = `voters=${config.voters.toString()}`;
  if (config.learners.size > 0) out += ` learners=(${[...config.learners].sort().join(" ")})`;
  if (config.learnersNext.size > 0) {
    out += ` learners_next=(${[...config.learnersNext].sort().join(" ")})`;
  }
  if (config.autoLeave) out += " autoleave";
  return out;
}

/**
 * Tracks the configuration, the progress of every member and the votes of
 * the current election. `config` and `progress` are replaced together when a
 * configuration change is applied (see `Changer`).
 *
 * @example
 * ```ts
 * import { Inflights, MajorityConfig, JointConfig, Progress, ProgressTracker } from "@safla/core/raft";
 * const trk = new ProgressTracker(256, 0);
 * trk.config.voters = new JointConfig(new MajorityConfig(["a", "b", "c"]));
 * for (const id of ["a", "b", "c"]) {
 *   trk.progress.set(id, new Progress({ next: 1, inflights: new Inflights(256, 0) }));
 * }
 * trk.recordVote("a", true);
 * trk.recordVote("b", true);
 * console.assert(trk.tallyVotes().result === "won");
 * ```
 */
export class ProgressTracker {
  /** Inflight window capacity (messages) of each follower's progress. */
  readonly maxInflightMsgs: number;
  /** Inflight window byte limit of each follower's progress; 0 means unlimited. */
  readonly maxInflightBytes: number;
  /** The active configuration. */
  config: TrackerConfig = emptyTrackerConfig();
  /** Progress of every voter and learner. */
  progress: Map<NodeId, Progress> = new Map();
  /** Votes received in the current election (true = granted). */
  votes: Map<NodeId, boolean> = new Map();
  #sortedIdsCache: NodeId[] = [];

  /** Creates a tracker with an empty configuration. */
  constructor(maxInflightMsgs: number, maxInflightBytes: number) {
    if (!Number.isSafeInteger(maxInflightMsgs) || maxInflightMsgs < 1) {
      throw new RangeError(`maxInflightMsgs must be a positive safe integer: ${maxInflightMsgs}`);
    }
    if (!Number.isSafeInteger(maxInflightBytes) || maxInflightBytes < 0) {
      throw new RangeError(
        `maxInflightBytes must be a non-negative safe integer: ${maxInflightBytes}`,
      );
    }
    this.maxInflightMsgs = maxInflightMsgs;
    this.maxInflightBytes = maxInflightBytes;
  }

  /** The active configuration as a ConfState. */
  confState(): ConfState {
    return trackerConfigToConfState(this.config);
  }

  /** Whether the configuration is exactly one voter (no joint, learners allowed). */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && !this.config.voters.isJoint;
  }

  /**
   * The largest index acknowledged by a quorum, by the members' `match`.
   * `Number.MAX_SAFE_INTEGER` for an empty configuration.
   */
  committed(): number {
    return this.config.voters.committedIndex((id) => this.progress.get(id)?.match);
  }

  /** Calls `fn` on every member's progress, in sorted id order so runs are deterministic. */
  visit(fn: (id: NodeId, progress: Progress) => void): void {
    for (const id of this.#sortedIds()) {
      const progress = this.progress.get(id);
      if (progress !== undefined) fn(id, progress);
    }
  }

  // The leader visits on every proposal; sorting the ids each time cost more
  // than the appends. The cache is checked against the map on each use (same
  // size and every cached id present means the same key set), because
  // `progress` is a public map that may be replaced or edited.
  #sortedIds(): readonly NodeId[] {
    const cached = this.#sortedIdsCache;
    let valid = cached.length === this.progress.size;
    for (let i = 0; valid && i < cached.length; i++) valid = this.progress.has(cached[i]);
    if (!valid) this.#sortedIdsCache = [...this.progress.keys()].sort();
    return this.#sortedIdsCache;
  }

  /** Whether a quorum of voters was recently active (CheckQuorum). */
  quorumActive(): boolean {
    const active = new Map<NodeId, boolean>();
    for (const id of this.config.voters.ids()) {
      active.set(id, this.progress.get(id)?.recentActive ?? false);
    }
    return this.config.voters.voteResult(active) === "won";
  }

  /** The voters of either half, sorted. */
  voterNodes(): NodeId[] {
    return [...this.config.voters.ids()].sort();
  }

  /** The learners, sorted (not including `learnersNext`). */
  learnerNodes(): NodeId[] {
    return [...this.config.learners].sort();
  }

  /** Forgets the votes of the previous election. */
  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records `id`'s vote; a member's first answer in an election is the one that counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Counts the voters' answers and the outcome of the election. */
  tallyVotes(): VoteTally {
    let granted = 0;
    let rejected = 0;
    for (const [id, progress] of this.progress) {
      if (progress.isLearner) continue;
      const vote = this.votes.get(id);
      if (vote === true) granted++;
      else if (vote === false) rejected++;
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) };
  }
}
