/**
 * The `quota-partition` scenario: a cluster-wide quota hammered from every
 * node under partitions and leader changes, checked against the invariant of
 * DESIGN.md §8 (calls admitted <= budget refilled + slices outstanding).
 *
 * @example
 * ```ts ignore
 * import { QUOTA_SCENARIOS } from "./mod.ts";
 * const figures = QUOTA_SCENARIOS["quota-partition"](1);
 * console.log(JSON.stringify(figures));
 * ```
 *
 * @module
 */
import { quotaPartition } from "./scenario.ts";

export * from "./agent.ts";
export * from "./checker.ts";
export * from "./scenario.ts";

/** The quota scenarios by name, each a pure function of its seed (same shape as `MCP_SCENARIOS`). */
export const QUOTA_SCENARIOS: Record<string, (seed: number) => Record<string, unknown>> = {
  "quota-partition": (seed) => ({ ...quotaPartition(seed) }),
};
