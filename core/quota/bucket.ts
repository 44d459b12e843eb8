/**
 * The cluster-wide token bucket of one quota (DESIGN.md §8), as the record
 * the replicated store holds. A node that needs budget reads the record,
 * takes a slice out of it with {@link grantSlice} and writes it back with a
 * compare-and-swap on the record's revision: one replicated write per slice,
 * none per call. The store serializes the swaps, so two grants can never
 * spend the same tokens, and a leader change needs no hand-over: the record
 * a new leader serves already holds every grant its predecessors committed,
 * and a retried grant whose first attempt did commit fails its compare.
 *
 * Refill is clocked by the largest clock reading ever written into the record
 * (`refilledAtMs` never goes back). A node whose clock runs ahead by `d` ms
 * refills `ratePerSec * d / 1000` tokens early, once: the cluster's clocks
 * then have to catch up before anything more accrues. The over-grant from
 * clock skew is bounded by the largest skew, not by how often grantors
 * alternate.
 *
 * @example
 * ```ts
 * import { grantSlice } from "./bucket.ts";
 * const rate = { ratePerSec: 10, burst: 20 };
 * const first = grantSlice(undefined, rate, 1_000, 5);
 * console.assert(first.count === 5 && first.state.tokens === 15);
 * const later = grantSlice(first.state, rate, 2_000, 50);
 * console.assert(later.count === 20 && later.state.tokens === 0); // refilled to the burst cap
 * ```
 *
 * @module
 */

/** A quota's limit: a token bucket refilling `ratePerSec`, holding at most `burst`. */
export interface QuotaRate {
  /** Tokens (calls) added per second. */
  readonly ratePerSec: number;
  /** Most tokens the bucket holds; also what a fresh bucket starts with. */
  readonly burst: number;
}

/** The replicated record of one bucket. */
export interface BucketState {
  /** Tokens left, fractional while refilling. */
  readonly tokens: number;
  /** The clock reading up to which refill has been added; never decreases. */
  readonly refilledAtMs: number;
}

/** What {@link grantSlice} decided. */
export interface SliceGrant {
  /** Tokens granted, 0 when the bucket is empty. */
  readonly count: number;
  /** The record to write back (compare-and-swap against the one read). */
  readonly state: BucketState;
}

/** A malformed bucket record or rate: names what is wrong. */
export class QuotaError extends Error {
  /** Describes the problem. */
  constructor(message: string) {
    super(message);
    this.name = "QuotaError";
  }
}

/** Throws a {@link QuotaError} unless `rate` is a usable limit. */
export function validateRate(rate: QuotaRate): void {
  if (!(Number.isFinite(rate.ratePerSec) && rate.ratePerSec > 0)) {
    throw new QuotaError(`ratePerSec must be a positive number, got ${rate.ratePerSec}`);
  }
  if (!(Number.isSafeInteger(rate.burst) && rate.burst >= 1)) {
    throw new QuotaError(`burst must be an integer >= 1, got ${rate.burst}`);
  }
}

/** The bucket refilled up to `nowMs` (no change when `nowMs` is not later than the record). */
export function refill(state: BucketState, rate: QuotaRate, nowMs: number): BucketState {
  const elapsedMs = nowMs - state.refilledAtMs;
  if (!(elapsedMs > 0)) return state;
  const tokens = Math.min(rate.burst, state.tokens + (elapsedMs * rate.ratePerSec) / 1000);
  return { tokens, refilledAtMs: nowMs };
}

/**
 * Takes up to `wanted` whole tokens out of the bucket `state` (undefined: a
 * bucket never used, which starts full) at clock reading `nowMs`; nothing
 * when fewer than `minimum` are there (a refused slice costs no write, and a
 * minimum keeps an exhausted quota from costing one write per token).
 */
export function grantSlice(
  state: BucketState | undefined,
  rate: QuotaRate,
  nowMs: number,
  wanted: number,
  minimum = 1,
): SliceGrant {
  validateRate(rate);
  if (!Number.isFinite(nowMs)) throw new QuotaError(`clock reading must be finite, got ${nowMs}`);
  if (!(Number.isSafeInteger(wanted) && wanted >= 0)) {
    throw new QuotaError(`wanted must be a non-negative integer, got ${wanted}`);
  }
  const current = refill(state ?? { tokens: rate.burst, refilledAtMs: nowMs }, rate, nowMs);
  const whole = Math.min(wanted, Math.floor(current.tokens));
  const count = whole >= Math.max(1, minimum) ? whole : 0;
  return { count, state: { tokens: current.tokens - count, refilledAtMs: current.refilledAtMs } };
}

/**
 * How long until the bucket `state` holds `tokens` whole tokens, ms (0: it
 * does now). A node whose record shows an empty bucket waits this long before it
 * asks again: its record may be stale, but a stale record only ever shows
 * more tokens than the bucket has, so the wait is never too long.
 */
export function msUntilTokens(
  state: BucketState,
  rate: QuotaRate,
  nowMs: number,
  tokens: number,
): number {
  const current = refill(state, rate, nowMs);
  if (current.tokens >= tokens) return 0;
  return Math.ceil(((tokens - current.tokens) * 1000) / rate.ratePerSec);
}

/**
 * How many tokens a node asks for at once: about half of what the rate
 * refills during one slice's lifetime (so a slice is mostly spent before it
 * expires), at least 1, at most the burst. It takes a smaller slice when the
 * bucket holds at least a quarter of this ({@link minimumSliceTokens}).
 */
export function wantedSliceTokens(rate: QuotaRate, sliceTtlMs: number): number {
  validateRate(rate);
  const perSlice = Math.ceil((rate.ratePerSec * sliceTtlMs) / 1000 / 2);
  return Math.max(1, Math.min(rate.burst, perSlice));
}

/** The stored text of a bucket record. */
export function encodeBucket(state: BucketState): string {
  return JSON.stringify({ tokens: state.tokens, refilledAtMs: state.refilledAtMs });
}

/** Reads a stored bucket record; a {@link QuotaError} names what is malformed. */
export function decodeBucket(text: string): BucketState {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new QuotaError(`bucket record is not JSON: ${text.slice(0, 80)}`);
  }
  const r = parsed as Record<string, unknown> | null;
  if (
    typeof r !== "object" || r === null || typeof r.tokens !== "number" ||
    !Number.isFinite(r.tokens) || r.tokens < 0 || typeof r.refilledAtMs !== "number" ||
    !Number.isFinite(r.refilledAtMs)
  ) {
    throw new QuotaError(`bucket record needs finite tokens >= 0 and refilledAtMs: ${text}`);
  }
  return { tokens: r.tokens, refilledAtMs: r.refilledAtMs };
}

/** The smallest slice worth a replicated write: a quarter of the wanted slice, at least 1. */
export function minimumSliceTokens(wanted: number): number {
  return Math.max(1, Math.ceil(wanted / 4));
}
