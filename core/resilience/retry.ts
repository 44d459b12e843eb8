/**
 * When a failed tool call may be tried again: the retry rule (gated on MCP tool
 * annotations and on what is known about the failed attempt) and a retry budget
 * that keeps retries a bounded fraction of traffic, so that a struggling backend
 * is not buried under a retry storm.
 *
 * @module
 */
import { mayRunTwice, type ToolSafetyHints } from "./tool_safety.ts";

/**
 * What is known about a failed attempt.
 * - `"not-sent"`: the request never left (connection refused, no replica reached):
 *   the tool certainly did not run, so failing over is always safe.
 * - `"failed"`: the backend answered with a definite error.
 * - `"unknown"`: the request was sent and then the reply was lost (timeout,
 *   connection dropped): the tool may or may not have run.
 */
export type CallOutcome = "not-sent" | "failed" | "unknown";

/** Defaults of {@link RetryBudget}. */
export const DEFAULT_RETRY_RATIO = 0.2;
/** Retries always allowed per second, even with little traffic. */
export const DEFAULT_MIN_RETRIES_PER_SECOND = 10;
/** Time constant over which deposits from past requests fade. */
export const DEFAULT_RETRY_BUDGET_TTL_MS = 10_000;
/** Default cap on tokens earned from requests. */
export const DEFAULT_MAX_EARNED_RETRY_TOKENS = 1_000;
/** Default bound on attempts per call (the first try included). */
export const DEFAULT_MAX_ATTEMPTS = 3;

const TOKEN_EPSILON = 1e-9;

/** Tuning of a {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retry tokens earned per request, e.g. 0.2 allows retries of up to 20% of requests. */
  readonly retryRatio?: number;
  /**
   * Tokens refilled per second regardless of traffic. The reserve holds up to
   * `ttlMs` worth of them, so a gateway that has just started (and earned
   * nothing yet) can still fail over the calls that were in flight on a replica
   * that died.
   */
  readonly minRetriesPerSecond?: number;
  /** Earned tokens fade with this time constant, so the budget follows recent volume. */
  readonly ttlMs?: number;
  /** Upper bound on earned tokens. */
  readonly maxEarnedTokens?: number;
}

/**
 * A token bucket for retries: each request deposits `retryRatio` tokens, a steady
 * reserve refills at `minRetriesPerSecond`, and each retry (or hedge) spends one
 * token. The balance never goes negative. Time is an argument.
 *
 * @example
 * ```ts
 * import { RetryBudget } from "@safla/core";
 * const budget = new RetryBudget({ retryRatio: 0.2, minRetriesPerSecond: 0 });
 * for (let i = 0; i < 10; i++) budget.onRequest(0);
 * budget.tryWithdraw(0); // true  (10 requests earned 2 tokens)
 * budget.tryWithdraw(0); // true
 * budget.tryWithdraw(0); // false
 * ```
 */
export class RetryBudget {
  readonly #retryRatio: number;
  readonly #minRetriesPerSecond: number;
  readonly #ttlMs: number;
  readonly #maxEarnedTokens: number;
  readonly #maxReserveTokens: number;
  #earnedTokens = 0;
  #reserveTokens: number;
  #lastMs: number | undefined;

  /** Creates a budget; the reserve starts full. */
  constructor(options: RetryBudgetOptions = {}) {
    this.#retryRatio = options.retryRatio ?? DEFAULT_RETRY_RATIO;
    this.#minRetriesPerSecond = options.minRetriesPerSecond ?? DEFAULT_MIN_RETRIES_PER_SECOND;
    this.#ttlMs = options.ttlMs ?? DEFAULT_RETRY_BUDGET_TTL_MS;
    this.#maxEarnedTokens = options.maxEarnedTokens ?? DEFAULT_MAX_EARNED_RETRY_TOKENS;
    if (!(this.#retryRatio >= 0 && this.#retryRatio <= 1)) {
      throw new RangeError(`RetryBudget: retryRatio must be in [0, 1], got ${this.#retryRatio}`);
    }
    if (!(this.#minRetriesPerSecond >= 0) || !Number.isFinite(this.#minRetriesPerSecond)) {
      throw new RangeError(
        `RetryBudget: minRetriesPerSecond must be >= 0, got ${this.#minRetriesPerSecond}`,
      );
    }
    if (!(this.#ttlMs > 0) || !Number.isFinite(this.#ttlMs)) {
      throw new RangeError(`RetryBudget: ttlMs must be > 0, got ${this.#ttlMs}`);
    }
    if (!(this.#maxEarnedTokens >= 0) || !Number.isFinite(this.#maxEarnedTokens)) {
      throw new RangeError(
        `RetryBudget: maxEarnedTokens must be >= 0, got ${this.#maxEarnedTokens}`,
      );
    }
    this.#maxReserveTokens = (this.#minRetriesPerSecond * this.#ttlMs) / 1000;
    this.#reserveTokens = this.#maxReserveTokens;
  }

  /** Records a request (first attempts only; retries do not earn tokens). */
  onRequest(nowMs: number): void {
    this.#advance(nowMs);
    this.#earnedTokens = Math.min(this.#maxEarnedTokens, this.#earnedTokens + this.#retryRatio);
  }

  /** Tokens available at `nowMs` (a retry needs one). */
  available(nowMs: number): number {
    this.#advance(nowMs);
    return this.#earnedTokens + this.#reserveTokens;
  }

  /** Spends one token if available and returns whether it did. */
  tryWithdraw(nowMs: number): boolean {
    this.#advance(nowMs);
    if (this.#earnedTokens + this.#reserveTokens < 1 - TOKEN_EPSILON) return false;
    const fromEarned = Math.min(1, this.#earnedTokens);
    this.#earnedTokens -= fromEarned;
    this.#reserveTokens -= 1 - fromEarned;
    // Sums of fractional deposits (5 × 0.2) land a hair below 1: forgive the rounding,
    // never a real overdraft.
    if (this.#reserveTokens < 0) {
      if (this.#reserveTokens < -TOKEN_EPSILON) {
        throw new Error(`RetryBudget: balance went negative (${this.#reserveTokens})`);
      }
      this.#reserveTokens = 0;
    }
    return true;
  }

  #advance(nowMs: number): void {
    if (!Number.isFinite(nowMs)) {
      throw new RangeError(`RetryBudget: nowMs must be finite, got ${nowMs}`);
    }
    const last = this.#lastMs;
    this.#lastMs = last === undefined ? nowMs : Math.max(last, nowMs);
    if (last === undefined || !(nowMs > last)) return;
    const elapsedMs = nowMs - last;
    this.#earnedTokens *= Math.exp(-elapsedMs / this.#ttlMs);
    this.#reserveTokens = Math.min(
      this.#maxReserveTokens,
      this.#reserveTokens + (this.#minRetriesPerSecond * elapsedMs) / 1000,
    );
  }
}

/**
 * A call ended with its outcome unknown: the request reached the backend and the
 * reply was lost, so the tool may or may not have run. The gateway returns this
 * instead of retrying a tool that is not safe to run twice. A write to the
 * replicated store whose leader was lost is the same case ({@link OutcomeUnknownError.ofWrite}).
 */
export class OutcomeUnknownError extends Error {
  /** The tool that was called, when known. */
  readonly toolName: string | undefined;
  /** Attempts made, the first included. */
  readonly attempts: number;
  /** Whether the tool is read-only or idempotent, so the client may safely call it again. */
  readonly safeToRetry: boolean;

  /** Creates the error. */
  constructor(toolName: string | undefined, attempts: number, safeToRetry: boolean) {
    const tool = toolName === undefined ? "the tool call" : `the call to tool "${toolName}"`;
    super(
      safeToRetry
        ? `The outcome of ${tool} is unknown after ${attempts} attempt(s): the request was ` +
          `sent but no reply arrived, so it may or may not have run. The tool is marked ` +
          `read-only or idempotent, so calling it again is safe.`
        : `The outcome of ${tool} is unknown: the request was sent but no reply arrived, so ` +
          `it may or may not have run. The gateway did not retry it, to avoid executing it ` +
          `twice, because the tool is not annotated readOnlyHint or idempotentHint. Check ` +
          `its effects before calling it again.`,
    );
    this.name = "OutcomeUnknownError";
    this.toolName = toolName;
    this.attempts = attempts;
    this.safeToRetry = safeToRetry;
  }

  /**
   * A replicated write handed to a Raft leader that then failed or went silent:
   * it may or may not have been applied, and is not repeated on the caller's behalf.
   */
  static ofWrite(detail: string): OutcomeUnknownError {
    const error = new OutcomeUnknownError(undefined, 1, false);
    error.message = `the write may or may not have been applied (${detail}); ` +
      `read the key before retrying it`;
    return error;
  }
}

/** Everything the retry rule looks at. */
export interface RetryDecisionInput {
  /** The tool's MCP annotations (missing: not safe to run twice). */
  readonly annotations?: ToolSafetyHints;
  /** Attempts made so far, the failed one included (1 after the first try). */
  readonly attempt: number;
  /** What is known about the attempt that just failed. */
  readonly outcome: CallOutcome;
  /** Bound on attempts, the first included. Default 3. */
  readonly maxAttempts?: number;
  /** Retry budget to spend from; a token is taken only when the answer is to retry. */
  readonly budget?: RetryBudget;
  /** Caller's clock, required with `budget`. */
  readonly nowMs?: number;
  /** Tool name for error messages. */
  readonly toolName?: string;
}

/** Why a retry was allowed. */
export type RetryReason = "not-sent" | "safe-to-repeat";
/** Why a retry was refused. */
export type NoRetryReason = "not-safe-to-repeat" | "attempts-exhausted" | "budget-exhausted";

/**
 * The answer of {@link retryDecision}. When `retry` is false and the outcome was
 * unknown, `error` is the {@link OutcomeUnknownError} to return to the client;
 * otherwise the caller returns the attempt's own error.
 */
export type RetryDecision =
  | { readonly retry: true; readonly reason: RetryReason }
  | {
    readonly retry: false;
    readonly reason: NoRetryReason;
    readonly error: OutcomeUnknownError | undefined;
  };

/**
 * The retry rule. A call may be retried, failed over or hedged only when its tool is
 * annotated `readOnlyHint: true` or `idempotentHint: true` — except a request that
 * was never sent, which may always fail over. Any other call whose outcome is
 * unknown ends with an {@link OutcomeUnknownError} and is never run again. Allowed
 * retries are further bounded by `maxAttempts` and by the budget.
 *
 * @example
 * ```ts
 * import { retryDecision } from "@safla/core";
 * retryDecision({ annotations: { readOnlyHint: true }, attempt: 1, outcome: "unknown" });
 * // { retry: true, reason: "safe-to-repeat" }
 * const d = retryDecision({ annotations: {}, attempt: 1, outcome: "unknown", toolName: "pay" });
 * // d.retry === false; d.error is an OutcomeUnknownError saying it may have run
 * ```
 */
export function retryDecision(input: RetryDecisionInput): RetryDecision {
  const { attempt, outcome, toolName } = input;
  const maxAttempts = input.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isSafeInteger(attempt) || attempt < 1) {
    throw new RangeError(`retryDecision: attempt must be an integer >= 1, got ${attempt}`);
  }
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
    throw new RangeError(`retryDecision: maxAttempts must be an integer >= 1, got ${maxAttempts}`);
  }
  const safe = mayRunTwice(input.annotations);
  const giveUp = (reason: NoRetryReason): RetryDecision => ({
    retry: false,
    reason,
    error: outcome === "unknown" ? new OutcomeUnknownError(toolName, attempt, safe) : undefined,
  });
  if (outcome !== "not-sent" && !safe) return giveUp("not-safe-to-repeat");
  if (attempt >= maxAttempts) return giveUp("attempts-exhausted");
  if (input.budget !== undefined) {
    if (input.nowMs === undefined) {
      throw new RangeError("retryDecision: nowMs is required when a budget is given");
    }
    if (!input.budget.tryWithdraw(input.nowMs)) return giveUp("budget-exhausted");
  }
  return { retry: true, reason: outcome === "not-sent" ? "not-sent" : "safe-to-repeat" };
}

/** Everything the hedging rule looks at. */
export interface HedgeInput {
  /** The tool's MCP annotations (missing: not safe to run twice). */
  readonly annotations?: ToolSafetyHints;
  /** Retry budget that hedges spend from, like retries. */
  readonly budget?: RetryBudget;
  /** Caller's clock, required with `budget`. */
  readonly nowMs?: number;
}

/**
 * Whether to send a hedged (duplicate) request to a second replica while the first
 * is still outstanding. A hedge runs the tool twice by design, so only read-only or
 * idempotent tools are hedged, and each hedge spends a budget token.
 *
 * @example
 * ```ts
 * import { mayHedge } from "@safla/core";
 * mayHedge({ annotations: { readOnlyHint: true } }); // true
 * mayHedge({ annotations: { destructiveHint: true } }); // false
 * ```
 */
export function mayHedge(input: HedgeInput): boolean {
  if (!mayRunTwice(input.annotations)) return false;
  if (input.budget === undefined) return true;
  if (input.nowMs === undefined) {
    throw new RangeError("mayHedge: nowMs is required when a budget is given");
  }
  return input.budget.tryWithdraw(input.nowMs);
}
