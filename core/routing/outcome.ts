/**
 * What the driver reports about one attempt, and what that report means to each
 * piece of evidence the router keeps (balancer stats, breaker, outlier detector,
 * health). Keeping the mapping in one table is what makes the gateway and the
 * simulator judge a replica by the same rules.
 *
 * @module
 */
import type { CallOutcome } from "../resilience/mod.ts";

/**
 * The end of one attempt, as the driver saw it:
 * - `"ok"`: the replica answered with a result (a tool's own `isError` result included);
 * - `"remote-error"`: the replica answered with a JSON-RPC error: its verdict stands and
 *   passes to the client, and it says the replica is alive;
 * - `"cancelled"`: the client cancelled; says nothing about the replica;
 * - `"not-sent"`, `"failed"`, `"unknown"`: as in `core/resilience`'s `CallOutcome`
 *   (never left; definite transport-level failure; sent and the reply lost).
 */
export type AttemptOutcome = "ok" | "remote-error" | "cancelled" | CallOutcome;

/** Every attempt outcome. */
export const ATTEMPT_OUTCOMES: readonly AttemptOutcome[] = Object.freeze([
  "ok",
  "remote-error",
  "cancelled",
  "not-sent",
  "failed",
  "unknown",
]);

/** How one outcome feeds the router's evidence about the replica. */
export interface OutcomeEvidence {
  /** Whether the replica answered (`true`), failed (`false`) or told nothing (`undefined`). */
  readonly replicaOk: boolean | undefined;
  /**
   * Whether the attempt's latency is a sample for the balancer. A request that was
   * never sent fails in no time; counting that as a fast reply would make latency-aware
   * strategies pour calls onto a dead replica.
   */
  readonly latencySample: boolean;
  /** Whether the tool may have run on the replica. */
  readonly mayHaveExecuted: boolean;
}

const EVIDENCE: Readonly<Record<AttemptOutcome, OutcomeEvidence>> = Object.freeze({
  "ok": { replicaOk: true, latencySample: true, mayHaveExecuted: true },
  "remote-error": { replicaOk: true, latencySample: true, mayHaveExecuted: true },
  "cancelled": { replicaOk: undefined, latencySample: false, mayHaveExecuted: true },
  "not-sent": { replicaOk: false, latencySample: false, mayHaveExecuted: false },
  "failed": { replicaOk: false, latencySample: true, mayHaveExecuted: true },
  "unknown": { replicaOk: false, latencySample: true, mayHaveExecuted: true },
});

/**
 * The evidence an attempt outcome gives about its replica.
 *
 * @example
 * ```ts
 * import { outcomeEvidence } from "./outcome.ts";
 * outcomeEvidence("not-sent"); // { replicaOk: false, latencySample: false, mayHaveExecuted: false }
 * outcomeEvidence("remote-error").replicaOk; // true: the replica answered
 * ```
 */
export function outcomeEvidence(outcome: AttemptOutcome): OutcomeEvidence {
  const evidence = EVIDENCE[outcome];
  if (evidence === undefined) throw new RangeError(`unknown attempt outcome "${outcome}"`);
  return evidence;
}
