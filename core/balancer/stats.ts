/**
 * Per-replica load and latency statistics that the balancer strategies read.
 *
 * The gateway reports each call's start and finish with the time it read from
 * its own clock; nothing here reads a clock. The seed's `NodeMetrics`
 * (active connections, response time, error rate, last updated) maps onto
 * {@link ReplicaStats} as `outstanding`, `ewmaLatencyMs`, `errorRate` and
 * `lastUpdateMs`.
 *
 * @module
 */

/** What the balancer knows about one replica of a logical MCP server. */
export interface ReplicaStats {
  /** The replica this record describes. */
  readonly replicaId: string;
  /** Exponentially weighted moving average of call latency; 0 until the first sample. */
  readonly ewmaLatencyMs: number;
  /**
   * Peak-sensitive latency estimate (Finagle's peak EWMA): jumps straight up to a
   * slower sample and decays towards faster ones with the time since the last sample,
   * so a replica that turns slow is avoided at once and forgiven gradually.
   */
  readonly peakEwmaLatencyMs: number;
  /** Calls started and not yet finished. */
  readonly outstanding: number;
  /** Exponentially weighted moving average of failures, in [0, 1]. */
  readonly errorRate: number;
  /** Finished calls observed (latency samples taken). */
  readonly samples: number;
  /** Caller's clock when this record last changed; 0 before the first event. */
  readonly lastUpdateMs: number;
  /** Caller's clock at the last latency sample; the peak EWMA decays from here. */
  readonly lastSampleMs: number;
}

/** Read access to replica statistics, as strategies need it. A `Map` satisfies it. */
export interface StatsLookup {
  /** Returns the statistics of `replicaId`, or `undefined` when nothing is known yet. */
  get(replicaId: string): ReplicaStats | undefined;
}

/** Tuning of a {@link StatsTable}. */
export interface StatsTableOptions {
  /** Weight of a new sample in the latency and error EWMAs, in (0, 1]. Default 0.3. */
  readonly ewmaAlpha?: number;
  /**
   * Time constant of the peak EWMA's decay: after this long without samples a past
   * peak has decayed to 1/e of its weight. Default 10 000 ms.
   */
  readonly peakDecayMs?: number;
  /** Upper bound on tracked replicas, to keep memory bounded. Default 65 536. */
  readonly maxReplicas?: number;
}

/** Default weight of a new sample in the EWMAs. */
export const DEFAULT_EWMA_ALPHA = 0.3;
/** Default time constant of the peak-EWMA decay. */
export const DEFAULT_PEAK_DECAY_MS = 10_000;
/** Default bound on the number of replicas a {@link StatsTable} tracks. */
export const DEFAULT_MAX_REPLICAS = 65_536;

/** The stats table was asked to track more replicas than its bound allows. */
export class StatsTableFullError extends Error {
  /** The configured bound. */
  readonly maxReplicas: number;
  /** Creates the error for a table bounded at `maxReplicas`. */
  constructor(maxReplicas: number) {
    super(
      `balancer stats table is full (${maxReplicas} replicas); remove departed replicas ` +
        `with StatsTable.remove() or raise maxReplicas`,
    );
    this.name = "StatsTableFullError";
    this.maxReplicas = maxReplicas;
  }
}

interface MutableStats {
  replicaId: string;
  ewmaLatencyMs: number;
  peakEwmaLatencyMs: number;
  outstanding: number;
  errorRate: number;
  samples: number;
  lastUpdateMs: number;
  lastSampleMs: number;
}

function assertTime(nowMs: number): void {
  if (!Number.isFinite(nowMs) || nowMs < 0) {
    throw new RangeError(
      `balancer stats: nowMs must be a finite non-negative number, got ${nowMs}`,
    );
  }
}

/**
 * The peak EWMA of `stats` as seen at `nowMs`: the stored estimate decayed towards
 * zero for the idle time since the last update, so that a replica which was slow
 * once and has since received no traffic is eventually tried again.
 *
 * @example
 * ```ts
 * import { decayedPeakEwmaMs, StatsTable } from "@safla/core";
 * const table = new StatsTable({ peakDecayMs: 1000 });
 * table.onStart("a", 0);
 * table.onFinish("a", 0, 100, true);
 * const stats = table.get("a");
 * if (stats) decayedPeakEwmaMs(stats, 1000, 1000); // ≈ 36.8
 * ```
 */
export function decayedPeakEwmaMs(stats: ReplicaStats, nowMs: number, peakDecayMs: number): number {
  const idleMs = nowMs - stats.lastSampleMs;
  if (!(idleMs > 0)) return stats.peakEwmaLatencyMs;
  return stats.peakEwmaLatencyMs * Math.exp(-idleMs / peakDecayMs);
}

/**
 * Mutable per-replica statistics, fed by the gateway at the start and end of each
 * backend call. Time is always an argument; the caller's clock should be monotonic
 * (a clock that steps back is treated as no time having passed).
 *
 * @example
 * ```ts
 * import { StatsTable } from "@safla/core";
 * const stats = new StatsTable();
 * stats.onStart("search-1", 1_000);
 * stats.onFinish("search-1", 1_040, 40, true);
 * stats.get("search-1")?.ewmaLatencyMs; // 40
 * stats.get("search-1")?.outstanding; // 0
 * ```
 */
export class StatsTable implements StatsLookup {
  readonly #byReplica = new Map<string, MutableStats>();
  readonly #alpha: number;
  readonly #peakDecayMs: number;
  readonly #maxReplicas: number;

  /** Creates an empty table. */
  constructor(options: StatsTableOptions = {}) {
    const alpha = options.ewmaAlpha ?? DEFAULT_EWMA_ALPHA;
    const peakDecayMs = options.peakDecayMs ?? DEFAULT_PEAK_DECAY_MS;
    const maxReplicas = options.maxReplicas ?? DEFAULT_MAX_REPLICAS;
    if (!(alpha > 0 && alpha <= 1)) {
      throw new RangeError(`StatsTable: ewmaAlpha must be in (0, 1], got ${alpha}`);
    }
    if (!(peakDecayMs > 0) || !Number.isFinite(peakDecayMs)) {
      throw new RangeError(`StatsTable: peakDecayMs must be positive, got ${peakDecayMs}`);
    }
    if (!Number.isSafeInteger(maxReplicas) || maxReplicas < 1) {
      throw new RangeError(
        `StatsTable: maxReplicas must be a positive integer, got ${maxReplicas}`,
      );
    }
    this.#alpha = alpha;
    this.#peakDecayMs = peakDecayMs;
    this.#maxReplicas = maxReplicas;
  }

  /** The peak-EWMA decay time constant this table uses. */
  get peakDecayMs(): number {
    return this.#peakDecayMs;
  }

  /** Number of replicas tracked. */
  get size(): number {
    return this.#byReplica.size;
  }

  /** Returns the statistics of `replicaId`, or `undefined` if it has never been seen. */
  get(replicaId: string): ReplicaStats | undefined {
    return this.#byReplica.get(replicaId);
  }

  /** Records that a call to `replicaId` started at `nowMs`. */
  onStart(replicaId: string, nowMs: number): void {
    assertTime(nowMs);
    const stats = this.#entry(replicaId);
    stats.outstanding += 1;
    stats.lastUpdateMs = Math.max(stats.lastUpdateMs, nowMs);
  }

  /**
   * Records that a call to `replicaId` finished at `nowMs` after `latencyMs`, and
   * whether it succeeded. Every finish must match an earlier {@link onStart}; a
   * finish for a replica that was {@link remove}d meanwhile is ignored (returns false).
   */
  onFinish(replicaId: string, nowMs: number, latencyMs: number, ok: boolean): boolean {
    assertTime(nowMs);
    if (!Number.isFinite(latencyMs) || latencyMs < 0) {
      throw new RangeError(
        `StatsTable.onFinish: latencyMs must be finite and non-negative, got ${latencyMs}`,
      );
    }
    const stats = this.#byReplica.get(replicaId);
    if (stats === undefined) return false;
    if (stats.outstanding === 0) {
      throw new Error(
        `StatsTable.onFinish: replica "${replicaId}" has no outstanding call (onStart missing)`,
      );
    }
    stats.outstanding -= 1;
    const alpha = this.#alpha;
    if (stats.samples === 0) {
      stats.ewmaLatencyMs = latencyMs;
      stats.peakEwmaLatencyMs = latencyMs;
      stats.errorRate = ok ? 0 : 1;
    } else {
      stats.ewmaLatencyMs += alpha * (latencyMs - stats.ewmaLatencyMs);
      if (latencyMs >= stats.peakEwmaLatencyMs) {
        stats.peakEwmaLatencyMs = latencyMs;
      } else {
        const idleMs = Math.max(0, nowMs - stats.lastSampleMs);
        const keep = Math.exp(-idleMs / this.#peakDecayMs);
        stats.peakEwmaLatencyMs = stats.peakEwmaLatencyMs * keep + latencyMs * (1 - keep);
      }
      stats.errorRate += alpha * ((ok ? 0 : 1) - stats.errorRate);
    }
    stats.samples += 1;
    stats.lastUpdateMs = Math.max(stats.lastUpdateMs, nowMs);
    stats.lastSampleMs = Math.max(stats.lastSampleMs, nowMs);
    return true;
  }

  /**
   * Records that a started call ended without a latency sample (cancelled before a
   * reply, or never sent), so it no longer counts as outstanding. Like
   * {@link onFinish}, ignores (returns false) a replica removed meanwhile.
   */
  onAbandon(replicaId: string, nowMs: number): boolean {
    assertTime(nowMs);
    const stats = this.#byReplica.get(replicaId);
    if (stats === undefined) return false;
    if (stats.outstanding === 0) {
      throw new Error(
        `StatsTable.onAbandon: replica "${replicaId}" has no outstanding call (onStart missing)`,
      );
    }
    stats.outstanding -= 1;
    stats.lastUpdateMs = Math.max(stats.lastUpdateMs, nowMs);
    return true;
  }

  /**
   * Forgets a replica that left its replica set. Returns whether it was tracked.
   * Calls still in flight to it are then ignored when they finish.
   */
  remove(replicaId: string): boolean {
    return this.#byReplica.delete(replicaId);
  }

  /** A copy of every record, in insertion order (for status pages and metrics). */
  snapshot(): ReplicaStats[] {
    return [...this.#byReplica.values()].map((s) => ({ ...s }));
  }

  #entry(replicaId: string): MutableStats {
    let stats = this.#byReplica.get(replicaId);
    if (stats === undefined) {
      if (this.#byReplica.size >= this.#maxReplicas) {
        throw new StatsTableFullError(this.#maxReplicas);
      }
      stats = {
        replicaId,
        ewmaLatencyMs: 0,
        peakEwmaLatencyMs: 0,
        outstanding: 0,
        errorRate: 0,
        samples: 0,
        lastUpdateMs: 0,
        lastSampleMs: 0,
      };
      this.#byReplica.set(replicaId, stats);
    }
    return stats;
  }
}
