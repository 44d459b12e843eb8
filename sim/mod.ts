/**
 * @safla/sim: the deterministic simulator. One seed derives a whole run: a
 * cluster of production nodes (`core/node`) over a simulated network and
 * disks, a fault injector, a KV client workload, and the checkers of
 * `sim/checkers` watching every event.
 *
 * @example
 * ```ts ignore
 * import { runSimulation } from "@safla/sim";
 * const result = runSimulation({ seed: 42 });
 * console.log(result.traceHash, result.violations);
 * ```
 *
 * @module
 */
export * from "./scheduler.ts";
export * from "./trace.ts";
export * from "./network.ts";
export * from "./disk.ts";
export * from "./swarm.ts";
export * from "./cluster.ts";
export * from "./nemesis.ts";
export * from "./workload.ts";
export * from "./simulation.ts";
export * from "./bugs.ts";
export * from "./scenarios.ts";
export { type CampaignSummary, type CliOptions, parseArgs, runCampaign } from "./main.ts";
export { UsageError } from "./flags.ts";
export * from "./watch_follower.ts";
export * from "./figure8.ts";
