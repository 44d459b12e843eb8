/**
 * Outlier ejection (as in Envoy's outlier detection): a replica that keeps
 * failing, or fails clearly more often than its siblings, is taken out of
 * balancing for a while. Each repeated ejection lasts longer, and a cap on the
 * ejected share keeps the set from ejecting itself into an outage when the fault
 * is really shared (a dependency down for everyone).
 *
 * @module
 */
import { withDefaults } from "../defaults.ts";

/** Why a replica was ejected. */
export type EjectionReason = "consecutive-errors" | "error-rate";

/** A change in the ejected set, as data. */
export type OutlierEvent =
  | {
    readonly kind: "ejected";
    readonly replicaId: string;
    readonly reason: EjectionReason;
    /** The replica returns to balancing at this time. */
    readonly untilMs: number;
    /** Ejections so far, this one included (the multiplier of the ejection time). */
    readonly ejectionCount: number;
  }
  | { readonly kind: "returned"; readonly replicaId: string; readonly atMs: number };

/** Tuning of an {@link OutlierDetector}. */
export interface OutlierDetectorOptions {
  /** Eject after this many errors in a row. Default 5. */
  readonly consecutiveErrors?: number;
  /** Ejection time for the first ejection; the k-th lasts k times as long. Default 30 000 ms. */
  readonly baseEjectionMs?: number;
  /** Upper bound on one ejection. Default 300 000 ms. */
  readonly maxEjectionMs?: number;
  /**
   * Largest share of the set that may be ejected at once, in percent. However high,
   * at least one replica always stays in. Default 50.
   */
  readonly maxEjectionPercent?: number;
  /** Error-rate outliers: a replica needs this many calls in the interval to be judged. Default 20. */
  readonly minimumCallsForRate?: number;
  /** Error-rate outliers: at least this many replicas must have enough calls. Default 3. */
  readonly minimumReplicasForRate?: number;
  /** Error-rate outliers: eject above mean + factor × standard deviation. Default 1.9. */
  readonly errorRateStdevFactor?: number;
  /** Error-rate outliers: never eject below this absolute error rate. Default 0.1. */
  readonly minimumErrorRate?: number;
}

/** Defaults of {@link OutlierDetectorOptions}. */
export const DEFAULT_OUTLIER_OPTIONS: Required<OutlierDetectorOptions> = {
  consecutiveErrors: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
  minimumCallsForRate: 20,
  minimumReplicasForRate: 3,
  errorRateStdevFactor: 1.9,
  minimumErrorRate: 0.1,
};

interface ReplicaRecord {
  consecutiveErrors: number;
  intervalCalls: number;
  intervalErrors: number;
  ejectionCount: number;
  /** 0 when not ejected. */
  ejectedUntilMs: number;
  /** Whether it was ejected at any point since the previous interval sweep. */
  ejectedThisInterval: boolean;
}

/**
 * Tracks the replicas of one set and decides ejections. Consecutive-error
 * ejections happen as results arrive ({@link onResult}); error-rate ejections,
 * returns and forgiveness of past ejections happen in the periodic sweep
 * ({@link evaluate}). Ejection is a function of time, so {@link isEjected} is
 * exact even between sweeps.
 *
 * @example
 * ```ts
 * import { OutlierDetector } from "@safla/core";
 * const detector = new OutlierDetector({ consecutiveErrors: 2 });
 * detector.setReplicas(["a", "b", "c"]);
 * detector.onResult("a", false, 0);
 * detector.onResult("a", false, 1); // { kind: "ejected", replicaId: "a", untilMs: 30001, ... }
 * detector.isEjected("a", 10); // true
 * ```
 */
export class OutlierDetector {
  readonly #options: Required<OutlierDetectorOptions>;
  readonly #replicas = new Map<string, ReplicaRecord>();

  /** Creates a detector with an empty replica set. */
  constructor(options: OutlierDetectorOptions = {}) {
    const o = withDefaults(DEFAULT_OUTLIER_OPTIONS, options);
    for (const name of ["consecutiveErrors", "minimumCallsForRate", "minimumReplicasForRate"]) {
      const value = o[name as keyof OutlierDetectorOptions];
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`OutlierDetector: ${name} must be a positive integer, got ${value}`);
      }
    }
    if (!(o.baseEjectionMs > 0) || !(o.maxEjectionMs >= o.baseEjectionMs)) {
      throw new RangeError(
        `OutlierDetector: need 0 < baseEjectionMs <= maxEjectionMs, got ` +
          `${o.baseEjectionMs} and ${o.maxEjectionMs}`,
      );
    }
    if (!(o.maxEjectionPercent >= 0 && o.maxEjectionPercent <= 100)) {
      throw new RangeError(
        `OutlierDetector: maxEjectionPercent must be in [0, 100], got ${o.maxEjectionPercent}`,
      );
    }
    if (!(o.errorRateStdevFactor >= 0) || !(o.minimumErrorRate >= 0)) {
      throw new RangeError("OutlierDetector: error-rate thresholds must be >= 0");
    }
    this.#options = o;
  }

  /**
   * Sets the replicas of the set: new ones start clean, departed ones are forgotten.
   * Shrinking the set does not end ejections early, so until they expire the ejected
   * share may exceed the cap.
   */
  setReplicas(replicaIds: readonly string[]): void {
    const keep = new Set(replicaIds);
    for (const id of this.#replicas.keys()) if (!keep.has(id)) this.#replicas.delete(id);
    for (const id of keep) {
      if (!this.#replicas.has(id)) {
        this.#replicas.set(id, {
          consecutiveErrors: 0,
          intervalCalls: 0,
          intervalErrors: 0,
          ejectionCount: 0,
          ejectedUntilMs: 0,
          ejectedThisInterval: false,
        });
      }
    }
  }

  /** Whether `replicaId` is ejected at `nowMs`. Unknown replicas are not. */
  isEjected(replicaId: string, nowMs: number): boolean {
    const r = this.#replicas.get(replicaId);
    return r !== undefined && r.ejectedUntilMs > nowMs;
  }

  /** The replicas ejected at `nowMs`. */
  ejectedIds(nowMs: number): string[] {
    const out: string[] = [];
    for (const [id, r] of this.#replicas) if (r.ejectedUntilMs > nowMs) out.push(id);
    return out;
  }

  /** How many replicas may be ejected at once in a set of `replicaCount`. */
  maxEjected(replicaCount: number): number {
    const byPercent = Math.floor((replicaCount * this.#options.maxEjectionPercent) / 100);
    return Math.max(0, Math.min(byPercent, replicaCount - 1));
  }

  /**
   * Records one call's result. Returns the ejection it caused, if any: the replica
   * reached `consecutiveErrors` errors in a row and the cap leaves room. Results for
   * replicas outside the set, or currently ejected, are ignored.
   */
  onResult(replicaId: string, ok: boolean, nowMs: number): OutlierEvent | undefined {
    assertTime(nowMs);
    const r = this.#replicas.get(replicaId);
    // Calls that were in flight when the replica was ejected say nothing new about it.
    if (r === undefined || r.ejectedUntilMs > nowMs) return undefined;
    r.intervalCalls += 1;
    if (ok) {
      r.consecutiveErrors = 0;
      return undefined;
    }
    r.intervalErrors += 1;
    r.consecutiveErrors += 1;
    if (r.consecutiveErrors < this.#options.consecutiveErrors) return undefined;
    return this.#eject(replicaId, r, "consecutive-errors", nowMs);
  }

  /**
   * The periodic sweep (call it every few seconds): returns replicas whose ejection
   * has expired, ejects error-rate outliers of the interval just ended, forgives one
   * past ejection of each replica that stayed in for the whole interval, and starts
   * a new interval.
   */
  evaluate(nowMs: number): OutlierEvent[] {
    assertTime(nowMs);
    const events: OutlierEvent[] = [];
    for (const [replicaId, r] of this.#replicas) {
      if (r.ejectedUntilMs !== 0 && r.ejectedUntilMs <= nowMs) {
        r.ejectedUntilMs = 0;
        r.consecutiveErrors = 0;
        events.push({ kind: "returned", replicaId, atMs: nowMs });
      }
    }
    for (const event of this.#errorRateOutliers(nowMs)) events.push(event);
    for (const r of this.#replicas.values()) {
      if (!r.ejectedThisInterval && r.ejectedUntilMs === 0 && r.ejectionCount > 0) {
        r.ejectionCount -= 1;
      }
      r.ejectedThisInterval = r.ejectedUntilMs > nowMs;
      r.intervalCalls = 0;
      r.intervalErrors = 0;
    }
    return events;
  }

  #errorRateOutliers(nowMs: number): OutlierEvent[] {
    const o = this.#options;
    const judged: { id: string; record: ReplicaRecord; rate: number }[] = [];
    for (const [id, record] of this.#replicas) {
      if (record.ejectedUntilMs > nowMs || record.intervalCalls < o.minimumCallsForRate) continue;
      judged.push({ id, record, rate: record.intervalErrors / record.intervalCalls });
    }
    if (judged.length < o.minimumReplicasForRate) return [];
    const mean = judged.reduce((sum, j) => sum + j.rate, 0) / judged.length;
    const variance = judged.reduce((sum, j) => sum + (j.rate - mean) ** 2, 0) / judged.length;
    const threshold = Math.max(
      o.minimumErrorRate,
      mean + o.errorRateStdevFactor * Math.sqrt(variance),
    );
    const events: OutlierEvent[] = [];
    // Worst first, so that when the cap bites the clearest outliers are the ones out.
    judged.sort((a, b) => b.rate - a.rate || (a.id < b.id ? -1 : 1));
    for (const j of judged) {
      if (!(j.rate > threshold)) break;
      const event = this.#eject(j.id, j.record, "error-rate", nowMs);
      if (event === undefined) break;
      events.push(event);
    }
    return events;
  }

  #eject(
    replicaId: string,
    r: ReplicaRecord,
    reason: EjectionReason,
    nowMs: number,
  ): OutlierEvent | undefined {
    const ejectedNow = this.ejectedIds(nowMs).length;
    if (ejectedNow + 1 > this.maxEjected(this.#replicas.size)) return undefined;
    r.ejectionCount += 1;
    const durationMs = Math.min(
      this.#options.maxEjectionMs,
      this.#options.baseEjectionMs * r.ejectionCount,
    );
    r.ejectedUntilMs = nowMs + durationMs;
    r.ejectedThisInterval = true;
    r.consecutiveErrors = 0;
    return {
      kind: "ejected",
      replicaId,
      reason,
      untilMs: r.ejectedUntilMs,
      ejectionCount: r.ejectionCount,
    };
  }
}

function assertTime(nowMs: number): void {
  if (!Number.isFinite(nowMs) || nowMs < 0) {
    throw new RangeError(`OutlierDetector: nowMs must be finite and >= 0, got ${nowMs}`);
  }
}
