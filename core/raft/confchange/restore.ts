/**
 * Rebuilds a tracker configuration from a ConfState (from a snapshot or on
 * restart), joint configurations included.
 *
 * @module
 */
import { type ConfigAndProgress, trackerConfigToString } from "../tracker/tracker.ts";
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
  return result ?? base;
}
