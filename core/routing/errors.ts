/**
 * Errors a call router returns when a call cannot be (further) routed. Each one
 * carries what an operator or client needs to act: the service, the tool, the
 * attempts made and, for "no replica", why each replica was passed over.
 *
 * @module
 */
import type { BreakerState } from "../resilience/mod.ts";
import type { HealthStatus } from "../registry/mod.ts";
import type { AttemptOutcome } from "./outcome.ts";

/** Why a replica was not a candidate for a call, or `"available"` when it was. */
export type ReplicaExclusion =
  | "available"
  | "health"
  | "breaker-open"
  | "ejected"
  | "tool-not-offered"
  | "already-tried";

/** One replica's routing-relevant state, as an error or a status page shows it. */
export interface ReplicaRoutingState {
  /** Replica id. */
  readonly replicaId: string;
  /** Health status from the registry's state machine. */
  readonly health: HealthStatus;
  /** Circuit breaker state. */
  readonly breaker: BreakerState;
  /** Whether outlier detection currently ejects it. */
  readonly ejected: boolean;
  /** Why it was passed over for the call at hand (the first reason that applies). */
  readonly exclusion: ReplicaExclusion;
}

/**
 * No replica of the service may take the call: every one is unhealthy, ejected,
 * behind an open breaker, lacks the tool, or was already tried by this call.
 * Nothing was sent by the attempt that got this error.
 */
export class NoReplicaAvailableError extends Error {
  /** The logical service. */
  readonly serviceId: string;
  /** The tool called, when the request was a tool call. */
  readonly toolName: string | undefined;
  /** Attempts this call made before running out of replicas. */
  readonly attempts: number;
  /** What became of the last attempt, if there was one. */
  readonly lastOutcome: AttemptOutcome | undefined;
  /** Every replica's state at the time of the refusal. */
  readonly replicas: readonly ReplicaRoutingState[];

  /** Creates the error. */
  constructor(
    serviceId: string,
    toolName: string | undefined,
    attempts: number,
    lastOutcome: AttemptOutcome | undefined,
    replicas: readonly ReplicaRoutingState[],
  ) {
    const what = toolName === undefined ? "the request" : `tool "${toolName}"`;
    const states = replicas.length === 0
      ? "it has no replicas"
      : replicas.map((r) => `${r.replicaId}: ${describe(r)}`).join("; ");
    const after = attempts === 0 ? "" : ` after ${attempts} attempt(s), last ${lastOutcome}`;
    super(`service "${serviceId}" has no replica available for ${what}${after} (${states})`);
    this.name = "NoReplicaAvailableError";
    this.serviceId = serviceId;
    this.toolName = toolName;
    this.attempts = attempts;
    this.lastOutcome = lastOutcome;
    this.replicas = replicas;
  }
}

function describe(r: ReplicaRoutingState): string {
  switch (r.exclusion) {
    case "health":
      return `health ${r.health}`;
    case "breaker-open":
      return `circuit breaker ${r.breaker}`;
    case "ejected":
      return "ejected as an outlier";
    case "tool-not-offered":
      return "does not offer the tool";
    case "already-tried":
      return "already tried by this call";
    case "available":
      return "available";
  }
}

/** Why a call failed for good with a {@link CallFailedError}. */
export type CallFailureReason = "not-safe-to-repeat" | "attempts-exhausted" | "budget-exhausted";

/**
 * A call failed with a definite outcome (`failed` or `not-sent`) and may not be
 * tried again: its tool is not safe to run twice, or the attempt or retry budget
 * is spent. A call whose outcome is unknown ends with `OutcomeUnknownError` instead.
 */
export class CallFailedError extends Error {
  /** The logical service. */
  readonly serviceId: string;
  /** The tool called, when the request was a tool call. */
  readonly toolName: string | undefined;
  /** Attempts made, the first included. */
  readonly attempts: number;
  /** What became of the last attempt. */
  readonly lastOutcome: AttemptOutcome;
  /** The replica of the last attempt. */
  readonly replicaId: string;
  /** Why it was not tried again. */
  readonly reason: CallFailureReason;

  /** Creates the error. */
  constructor(
    serviceId: string,
    toolName: string | undefined,
    attempts: number,
    lastOutcome: AttemptOutcome,
    replicaId: string,
    reason: CallFailureReason,
  ) {
    const what = toolName === undefined ? "the request" : `the call to tool "${toolName}"`;
    const why = reason === "not-safe-to-repeat"
      ? "the tool is not annotated readOnlyHint or idempotentHint, so it is not retried"
      : reason === "attempts-exhausted"
      ? "the attempt limit is reached"
      : "the retry budget is spent (too many retries recently)";
    super(
      `service "${serviceId}": ${what} failed on replica ${replicaId} (${lastOutcome}) after ` +
        `${attempts} attempt(s); ${why}`,
    );
    this.name = "CallFailedError";
    this.serviceId = serviceId;
    this.toolName = toolName;
    this.attempts = attempts;
    this.lastOutcome = lastOutcome;
    this.replicaId = replicaId;
    this.reason = reason;
  }
}

/**
 * A caller broke the router's protocol: began a call that is already over or has
 * an attempt in flight, settled an attempt twice, or passed a call or attempt made
 * by another router. These are programming errors, so they are thrown.
 */
export class RoutingProtocolError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(`call router: ${message}`);
    this.name = "RoutingProtocolError";
  }
}
