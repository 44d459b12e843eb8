/**
 * Weighted response time, the seed's second strategy: a random pick weighted by the
 * inverse of each replica's average latency.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import type { StatsLookup } from "./stats.ts";
import type { PickRequest, Strategy } from "./strategy.ts";

/** Added to every latency before inverting, as the seed did (1 ms), to avoid dividing by 0. */
export const RESPONSE_TIME_FLOOR_MS = 1;

/**
 * Picks at random with weight `1 / (ewmaLatencyMs + 1 ms)`: a replica twice as fast
 * gets about twice the calls. Unlike the seed, a replica without samples is weighted
 * as the mean of the sampled candidates rather than as infinitely fast, so a new
 * replica gets a fair share instead of a flood; with no samples at all the pick is
 * uniform.
 *
 * @example
 * ```ts
 * import { SeededRng, StatsTable, WeightedResponseTimeStrategy } from "@safla/core";
 * const stats = new StatsTable();
 * stats.onStart("a", 0);
 * stats.onFinish("a", 10, 10, true);
 * new WeightedResponseTimeStrategy().pick(["a", "b"], stats, new SeededRng(1));
 * ```
 */
export class WeightedResponseTimeStrategy implements Strategy {
  /** Registry name. */
  readonly name = "weighted-response-time" as const;
  #weights = new Float64Array(16);

  /** Picks a candidate at random, weighted by inverse latency. */
  pick(
    candidates: readonly string[],
    stats: StatsLookup,
    rng: Rng,
    _request?: PickRequest,
  ): string | undefined {
    const count = candidates.length;
    if (count <= 1) return candidates[0];
    if (this.#weights.length < count) this.#weights = new Float64Array(count);
    const weights = this.#weights;
    let sampledSum = 0;
    let sampledCount = 0;
    for (let i = 0; i < count; i++) {
      const s = stats.get(candidates[i]);
      if (s !== undefined && s.samples > 0) {
        weights[i] = 1 / (s.ewmaLatencyMs + RESPONSE_TIME_FLOOR_MS);
        sampledSum += weights[i];
        sampledCount += 1;
      } else {
        weights[i] = -1;
      }
    }
    const unsampledWeight = sampledCount === 0 ? 1 : sampledSum / sampledCount;
    let total = 0;
    for (let i = 0; i < count; i++) {
      if (weights[i] < 0) weights[i] = unsampledWeight;
      total += weights[i];
    }
    let target = rng.next() * total;
    for (let i = 0; i < count; i++) {
      target -= weights[i];
      if (target < 0) return candidates[i];
    }
    return candidates[count - 1];
  }
}
