/**
 * Least outstanding requests: the replica with the fewest calls in flight.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import type { StatsLookup } from "./stats.ts";
import type { PickRequest, Strategy } from "./strategy.ts";

/**
 * Picks a candidate with the fewest outstanding calls; ties are broken uniformly at
 * random (reservoir sampling), so equally idle replicas share the load. A replica
 * without stats counts as having nothing outstanding.
 *
 * @example
 * ```ts
 * import { LeastOutstandingStrategy, SeededRng, StatsTable } from "@safla/core";
 * const stats = new StatsTable();
 * stats.onStart("busy", 0);
 * new LeastOutstandingStrategy().pick(["busy", "idle"], stats, new SeededRng(3)); // "idle"
 * ```
 */
export class LeastOutstandingStrategy implements Strategy {
  /** Registry name. */
  readonly name = "least-outstanding" as const;

  /** Picks a least-loaded candidate, or `undefined` when there are none. */
  pick(
    candidates: readonly string[],
    stats: StatsLookup,
    rng: Rng,
    _request?: PickRequest,
  ): string | undefined {
    let best: string | undefined;
    let bestOutstanding = Infinity;
    let ties = 0;
    for (const id of candidates) {
      const outstanding = stats.get(id)?.outstanding ?? 0;
      if (outstanding < bestOutstanding) {
        best = id;
        bestOutstanding = outstanding;
        ties = 1;
      } else if (outstanding === bestOutstanding) {
        ties += 1;
        if (rng.int(ties) === 0) best = id;
      }
    }
    return best;
  }
}
