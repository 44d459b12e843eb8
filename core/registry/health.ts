/**
 * Health of one replica, as the seed's node statuses name it: `unknown`,
 * `healthy`, `unhealthy`, `disconnected`.
 *
 * Two kinds of evidence drive it: active probes (a ping or a `tools/list`)
 * and the passive outcomes of real calls. One bad answer must not flip a
 * replica in and out of rotation, so the state machine has hysteresis: a
 * streak of failures to leave `healthy`, a streak of successes to return, and
 * a minimum dwell time in `healthy` or `unhealthy` before leaving it. A lost
 * transport is a fact rather than a noisy signal, so `disconnected` applies at
 * once.
 *
 * A stdio backend that restarts and then lists zero tools while it used to
 * offer some is broken, not idle: that probe counts as a failure, and until a
 * probe lists tools again, successes do not count.
 *
 * Pure: time is an argument, transitions come back as data.
 *
 * @module
 */

/** The four statuses of the seed's `NodeStatus`. */
export type HealthStatus = "unknown" | "healthy" | "unhealthy" | "disconnected";

/** Every health status. */
export const HEALTH_STATUSES: readonly HealthStatus[] = Object.freeze([
  "unknown",
  "healthy",
  "unhealthy",
  "disconnected",
]);

/** Thresholds of the hysteresis. */
export interface HealthPolicy {
  /** Consecutive failures that turn `healthy` or `unknown` into `unhealthy` (at least 1). */
  unhealthyAfterFailures: number;
  /** Consecutive successes that turn `unhealthy` or `unknown` into `healthy` (at least 1). */
  healthyAfterSuccesses: number;
  /** Least time spent in `healthy` or `unhealthy` before an outcome may move it (ms, >= 0). */
  minDwellMs: number;
  /** Whether a replica must list at least one tool to be healthy, even before it ever did. */
  requireTools: boolean;
}

/** Defaults: 3 failures to go down, 2 successes to come back, 5 s dwell. */
export const DEFAULT_HEALTH_POLICY: Readonly<HealthPolicy> = Object.freeze({
  unhealthyAfterFailures: 3,
  healthyAfterSuccesses: 2,
  minDwellMs: 5_000,
  requireTools: false,
});

/** One piece of evidence about a replica, observed at `atMs` (a monotonic clock, in ms). */
export type HealthObservation =
  | {
    /** An active probe finished. */
    kind: "probe";
    /** When the result was observed. */
    atMs: number;
    /** Whether the replica answered correctly. */
    ok: boolean;
    /** Tools listed by the probe, when it was a `tools/list`. */
    toolCount?: number;
    /** Why it failed, for the transition reason. */
    reason?: string;
  }
  | {
    /** A real call finished; `ok` is false only for transport-level failures and timeouts. */
    kind: "call";
    /** When the outcome was observed. */
    atMs: number;
    /** Whether the replica answered (a tool's own `isError` result still counts as an answer). */
    ok: boolean;
    /** Why it failed, for the transition reason. */
    reason?: string;
  }
  | {
    /** The transport to the replica is up (again). */
    kind: "connected";
    /** When it connected. */
    atMs: number;
  }
  | {
    /** The transport to the replica is gone (process exit, connection closed). */
    kind: "disconnected";
    /** When it was lost. */
    atMs: number;
    /** Why, for the transition reason. */
    reason?: string;
  }
  | {
    /** Nothing new; lets a transition held back by the dwell time happen once it has passed. */
    kind: "tick";
    /** The current time. */
    atMs: number;
  };

/** What the state machine remembers about a replica. Plain JSON. */
export interface HealthState {
  /** Current status. */
  status: HealthStatus;
  /** When the current status began (ms). */
  sinceMs: number;
  /** Latest observation time; observations must not go back in time. */
  lastObservedAtMs: number;
  /** Length of the current success streak. */
  consecutiveSuccesses: number;
  /** Length of the current failure streak. */
  consecutiveFailures: number;
  /** Whether a probe ever listed at least one tool. */
  offeredTools: boolean;
  /** Whether the latest tool-listing probe found no tools while some are expected. */
  toolsMissing: boolean;
  /** The reason of the latest failure, if any. */
  lastFailure: string | null;
}

/** A change of status, returned as data so the caller can emit events. */
export interface HealthTransition {
  /** Status before. */
  from: HealthStatus;
  /** Status after. */
  to: HealthStatus;
  /** When it happened (ms). */
  atMs: number;
  /** Human-readable cause. */
  reason: string;
}

/** Result of {@link observeHealth}. */
export interface HealthStep {
  /** The new state (the input is not modified). */
  state: HealthState;
  /** The status change this observation caused, if any. */
  transition: HealthTransition | null;
}

/** Thrown on an unusable policy or an observation that goes back in time. */
export class HealthError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "HealthError";
  }
}

/**
 * Checks a policy and returns it; throws {@link HealthError} naming the bad field.
 *
 * @example
 * ```ts
 * import { DEFAULT_HEALTH_POLICY, validateHealthPolicy } from "./health.ts";
 * validateHealthPolicy({ ...DEFAULT_HEALTH_POLICY, minDwellMs: 0 });
 * ```
 */
export function validateHealthPolicy(policy: HealthPolicy): HealthPolicy {
  for (const field of ["unhealthyAfterFailures", "healthyAfterSuccesses"] as const) {
    const v = policy[field];
    if (!Number.isSafeInteger(v) || v < 1) {
      throw new HealthError(`health policy: ${field} must be an integer >= 1, got ${v}`);
    }
  }
  if (!Number.isFinite(policy.minDwellMs) || policy.minDwellMs < 0) {
    throw new HealthError(
      `health policy: minDwellMs must be a finite number >= 0, got ${policy.minDwellMs}`,
    );
  }
  if (typeof policy.requireTools !== "boolean") {
    throw new HealthError(`health policy: requireTools must be a boolean`);
  }
  return policy;
}

/**
 * The state of a replica first seen at `atMs`: status `unknown`.
 *
 * @example
 * ```ts
 * import { initialHealth } from "./health.ts";
 * console.assert(initialHealth(0).status === "unknown");
 * ```
 */
export function initialHealth(atMs: number): HealthState {
  assertTime(atMs);
  return {
    status: "unknown",
    sinceMs: atMs,
    lastObservedAtMs: atMs,
    consecutiveSuccesses: 0,
    consecutiveFailures: 0,
    offeredTools: false,
    toolsMissing: false,
    lastFailure: null,
  };
}

/**
 * Feeds one observation to the state machine.
 *
 * @example
 * ```ts
 * import { DEFAULT_HEALTH_POLICY, initialHealth, observeHealth } from "./health.ts";
 * const policy = { ...DEFAULT_HEALTH_POLICY, healthyAfterSuccesses: 1 };
 * const step = observeHealth(initialHealth(0), { kind: "probe", atMs: 10, ok: true, toolCount: 3 }, policy);
 * console.assert(step.state.status === "healthy" && step.transition?.from === "unknown");
 * ```
 */
export function observeHealth(
  state: HealthState,
  observation: HealthObservation,
  policy: HealthPolicy = DEFAULT_HEALTH_POLICY,
): HealthStep {
  const atMs = observation.atMs;
  assertTime(atMs);
  if (atMs < state.lastObservedAtMs) {
    throw new HealthError(
      `health: observation at ${atMs} ms precedes the previous one at ${state.lastObservedAtMs} ms`,
    );
  }
  const next: HealthState = { ...state, lastObservedAtMs: atMs };
  switch (observation.kind) {
    case "disconnected": {
      resetStreaks(next);
      next.lastFailure = observation.reason ?? "transport disconnected";
      return moveTo(next, state.status, "disconnected", atMs, next.lastFailure);
    }
    case "connected":
      if (state.status !== "disconnected") return { state: next, transition: null };
      resetStreaks(next);
      return moveTo(next, state.status, "unknown", atMs, "transport connected");
    case "tick":
      return evaluate(next, state.status, atMs, policy);
    case "probe":
    case "call": {
      // Without a transport there is nothing to probe; evidence waits for `connected`.
      if (state.status === "disconnected") return { state: next, transition: null };
      let ok = observation.ok;
      let reason = observation.reason ?? `${observation.kind} failed`;
      if (observation.kind === "probe" && ok && observation.toolCount !== undefined) {
        if (!Number.isSafeInteger(observation.toolCount) || observation.toolCount < 0) {
          throw new HealthError(
            `health: toolCount must be an integer >= 0, got ${observation.toolCount}`,
          );
        }
        if (observation.toolCount > 0) {
          next.offeredTools = true;
          next.toolsMissing = false;
        } else if (next.offeredTools || policy.requireTools) {
          next.toolsMissing = true;
        }
      }
      if (ok && next.toolsMissing) {
        ok = false;
        reason = "lists zero tools although tools are expected";
      }
      if (ok) {
        next.consecutiveSuccesses = state.consecutiveSuccesses + 1;
        next.consecutiveFailures = 0;
      } else {
        next.consecutiveFailures = state.consecutiveFailures + 1;
        next.consecutiveSuccesses = 0;
        next.lastFailure = reason;
      }
      return evaluate(next, state.status, atMs, policy);
    }
  }
}

function evaluate(
  next: HealthState,
  from: HealthStatus,
  atMs: number,
  policy: HealthPolicy,
): HealthStep {
  const dwelt = atMs - next.sinceMs >= policy.minDwellMs;
  const failing = next.consecutiveFailures >= policy.unhealthyAfterFailures;
  const recovering = next.consecutiveSuccesses >= policy.healthyAfterSuccesses;
  switch (from) {
    case "unknown":
      // `unknown` is no verdict yet, so the first verdict is not held back by the dwell time.
      if (failing) return moveTo(next, from, "unhealthy", atMs, failureReason(next));
      if (recovering) return moveTo(next, from, "healthy", atMs, successReason(next));
      break;
    case "healthy":
      if (failing && dwelt) return moveTo(next, from, "unhealthy", atMs, failureReason(next));
      break;
    case "unhealthy":
      if (recovering && dwelt) return moveTo(next, from, "healthy", atMs, successReason(next));
      break;
    case "disconnected":
      break;
  }
  return { state: next, transition: null };
}

function moveTo(
  next: HealthState,
  from: HealthStatus,
  to: HealthStatus,
  atMs: number,
  reason: string,
): HealthStep {
  if (from === to) return { state: next, transition: null };
  next.status = to;
  next.sinceMs = atMs;
  return { state: next, transition: { from, to, atMs, reason } };
}

function resetStreaks(state: HealthState): void {
  state.consecutiveSuccesses = 0;
  state.consecutiveFailures = 0;
}

function failureReason(state: HealthState): string {
  return `${state.consecutiveFailures} consecutive failures, last: ${state.lastFailure}`;
}

function successReason(state: HealthState): string {
  return `${state.consecutiveSuccesses} consecutive successes`;
}

function assertTime(atMs: number): void {
  if (!Number.isFinite(atMs)) throw new HealthError(`health: time must be finite, got ${atMs}`);
}

/**
 * Whether calls may be routed to a replica in `status`. Only `healthy`
 * replicas are first choice; `unknown` ones are a fallback the balancer may use
 * when nothing is healthy.
 */
export function isRoutable(status: HealthStatus): boolean {
  return status === "healthy" || status === "unknown";
}
