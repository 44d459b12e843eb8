/**
 * Applies membership changes to a tracker configuration: simple changes (at
 * most one voter added or removed) and joint consensus (enter, then leave).
 *
 * @module
 */
import { JointConfig } from "../quorum/joint.ts";
import { MajorityConfig } from "../quorum/majority.ts";
import { Inflights } from "../tracker/inflights.ts";
import { Progress } from "../tracker/progress.ts";
import {
  cloneTrackerConfig,
  type ConfigAndProgress,
  type TrackerConfig,
} from "../tracker/tracker.ts";
import type { ConfChangeSingle, NodeId } from "../types.ts";
import { ConfChangeError } from "./errors.ts";

/** What a {@link Changer} starts from; a `ProgressTracker` fits. */
export interface ChangerBase extends ConfigAndProgress {
  /** Inflight window capacity for the progress of added members. */
  readonly maxInflightMsgs: number;
  /** Inflight window byte limit for the progress of added members (0: unlimited). */
  readonly maxInflightBytes: number;
}

/**
 * Computes the configuration (and member progress) that results from a
 * membership change. Every method returns new copies and never mutates its
 * base; invalid changes throw {@link ConfChangeError} and the result always
 * satisfies the configuration invariants.
 *
 * @example
 * ```ts
 * import { Changer, ProgressTracker } from "@safla/core/raft";
 * const trk = new ProgressTracker(256, 0);
 * const boot = new Changer(trk, 0).simple([{ type: "addNode", nodeId: "a" }]);
 * const joint = new Changer(trk, 10).withBase(boot)
 *   .enterJoint(true, [{ type: "addNode", nodeId: "b" }, { type: "addNode", nodeId: "c" }]);
 * console.assert(joint.config.voters.toString() === "(a b c)&&(a)");
 * ```
 */
export class Changer {
  readonly #base: ChangerBase;
  readonly #lastIndex: number;

  /**
   * Starts from `base`. New members' progress is probed from `lastIndex`,
   * the last index of the leader's log.
   */
  constructor(base: ChangerBase, lastIndex: number) {
    if (!Number.isSafeInteger(lastIndex) || lastIndex < 0) {
      throw new RangeError(`lastIndex must be a non-negative safe integer: ${lastIndex}`);
    }
    this.#base = base;
    this.#lastIndex = lastIndex;
  }

  /**
   * Enters a joint configuration: the current voters become the outgoing
   * half, and `changes` are applied to the incoming half. With `autoLeave`,
   * the core leaves the joint configuration on its own once it is committed.
   */
  enterJoint(autoLeave: boolean, changes: readonly ConfChangeSingle[]): ConfigAndProgress {
    const { config, progress } = this.#checkAndCopy();
    if (config.voters.isJoint) throw new ConfChangeError("config is already joint");
    if (config.voters.incoming.size === 0) {
      // An empty config may be filled by simple changes (bootstrap), but a
      // joint config with an empty outgoing half would not be joint at all.
      throw new ConfChangeError("can't make a zero-voter config joint");
    }
    config.voters = new JointConfig(config.voters.incoming, config.voters.incoming);
    this.#apply(config, progress, changes);
    config.autoLeave = autoLeave;
    return checkAndReturn(config, progress);
  }

  /**
   * Leaves a joint configuration: the outgoing half is dropped, staged
   * learners (`learnersNext`) become learners, and outgoing voters that are
   * neither incoming voters nor learners lose their progress.
   */
  leaveJoint(): ConfigAndProgress {
    const { config, progress } = this.#checkAndCopy();
    if (!config.voters.isJoint) throw new ConfChangeError("can't leave a non-joint config");
    for (const id of config.learnersNext) {
      config.learners.add(id);
      mustProgress(progress, id).isLearner = true;
    }
    config.learnersNext = new Set();
    for (const id of config.voters.outgoing.ids) {
      if (!config.voters.incoming.has(id) && !config.learners.has(id)) progress.delete(id);
    }
    config.voters = new JointConfig(config.voters.incoming);
    config.autoLeave = false;
    return checkAndReturn(config, progress);
  }

  /**
   * Applies `changes` directly, without a joint configuration. Allowed only
   * outside a joint configuration and when the incoming voters change by at
   * most one member; anything larger needs {@link Changer.enterJoint}.
   */
  simple(changes: readonly ConfChangeSingle[]): ConfigAndProgress {
    const { config, progress } = this.#checkAndCopy();
    if (config.voters.isJoint) {
      throw new ConfChangeError("can't apply simple config change in joint config");
    }
    this.#apply(config, progress, changes);
    const changed = symmetricDifferenceSize(
      this.#base.config.voters.incoming.ids,
      config.voters.incoming.ids,
    );
    if (changed > 1) {
      throw new ConfChangeError(
        `more than one voter changed without entering joint config (${changed} changed)`,
      );
    }
    return checkAndReturn(config, progress);
  }

  /** A changer with the same limits and last index that starts from `base` instead. */
  withBase(base: ConfigAndProgress): Changer {
    return new Changer(
      {
        config: base.config,
        progress: base.progress,
        maxInflightMsgs: this.#base.maxInflightMsgs,
        maxInflightBytes: this.#base.maxInflightBytes,
      },
      this.#lastIndex,
    );
  }

  /** A checked copy of the base configuration and progress, unchanged. */
  copyBase(): ConfigAndProgress {
    return this.#checkAndCopy();
  }

  #checkAndCopy(): ConfigAndProgress {
    const config = cloneTrackerConfig(this.#base.config);
    const progress = new Map<NodeId, Progress>();
    for (const [id, pr] of this.#base.progress) progress.set(id, pr.clone());
    checkInvariants(config, progress);
    return { config, progress };
  }

  #apply(
    config: TrackerConfig,
    progress: Map<NodeId, Progress>,
    changes: readonly ConfChangeSingle[],
  ): void {
    for (const change of changes) {
      if (typeof change.nodeId !== "string" || change.nodeId === "") {
        throw new ConfChangeError(
          `a change must name a node, got nodeId ${JSON.stringify(change.nodeId)}`,
        );
      }
      switch (change.type) {
        case "addNode":
          this.#makeVoter(config, progress, change.nodeId);
          break;
        case "addLearner":
          this.#makeLearner(config, progress, change.nodeId);
          break;
        case "removeNode":
          remove(config, progress, change.nodeId);
          break;
        default:
          throw new ConfChangeError(
            `unexpected conf change type ${JSON.stringify((change as { type: unknown }).type)}`,
          );
      }
    }
    if (config.voters.incoming.size === 0) throw new ConfChangeError("removed all voters");
  }

  #makeVoter(config: TrackerConfig, progress: Map<NodeId, Progress>, id: NodeId): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.#initProgress(config, progress, id, false);
      return;
    }
    pr.isLearner = false;
    config.learners.delete(id);
    config.learnersNext.delete(id);
    config.voters = withIncoming(config.voters, (ids) => ids.add(id));
  }

  #makeLearner(config: TrackerConfig, progress: Map<NodeId, Progress>, id: NodeId): void {
    const pr = progress.get(id);
    if (pr === undefined) {
      this.#initProgress(config, progress, id, true);
      return;
    }
    if (pr.isLearner) return;
    remove(config, progress, id);
    // A voter turning learner keeps what the leader knows of its log.
    progress.set(id, pr);
    if (config.voters.outgoing.has(id)) {
      // It still votes in the outgoing half, so it can only become a learner
      // when the joint configuration is left.
      config.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      config.learners.add(id);
    }
  }

  #initProgress(
    config: TrackerConfig,
    progress: Map<NodeId, Progress>,
    id: NodeId,
    isLearner: boolean,
  ): void {
    if (isLearner) config.learners.add(id);
    else config.voters = withIncoming(config.voters, (ids) => ids.add(id));
    progress.set(
      id,
      new Progress({
        // Probing from the leader's last index: a new member most likely has
        // an empty log and will get a snapshot after the first rejection.
        next: Math.max(this.#lastIndex, 1),
        inflights: new Inflights(this.#base.maxInflightMsgs, this.#base.maxInflightBytes),
        isLearner,
        // A new member counts as active, or CheckQuorum could depose the
        // leader before the member had a chance to answer.
        recentActive: true,
      }),
    );
  }
}

function remove(config: TrackerConfig, progress: Map<NodeId, Progress>, id: NodeId): void {
  if (!progress.has(id)) return;
  config.voters = withIncoming(config.voters, (ids) => ids.delete(id));
  config.learners.delete(id);
  config.learnersNext.delete(id);
  // An outgoing voter keeps its progress: it still votes until the joint config is left.
  if (!config.voters.outgoing.has(id)) progress.delete(id);
}

function withIncoming(voters: JointConfig, edit: (ids: Set<NodeId>) => unknown): JointConfig {
  const ids = new Set(voters.incoming.ids);
  edit(ids);
  return new JointConfig(new MajorityConfig(ids), voters.outgoing);
}

function mustProgress(progress: ReadonlyMap<NodeId, Progress>, id: NodeId): Progress {
  const pr = progress.get(id);
  if (pr === undefined) throw new ConfChangeError(`no progress for ${id}`);
  return pr;
}

function symmetricDifferenceSize(a: ReadonlySet<NodeId>, b: ReadonlySet<NodeId>): number {
  let n = 0;
  for (const id of a) if (!b.has(id)) n++;
  for (const id of b) if (!a.has(id)) n++;
  return n;
}

function checkAndReturn(
  config: TrackerConfig,
  progress: Map<NodeId, Progress>,
): ConfigAndProgress {
  checkInvariants(config, progress);
  return { config, progress };
}

/**
 * Throws a {@link ConfChangeError} if `config` and `progress` break an
 * invariant: every member has a progress and only members do; voters and
 * learners are disjoint; learners are marked as such; staged learners are
 * outgoing voters not yet marked; outside a joint config nothing is staged
 * and `autoLeave` is false. The empty configuration is valid (bootstrap).
 */
export function checkInvariants(
  config: TrackerConfig,
  progress: ReadonlyMap<NodeId, Progress>,
): void {
  const members = config.voters.ids();
  for (const id of config.learners) members.add(id);
  for (const id of config.learnersNext) members.add(id);
  for (const id of members) mustProgress(progress, id);
  for (const id of progress.keys()) {
    if (!members.has(id)) throw new ConfChangeError(`progress for ${id}, which is not a member`);
  }
  for (const id of config.learnersNext) {
    if (!config.voters.outgoing.has(id)) {
      throw new ConfChangeError(`${id} is in learnersNext, but not an outgoing voter`);
    }
    if (progress.get(id)?.isLearner) {
      throw new ConfChangeError(`${id} is in learnersNext, but is already marked as learner`);
    }
  }
  for (const id of config.learners) {
    if (config.voters.outgoing.has(id)) {
      throw new ConfChangeError(`${id} is in learners and is an outgoing voter`);
    }
    if (config.voters.incoming.has(id)) {
      throw new ConfChangeError(`${id} is in learners and is an incoming voter`);
    }
    if (!progress.get(id)?.isLearner) {
      throw new ConfChangeError(`${id} is in learners, but is not marked as learner`);
    }
  }
  for (const id of config.voters.ids()) {
    if (progress.get(id)?.isLearner && !config.learnersNext.has(id)) {
      throw new ConfChangeError(`${id} is a voter, but is marked as learner`);
    }
  }
  if (!config.voters.isJoint) {
    if (config.learnersNext.size > 0) {
      throw new ConfChangeError("learnersNext must be empty when not joint");
    }
    if (config.autoLeave) throw new ConfChangeError("autoLeave must be false when not joint");
  }
}
