/**
 * Round robin, the seed's default strategy: each candidate in turn.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import type { StatsLookup } from "./stats.ts";
import type { PickRequest, Strategy } from "./strategy.ts";

/**
 * Picks candidates in order, one after the other. Over `k · n` consecutive picks from
 * the same `n` candidates each is picked exactly `k` times. Ignores stats and rng.
 *
 * The cursor stays below the candidate count, so it never grows without bound; when
 * the candidate list changes the rotation simply continues at the same position.
 *
 * @example
 * ```ts
 * import { RoundRobinStrategy, SeededRng, StatsTable } from "@safla/core";
 * const rr = new RoundRobinStrategy();
 * const stats = new StatsTable();
 * const rng = new SeededRng(0);
 * rr.pick(["a", "b"], stats, rng); // "a"
 * rr.pick(["a", "b"], stats, rng); // "b"
 * rr.pick(["a", "b"], stats, rng); // "a"
 * ```
 */
export class RoundRobinStrategy implements Strategy {
  /** Registry name. */
  readonly name = "round-robin" as const;
  #cursor = 0;

  /** Picks the next candidate in rotation, or `undefined` when there are none. */
  pick(
    candidates: readonly string[],
    _stats?: StatsLookup,
    _rng?: Rng,
    _request?: PickRequest,
  ): string | undefined {
    const count = candidates.length;
    if (count === 0) return undefined;
    const index = this.#cursor < count ? this.#cursor : this.#cursor % count;
    this.#cursor = index + 1 === count ? 0 : index + 1;
    return candidates[index];
  }
}
