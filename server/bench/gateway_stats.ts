/**
 * Latency statistics of one load phase: nearest-rank percentiles over the
 * per-call latencies, and throughput over the phase's wall time.
 *
 * @module
 */

/** What one load phase measured. */
export interface PhaseStats {
  /** Calls that completed with the expected echo. */
  okCalls: number;
  /** Calls that threw or returned something other than the echo. */
  failedCalls: number;
  /** Wall time from the first call issued to the last one settled. */
  elapsedMs: number;
  /** Completed calls per second of wall time. */
  throughputPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * The nearest-rank percentile `q` (0 < q ≤ 1) of `sortedMs`, which must be
 * sorted ascending and non-empty.
 */
export function percentileMs(sortedMs: readonly number[], q: number): number {
  if (sortedMs.length === 0) throw new RangeError("percentile of no samples");
  if (!(q > 0 && q <= 1)) throw new RangeError(`percentile rank must be in (0, 1], got ${q}`);
  const rank = Math.ceil(q * sortedMs.length);
  return sortedMs[rank - 1];
}

/** Summarises one phase from its latencies (any order) and counts. */
export function summarisePhase(
  latenciesMs: readonly number[],
  failedCalls: number,
  elapsedMs: number,
): PhaseStats {
  if (latenciesMs.length === 0) {
    return {
      okCalls: 0,
      failedCalls,
      elapsedMs,
      throughputPerSec: 0,
      p50Ms: NaN,
      p99Ms: NaN,
      maxMs: NaN,
    };
  }
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    okCalls: sorted.length,
    failedCalls,
    elapsedMs,
    throughputPerSec: elapsedMs > 0 ? (sorted.length * 1000) / elapsedMs : 0,
    p50Ms: percentileMs(sorted, 0.5),
    p99Ms: percentileMs(sorted, 0.99),
    maxMs: sorted[sorted.length - 1],
  };
}
