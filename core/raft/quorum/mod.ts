/**
 * Quorum arithmetic for Raft: majority configurations, joint configurations
 * (for membership changes), commit indices and vote tallies.
 *
 * @example
 * ```ts
 * import { JointConfig, MajorityConfig } from "@safla/core/raft";
 * const cfg = new JointConfig(new MajorityConfig(["a", "b", "c"]));
 * console.assert(cfg.voteResult(new Map([["a", true], ["b", false]])) === "pending");
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./majority.ts";
export * from "./joint.ts";
