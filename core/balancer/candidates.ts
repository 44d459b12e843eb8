/**
 * Which replicas a call may be balanced over. The registry and the resilience
 * layer own the facts (health, ejection, tool lists); this only combines them.
 *
 * @module
 */

/** The facts about one replica that decide whether it may receive a call. */
export interface ReplicaCandidate {
  /** Replica id, as the strategies and the stats table know it. */
  readonly id: string;
  /** The registry's health verdict (the seed's `NodeStatus.HEALTHY`). */
  readonly healthy: boolean;
  /** Whether outlier ejection or an open circuit breaker currently excludes it. */
  readonly ejected: boolean;
  /** Names of the tools this replica offers. */
  readonly tools: ReadonlySet<string> | readonly string[];
}

/**
 * The ids of the replicas that may receive a call to `toolName`: healthy, not
 * ejected, and offering the tool (any replica when `toolName` is omitted, for
 * requests that are not tool calls). Order is preserved.
 *
 * @example
 * ```ts
 * import { selectCandidates } from "@safla/core";
 * selectCandidates([
 *   { id: "a", healthy: true, ejected: false, tools: ["search"] },
 *   { id: "b", healthy: false, ejected: false, tools: ["search"] },
 *   { id: "c", healthy: true, ejected: true, tools: ["search"] },
 *   { id: "d", healthy: true, ejected: false, tools: ["fetch"] },
 * ], "search"); // ["a"]
 * ```
 */
export function selectCandidates(
  replicas: readonly ReplicaCandidate[],
  toolName?: string,
): string[] {
  const out: string[] = [];
  for (const replica of replicas) {
    if (!replica.healthy || replica.ejected) continue;
    if (toolName !== undefined && !offers(replica.tools, toolName)) continue;
    out.push(replica.id);
  }
  return out;
}

function offers(tools: ReadonlySet<string> | readonly string[], toolName: string): boolean {
  return Array.isArray(tools)
    ? (tools as readonly string[]).includes(toolName)
    : (tools as ReadonlySet<string>).has(toolName);
}
