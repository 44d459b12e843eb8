/**
 * Membership changes: the commands (validation, encoding, joint-consensus
 * rules), the {@link Changer} that applies them to a tracker configuration,
 * and {@link restore} that rebuilds a configuration from a ConfState.
 *
 * @example
 * ```ts
 * import { Changer, ProgressTracker } from "@safla/core/raft";
 * const { config } = new Changer(new ProgressTracker(256, 0), 0)
 *   .simple([{ type: "addNode", nodeId: "n1" }]);
 * console.assert(config.voters.toString() === "(n1)");
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./changer.ts";
export * from "./restore.ts";
export * from "./conf_change.ts";
