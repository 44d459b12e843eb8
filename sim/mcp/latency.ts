/**
 * Service-time distributions for simulated MCP backends: a lognormal body
 * (most calls near the median) with a Pareto tail (a few calls many times
 * slower), which is the shape real tool latencies have and the shape that
 * separates balancing strategies at the 99th percentile.
 *
 * @module
 */
import type { Rng } from "@safla/core";

/** Parameters of a {@link LatencyModel}. */
export interface LatencyModelOptions {
  /** Median of the lognormal body, in ms. */
  readonly medianMs: number;
  /** Standard deviation of the body's logarithm (0.5: p99 ≈ 3.2 × median). */
  readonly sigma: number;
  /** Share of calls that land in the heavy tail, in [0, 1]. */
  readonly tailProbability: number;
  /** Pareto shape of the tail multiplier (smaller: heavier). Must be > 0. */
  readonly tailAlpha: number;
  /** Upper bound on one sample, in ms. */
  readonly maxMs: number;
}

/** A typical tool: 10 ms median, 1% of calls in a Pareto(1.5) tail, capped at 2 s. */
export const DEFAULT_LATENCY: LatencyModelOptions = Object.freeze({
  medianMs: 10,
  sigma: 0.5,
  tailProbability: 0.01,
  tailAlpha: 1.5,
  maxMs: 2_000,
});

/**
 * Draws service times from a lognormal body with a Pareto tail.
 *
 * @example
 * ```ts
 * import { SeededRng } from "@safla/core";
 * import { DEFAULT_LATENCY, LatencyModel } from "./latency.ts";
 * const model = new LatencyModel(DEFAULT_LATENCY);
 * const serviceMs = model.sample(new SeededRng(1)); // around 10 ms, rarely far more
 * ```
 */
export class LatencyModel {
  readonly #options: LatencyModelOptions;
  readonly #mu: number;

  /** Creates the model; throws `RangeError` on parameters outside their domain. */
  constructor(options: LatencyModelOptions) {
    const { medianMs, sigma, tailProbability, tailAlpha, maxMs } = options;
    if (!(medianMs > 0) || !(sigma >= 0) || !(tailAlpha > 0) || !(maxMs >= medianMs)) {
      throw new RangeError(`LatencyModel: bad parameters ${JSON.stringify(options)}`);
    }
    if (!(tailProbability >= 0 && tailProbability <= 1)) {
      throw new RangeError(`LatencyModel: tailProbability must be in [0, 1]`);
    }
    this.#options = options;
    this.#mu = Math.log(medianMs);
  }

  /** One service time in ms, in (0, maxMs]. */
  sample(rng: Rng): number {
    const o = this.#options;
    let latencyMs = Math.exp(this.#mu + o.sigma * standardNormal(rng));
    if (rng.next() < o.tailProbability) {
      // Inverse-CDF Pareto multiplier ≥ 1; 1 - u keeps the base away from 0.
      latencyMs *= Math.pow(1 - rng.next(), -1 / o.tailAlpha);
    }
    return Math.min(o.maxMs, latencyMs);
  }
}

/** A standard normal draw (Box–Muller). */
function standardNormal(rng: Rng): number {
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * The value at quantile `q` of `samples` (nearest rank); `NaN` when there are none.
 *
 * @example
 * ```ts
 * import { quantile } from "./latency.ts";
 * quantile([5, 1, 3, 2, 4], 0.5); // 3
 * ```
 */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}
