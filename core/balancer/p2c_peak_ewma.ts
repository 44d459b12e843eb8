/**
 * Power of two choices over a peak-EWMA load estimate (as in Finagle, Envoy's
 * least-request and linkerd): draw two distinct candidates at random and take the
 * one with the lower cost `peakEwmaLatencyMs × (outstanding + 1)`.
 *
 * Two random choices avoid the herd behaviour of always taking the global minimum
 * (every gateway node piling onto the same replica between stats updates) while
 * still steering clearly away from slow or loaded replicas.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import { decayedPeakEwmaMs, DEFAULT_PEAK_DECAY_MS, type StatsLookup } from "./stats.ts";
import type { PickRequest, Strategy } from "./strategy.ts";

/** Tuning of {@link P2cPeakEwmaStrategy}. */
export interface P2cPeakEwmaOptions {
  /**
   * Cost given to a replica that has calls in flight but no latency sample yet, so
   * a new replica receives one probing call at a time until its first reply tells
   * how fast it is. Default 1 000 000 (it loses to any measured replica).
   */
  readonly unsampledPenaltyMs?: number;
  /**
   * Time constant for aging the peak EWMA of an idle replica. Default 10 000 ms, the
   * same as the stats table's.
   */
  readonly peakDecayMs?: number;
}

/** Default cost of an unsampled replica with calls in flight. */
export const DEFAULT_UNSAMPLED_PENALTY_MS = 1_000_000;

/**
 * Power of two choices with peak-EWMA × (outstanding + 1) cost.
 *
 * A replica with no samples and nothing in flight costs 0, so it is tried soon; with
 * calls in flight and still no sample it costs `unsampledPenaltyMs + outstanding`.
 * When the request carries `nowMs`, the peak of an idle replica (nothing in flight)
 * decays with time, so a replica that was slow once is retried instead of starving
 * forever.
 *
 * @example
 * ```ts
 * import { P2cPeakEwmaStrategy, SeededRng, StatsTable } from "@safla/core";
 * const stats = new StatsTable();
 * for (const [id, latencyMs] of [["fast", 5], ["slow", 500]] as const) {
 *   stats.onStart(id, 0);
 *   stats.onFinish(id, latencyMs, latencyMs, true);
 * }
 * new P2cPeakEwmaStrategy().pick(["fast", "slow"], stats, new SeededRng(7)); // "fast"
 * ```
 */
export class P2cPeakEwmaStrategy implements Strategy {
  /** Registry name. */
  readonly name = "p2c-peak-ewma" as const;
  readonly #unsampledPenaltyMs: number;
  readonly #peakDecayMs: number;

  /** Creates the strategy. */
  constructor(options: P2cPeakEwmaOptions = {}) {
    const penalty = options.unsampledPenaltyMs ?? DEFAULT_UNSAMPLED_PENALTY_MS;
    const decay = options.peakDecayMs ?? DEFAULT_PEAK_DECAY_MS;
    if (!(penalty >= 0) || !Number.isFinite(penalty)) {
      throw new RangeError(`P2cPeakEwmaStrategy: unsampledPenaltyMs must be >= 0, got ${penalty}`);
    }
    if (!(decay > 0) || !Number.isFinite(decay)) {
      throw new RangeError(`P2cPeakEwmaStrategy: peakDecayMs must be > 0, got ${decay}`);
    }
    this.#unsampledPenaltyMs = penalty;
    this.#peakDecayMs = decay;
  }

  /** The load cost of `replicaId` (lower is better), as this strategy compares it. */
  cost(replicaId: string, stats: StatsLookup, nowMs?: number): number {
    const s = stats.get(replicaId);
    if (s === undefined) return 0;
    if (s.samples === 0) {
      return s.outstanding === 0 ? 0 : this.#unsampledPenaltyMs + s.outstanding;
    }
    // Only an idle replica's estimate ages: one with calls in flight will soon report
    // (or time out), and aging it would lure more calls onto a replica that hangs.
    const latencyMs = nowMs === undefined || s.outstanding > 0
      ? s.peakEwmaLatencyMs
      : decayedPeakEwmaMs(s, nowMs, this.#peakDecayMs);
    return latencyMs * (s.outstanding + 1);
  }

  /** Picks the cheaper of two distinct random candidates. */
  pick(
    candidates: readonly string[],
    stats: StatsLookup,
    rng: Rng,
    request?: PickRequest,
  ): string | undefined {
    const count = candidates.length;
    if (count <= 1) return candidates[0];
    const first = rng.int(count);
    let second = rng.int(count - 1);
    if (second >= first) second += 1;
    const a = candidates[first];
    const b = candidates[second];
    const nowMs = request?.nowMs;
    return this.cost(b, stats, nowMs) < this.cost(a, stats, nowMs) ? b : a;
  }
}
