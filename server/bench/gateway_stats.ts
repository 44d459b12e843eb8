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
  /** How many calls failed for each reason, when any failed. */
  failureReasons?: Record<string, number>;
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
  failureReasons?: Record<string, number>,
): PhaseStats {
  const reasons = failureReasons !== undefined && Object.keys(failureReasons).length > 0
    ? { failureReasons }
    : {};
  if (latenciesMs.length === 0) {
    return {
      ...reasons,
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
    ...reasons,
  };
}

/** The median of `xs` (mean of the middle two for an even count); NaN for none. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Each figure of `phases` replaced by its median over the phases (rounds of
 * one system); failure reasons are summed over the phases.
 */
export function medianPhase(phases: readonly PhaseStats[]): PhaseStats {
  if (phases.length === 0) throw new RangeError("median of no phases");
  const of = (pick: (p: PhaseStats) => number) => median(phases.map(pick));
  const reasons: Record<string, number> = {};
  for (const p of phases) {
    for (const [reason, n] of Object.entries(p.failureReasons ?? {})) {
      reasons[reason] = (reasons[reason] ?? 0) + n;
    }
  }
  return {
    ...(Object.keys(reasons).length > 0 ? { failureReasons: reasons } : {}),
    okCalls: of((p) => p.okCalls),
    failedCalls: of((p) => p.failedCalls),
    elapsedMs: of((p) => p.elapsedMs),
    throughputPerSec: of((p) => p.throughputPerSec),
    p50Ms: of((p) => p.p50Ms),
    p99Ms: of((p) => p.p99Ms),
    maxMs: of((p) => p.maxMs),
  };
}
