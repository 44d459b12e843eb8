/**
 * The `watch-across-failover` scenario: watch clients on a simulated cluster
 * of production nodes, reconnecting across leader crashes, partitions and
 * restarts, checked against the global committed event sequence.
 *
 * @example
 * ```ts ignore
 * import { WATCH_SCENARIOS } from "./mod.ts";
 * const figures = WATCH_SCENARIOS["watch-across-failover"](1);
 * console.log(JSON.stringify(figures));
 * ```
 *
 * @module
 */
import { watchAcrossFailover } from "./scenario.ts";

export * from "./applied_log.ts";
export * from "./watch_checker.ts";
export * from "./watch_server.ts";
export * from "./watch_client.ts";
export * from "./prefix_writer.ts";
export * from "./failover_nemesis.ts";
export * from "./scenario.ts";

/** The watch scenarios by name, each a pure function of its seed (same shape as `MCP_SCENARIOS`). */
export const WATCH_SCENARIOS: Record<string, (seed: number) => Record<string, unknown>> = {
  "watch-across-failover": (seed) => ({ ...watchAcrossFailover(seed) }),
};
