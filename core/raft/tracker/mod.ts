/**
 * Progress tracking: what the leader knows about each follower (probe,
 * replicate and snapshot states, the inflight window) and the configuration
 * and votes of the cluster.
 *
 * @example
 * ```ts
 * import { Inflights, Progress } from "@safla/core/raft";
 * const pr = new Progress({ next: 1, inflights: new Inflights(8, 0) });
 * console.assert(pr.state === "probe" && !pr.isPaused());
 * ```
 *
 * @module
 */
export * from "./inflights.ts";
export * from "./progress.ts";
export * from "./tracker.ts";
