/**
 * Load balancing across the replicas of one logical MCP server: per-replica
 * statistics, candidate selection and pure strategies (round robin, weighted
 * response time, least outstanding, power of two choices with peak EWMA,
 * consistent hashing). Randomness comes from the caller's `Rng`, time from the
 * caller's clock.
 *
 * @example
 * ```ts
 * import { createStrategy, SeededRng, selectCandidates, StatsTable } from "@safla/core";
 * const stats = new StatsTable();
 * const strategy = createStrategy("p2c-peak-ewma");
 * const candidates = selectCandidates([
 *   { id: "a", healthy: true, ejected: false, tools: ["search"] },
 *   { id: "b", healthy: true, ejected: false, tools: ["search"] },
 * ], "search");
 * const replica = strategy.pick(candidates, stats, new SeededRng(1), { nowMs: 0 });
 * if (replica) stats.onStart(replica, 0);
 * ```
 *
 * @module
 */
export * from "./stats.ts";
export * from "./candidates.ts";
export * from "./strategy.ts";
export * from "./round_robin.ts";
export * from "./weighted_response_time.ts";
export * from "./least_outstanding.ts";
export * from "./p2c_peak_ewma.ts";
export * from "./consistent_hash.ts";
