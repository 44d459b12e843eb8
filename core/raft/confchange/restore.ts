/**
 * Rebuilds a tracker configuration from a ConfState (from a snapshot or on
 * restart), joint configurations included.
 *
 * @module
 */
import {
  type ConfigAndProgress,
  trackerConfigToConfState,
  trackerConfigToString,
} from "../tracker/tracker.ts";
import type { ConfChangeSingle, ConfState } from "../types.ts";
import type { Changer } from "./changer.ts";
import { ConfChangeError } from "./errors.ts";

/**
 * Builds the configuration that `cs` describes by replaying membership
 * changes on top of `changer`'s base, which must be empty (a fresh tracker).
 *
 * A joint ConfState is reached in two steps: first the outgoing voters are
 * added one simple change at a time, then a joint configuration is entered
 * that removes them all, adds the incoming voters and learners, and stages
 * `learnersNext` (which, being outgoing voters, can only be staged).
 *
 * @example
 * ```ts
 * import { Changer, ProgressTracker, restore } from "@safla/core/raft";
 * const cs = {
 *   voters: ["a", "b", "c"], votersOutgoing: ["a", "b", "d"],
 *   learners: ["e"], learnersNext: ["d"], autoLeave: false,
 * };
 * const { config } = restore(new Changer(new ProgressTracker(256, 0), 10), cs);
 * console.assert(config.voters.toString() === "(a b c)&&(a b d)");
 * ```
 */
export function restore(changer: Changer, cs: ConfState): ConfigAndProgress {
  validateConfState(cs);
  const base = changer.copyBase();
  if (base.progress.size > 0) {
    throw new ConfChangeError(
      `restore must start from an empty configuration, not ${trackerConfigToString(base.config)}`,
    );
  }
  const outgoing: ConfChangeSingle[] = cs.votersOutgoing.map((nodeId) => ({
    type: "addNode",
    nodeId,
  }));
  const incoming: ConfChangeSingle[] = [
    ...cs.votersOutgoing.map((nodeId): ConfChangeSingle => ({ type: "removeNode", nodeId })),
    ...cs.voters.map((nodeId): ConfChangeSingle => ({ type: "addNode", nodeId })),
    ...cs.learners.map((nodeId): ConfChangeSingle => ({ type: "addLearner", nodeId })),
    ...cs.learnersNext.map((nodeId): ConfChangeSingle => ({ type: "addLearner", nodeId })),
  ];
  let current = changer;
  let result: ConfigAndProgress | undefined;
  const step = (apply: (c: Changer) => ConfigAndProgress): void => {
    result = apply(current);
    current = current.withBase(result);
  };
  if (outgoing.length === 0) {
    for (const change of incoming) step((c) => c.simple([change]));
  } else {
    for (const change of outgoing) step((c) => c.simple([change]));
    step((c) => c.enterJoint(cs.autoLeave, incoming));
  }
  const restored = result ?? base;
  const got = trackerConfigToConfState(restored.config);
  if (!confStatesEquivalent(got, cs)) {
    throw new ConfChangeError(
      `restored ${JSON.stringify(got)} differs from the requested ${JSON.stringify(cs)}`,
    );
  }
  return restored;
}

/**
 * Throws a {@link ConfChangeError} unless `cs` is a configuration that
 * membership changes can reach: non-empty ids without duplicates, learners
 * disjoint from all voters, staged learners (`learnersNext`) only among the
 * outgoing voters and not incoming ones, and `learnersNext` and `autoLeave`
 * only in a joint configuration.
 *
 * @example
 * ```ts
 * import { validateConfState } from "@safla/core/raft";
 * validateConfState({
 *   voters: ["a", "b"], votersOutgoing: [], learners: ["c"], learnersNext: [], autoLeave: false,
 * });
 * ```
 */
export function validateConfState(cs: ConfState): void {
  const lists: Array<[string, readonly string[]]> = [
    ["voters", cs.voters],
    ["votersOutgoing", cs.votersOutgoing],
    ["learners", cs.learners],
    ["learnersNext", cs.learnersNext],
  ];
  for (const [name, ids] of lists) {
    if (!Array.isArray(ids)) throw new ConfChangeError(`ConfState.${name} must be an array`);
    const seen = new Set<string>();
    for (const id of ids) {
      if (typeof id !== "string" || id === "") {
        throw new ConfChangeError(`ConfState.${name} holds an invalid id ${JSON.stringify(id)}`);
      }
      if (seen.has(id)) throw new ConfChangeError(`ConfState.${name} lists ${id} twice`);
      seen.add(id);
    }
  }
  const voters = new Set(cs.voters);
  const outgoing = new Set(cs.votersOutgoing);
  const learners = new Set(cs.learners);
  for (const id of cs.learners) {
    if (voters.has(id) || outgoing.has(id)) {
      throw new ConfChangeError(`${id} is both a learner and a voter in the ConfState`);
    }
  }
  for (const id of cs.learnersNext) {
    if (!outgoing.has(id)) {
      throw new ConfChangeError(`${id} is in learnersNext, but not an outgoing voter`);
    }
    if (voters.has(id) || learners.has(id)) {
      throw new ConfChangeError(`${id} is in learnersNext, but also a voter or learner`);
    }
  }
  if (cs.votersOutgoing.length === 0) {
    if (cs.autoLeave) throw new ConfChangeError("autoLeave must be false when not joint");
  }
}

/**
 * Whether two ConfStates describe the same configuration: the same members
 * in each list, in any order, and the same `autoLeave`.
 *
 * @example
 * ```ts
 * import { confStatesEquivalent } from "@safla/core/raft";
 * const cs = { voters: ["a", "b"], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false };
 * console.assert(confStatesEquivalent(cs, { ...cs, voters: ["b", "a"] }));
 * ```
 */
export function confStatesEquivalent(a: ConfState, b: ConfState): boolean {
  const same = (x: readonly string[], y: readonly string[]): boolean => {
    const sortedY = [...y].sort();
    return x.length === y.length && [...x].sort().every((id, i) => id === sortedY[i]);
  };
  return a.autoLeave === b.autoLeave && same(a.voters, b.voters) &&
    same(a.votersOutgoing, b.votersOutgoing) && same(a.learners, b.learners) &&
    same(a.learnersNext, b.learnersNext);
}
