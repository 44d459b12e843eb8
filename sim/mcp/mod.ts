/**
 * Simulated MCP backends and the named call-path scenarios (`slow-replica`,
 * `replica-crash`, `flapping`), driven through the production call router of
 * `core/routing`.
 *
 * @example
 * ```ts
 * import { MCP_SCENARIOS } from "./mod.ts";
 * const figures = MCP_SCENARIOS["slow-replica"](1);
 * console.log(JSON.stringify(figures));
 * ```
 *
 * @module
 */
import { flapping, replicaCrash, slowReplica } from "./scenarios.ts";

export * from "./latency.ts";
export * from "./backend.ts";
export * from "./driver.ts";
export * from "./service.ts";
export * from "./scenarios.ts";

/** The call-path scenarios by name, each a pure function of its seed. */
export const MCP_SCENARIOS: Record<string, (seed: number) => Record<string, unknown>> = {
  "slow-replica": (seed) => slowReplica(seed),
  "replica-crash": (seed) => replicaCrash(seed),
  // Hedging on: a second attempt of a call that must not run twice would show here.
  "replica-crash-hedged": (seed) => replicaCrash(seed, { hedgeDelayMs: 150 }),
  "flapping": (seed) => flapping(seed),
};
