/**
 * A circuit breaker per replica: after enough failures it stops sending calls
 * (open) for a while, then lets a limited number of probe calls through
 * (half-open) and closes again only if they all succeed.
 *
 * Time is an argument and every state change is returned as a
 * {@link BreakerTransition}, so the gateway can log it, export it as a metric or
 * feed it to outlier ejection, and the simulator replays it exactly.
 *
 * @module
 */
import { withDefaults } from "../defaults.ts";

/** The breaker's state. */
export type BreakerState = "closed" | "open" | "half-open";

/** Why the breaker changed state. */
export type BreakerTransitionReason =
  | "consecutive-failures"
  | "failure-rate"
  | "open-duration-elapsed"
  | "probe-failed"
  | "probes-succeeded";

/** One state change, as data. */
export interface BreakerTransition {
  /** State before. */
  readonly from: BreakerState;
  /** State after. */
  readonly to: BreakerState;
  /** Caller's clock at the change. */
  readonly atMs: number;
  /** What caused it. */
  readonly reason: BreakerTransitionReason;
}

/**
 * Permission to send one call, from {@link CircuitBreaker.acquire}. An allowed permit
 * must be settled exactly once with `onSuccess`, `onFailure` or `onCancel`.
 */
export type BreakerPermit =
  | {
    readonly allowed: true;
    /** True when this call is a half-open probe. */
    readonly probe: boolean;
    /** Breaker episode the permit belongs to; results from past episodes are ignored. */
    readonly epoch: number;
    /** Identifies a probe within its episode (0 for non-probes). */
    readonly probeId: number;
    /** The state change acquiring caused (open → half-open), if any. */
    readonly transition?: BreakerTransition;
  }
  | {
    readonly allowed: false;
    /** How long until the breaker will admit a probe (0 when waiting on probes in flight). */
    readonly retryAfterMs: number;
  };

/** Tuning of a {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /** Open after this many failures in a row. Default 5. */
  readonly consecutiveFailures?: number;
  /** Open when the failure share of the window reaches this, in (0, 1]. Default 0.5. */
  readonly failureRateThreshold?: number;
  /** Number of most recent calls the failure rate is computed over. Default 20. */
  readonly windowSize?: number;
  /**
   * The failure rate is only judged once the window holds this many calls.
   * Default 10 (or `windowSize`, if smaller).
   */
  readonly minimumCalls?: number;
  /** How long the breaker stays open before probing. Default 30 000 ms. */
  readonly openDurationMs?: number;
  /** Probes admitted per half-open episode; all must succeed to close. Default 1. */
  readonly halfOpenProbes?: number;
}

/** Defaults of {@link CircuitBreakerOptions}. */
export const DEFAULT_CIRCUIT_BREAKER_OPTIONS: Required<CircuitBreakerOptions> = {
  consecutiveFailures: 5,
  failureRateThreshold: 0.5,
  windowSize: 20,
  minimumCalls: 10,
  openDurationMs: 30_000,
  halfOpenProbes: 1,
};

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`CircuitBreaker: ${name} must be a positive integer, got ${value}`);
  }
  return value;
}

/**
 * Closed / open / half-open circuit breaker with a consecutive-failure threshold and
 * a failure-rate threshold over a bounded window of recent calls.
 *
 * In half-open at most `halfOpenProbes` probes are in flight, and, unless one is
 * cancelled, at most that many are admitted per episode. One failed probe reopens
 * the breaker; `halfOpenProbes` successes close it.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@safla/core";
 * const breaker = new CircuitBreaker({ consecutiveFailures: 2, openDurationMs: 1000 });
 * for (const nowMs of [0, 1]) {
 *   const permit = breaker.acquire(nowMs);
 *   if (permit.allowed) breaker.onFailure(permit, nowMs); // second one returns closed → open
 * }
 * breaker.acquire(500).allowed; // false
 * breaker.acquire(1001); // a probe, with transition open → half-open
 * ```
 */
export class CircuitBreaker {
  readonly #options: Required<CircuitBreakerOptions>;
  #state: BreakerState = "closed";
  #epoch = 0;
  #openedAtMs = 0;
  readonly #window: Uint8Array;
  #windowNext = 0;
  #windowCount = 0;
  #windowFailures = 0;
  #consecutiveFailures = 0;
  #probesAdmitted = 0;
  #probesSucceeded = 0;
  #nextProbeId = 1;
  readonly #probesInFlight = new Set<number>();

  /** Creates a closed breaker. */
  constructor(options: CircuitBreakerOptions = {}) {
    const o = withDefaults(DEFAULT_CIRCUIT_BREAKER_OPTIONS, options);
    // A smaller window given alone should not trip over the default minimum.
    if (options.minimumCalls === undefined) o.minimumCalls = Math.min(o.minimumCalls, o.windowSize);
    positiveInteger("consecutiveFailures", o.consecutiveFailures);
    positiveInteger("windowSize", o.windowSize);
    positiveInteger("minimumCalls", o.minimumCalls);
    positiveInteger("halfOpenProbes", o.halfOpenProbes);
    if (!(o.failureRateThreshold > 0 && o.failureRateThreshold <= 1)) {
      throw new RangeError(
        `CircuitBreaker: failureRateThreshold must be in (0, 1], got ${o.failureRateThreshold}`,
      );
    }
    if (o.minimumCalls > o.windowSize) {
      throw new RangeError(
        `CircuitBreaker: minimumCalls (${o.minimumCalls}) exceeds windowSize (${o.windowSize})`,
      );
    }
    if (!(o.openDurationMs >= 0) || !Number.isFinite(o.openDurationMs)) {
      throw new RangeError(`CircuitBreaker: openDurationMs must be >= 0, got ${o.openDurationMs}`);
    }
    this.#options = o;
    this.#window = new Uint8Array(o.windowSize);
  }

  /** The current state (an open breaker whose time is up becomes half-open on `acquire`). */
  get state(): BreakerState {
    return this.#state;
  }

  /** Half-open probes currently in flight. */
  get probesInFlight(): number {
    return this.#probesInFlight.size;
  }

  /**
   * Whether {@link acquire} at `nowMs` would admit a call, without changing anything:
   * lets candidate filtering skip replicas whose breaker is open.
   */
  isAvailable(nowMs: number): boolean {
    switch (this.#state) {
      case "closed":
        return true;
      case "open":
        return nowMs - this.#openedAtMs >= this.#options.openDurationMs;
      case "half-open":
        return this.#probeSlotFree();
    }
  }

  /** Asks to send one call at `nowMs`. */
  acquire(nowMs: number): BreakerPermit {
    assertTime(nowMs);
    let transition: BreakerTransition | undefined;
    if (this.#state === "open") {
      const waitedMs = nowMs - this.#openedAtMs;
      if (waitedMs < this.#options.openDurationMs) {
        return { allowed: false, retryAfterMs: this.#options.openDurationMs - waitedMs };
      }
      transition = this.#moveTo("half-open", nowMs, "open-duration-elapsed");
    }
    if (this.#state === "closed") {
      return { allowed: true, probe: false, epoch: this.#epoch, probeId: 0 };
    }
    if (!this.#probeSlotFree()) return { allowed: false, retryAfterMs: 0 };
    const probeId = this.#nextProbeId++;
    this.#probesAdmitted += 1;
    this.#probesInFlight.add(probeId);
    if (this.#probesInFlight.size > this.#options.halfOpenProbes) {
      throw new Error("CircuitBreaker: more probes in flight than allowed");
    }
    const permit = { allowed: true, probe: true, epoch: this.#epoch, probeId } as const;
    return transition === undefined ? permit : { ...permit, transition };
  }

  /** Settles a permit whose call succeeded. Returns the state change it caused, if any. */
  onSuccess(permit: BreakerPermit, nowMs: number): BreakerTransition | undefined {
    assertTime(nowMs);
    if (!this.#current(permit)) return undefined;
    if (permit.probe) {
      this.#probesInFlight.delete(permit.probeId);
      this.#probesSucceeded += 1;
      if (this.#probesSucceeded >= this.#options.halfOpenProbes) {
        return this.#moveTo("closed", nowMs, "probes-succeeded");
      }
      return undefined;
    }
    this.#consecutiveFailures = 0;
    this.#record(false);
    return undefined;
  }

  /** Settles a permit whose call failed. Returns the state change it caused, if any. */
  onFailure(permit: BreakerPermit, nowMs: number): BreakerTransition | undefined {
    assertTime(nowMs);
    if (!this.#current(permit)) return undefined;
    if (permit.probe) {
      return this.#moveTo("open", nowMs, "probe-failed");
    }
    this.#consecutiveFailures += 1;
    this.#record(true);
    if (this.#consecutiveFailures >= this.#options.consecutiveFailures) {
      return this.#moveTo("open", nowMs, "consecutive-failures");
    }
    if (
      this.#windowCount >= this.#options.minimumCalls &&
      this.#windowFailures >= this.#options.failureRateThreshold * this.#windowCount
    ) {
      return this.#moveTo("open", nowMs, "failure-rate");
    }
    return undefined;
  }

  /**
   * Settles a permit whose call ended without telling anything about the replica
   * (cancelled by the client, refused by the retry rule before sending). A probe's
   * slot is given back so the breaker does not wait for it forever.
   */
  onCancel(permit: BreakerPermit): void {
    if (!this.#current(permit) || !permit.probe) return;
    this.#probesInFlight.delete(permit.probeId);
    this.#probesAdmitted -= 1;
  }

  #current(permit: BreakerPermit): permit is Extract<BreakerPermit, { allowed: true }> {
    if (!permit.allowed) {
      throw new Error("CircuitBreaker: a refused permit cannot be settled");
    }
    if (permit.epoch !== this.#epoch) return false;
    if (permit.probe !== (this.#state === "half-open")) {
      throw new Error(`CircuitBreaker: permit does not match state ${this.#state}`);
    }
    if (permit.probe && !this.#probesInFlight.has(permit.probeId)) {
      throw new Error(`CircuitBreaker: probe ${permit.probeId} settled twice`);
    }
    return true;
  }

  #probeSlotFree(): boolean {
    const max = this.#options.halfOpenProbes;
    return this.#probesAdmitted < max && this.#probesInFlight.size < max;
  }

  #record(failed: boolean): void {
    const size = this.#window.length;
    if (this.#windowCount === size) {
      this.#windowFailures -= this.#window[this.#windowNext];
    } else {
      this.#windowCount += 1;
    }
    this.#window[this.#windowNext] = failed ? 1 : 0;
    this.#windowFailures += failed ? 1 : 0;
    this.#windowNext = (this.#windowNext + 1) % size;
  }

  #moveTo(to: BreakerState, atMs: number, reason: BreakerTransitionReason): BreakerTransition {
    const from = this.#state;
    this.#state = to;
    // A new episode: results of calls admitted before this change no longer count.
    this.#epoch += 1;
    this.#probesAdmitted = 0;
    this.#probesInFlight.clear();
    this.#probesSucceeded = 0;
    if (to === "open") this.#openedAtMs = atMs;
    if (to === "closed") {
      this.#window.fill(0);
      this.#windowNext = 0;
      this.#windowCount = 0;
      this.#windowFailures = 0;
      this.#consecutiveFailures = 0;
    }
    return { from, to, atMs, reason };
  }
}

function assertTime(nowMs: number): void {
  if (!Number.isFinite(nowMs)) {
    throw new RangeError(`CircuitBreaker: nowMs must be finite, got ${nowMs}`);
  }
}
