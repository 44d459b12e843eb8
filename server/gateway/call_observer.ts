/**
 * What the gateway tells an observer about each call and each attempt, for
 * metrics and traces. Kept to plain strings and numbers so an observer never
 * holds call state, and optional so a gateway without one pays one branch.
 *
 * @module
 */
import type { AttemptOutcome } from "@safla/core/routing";

/**
 * How a call ended for its client: `ok`, a result the tool marked `isError`,
 * the backend's JSON-RPC error, the client's cancellation, or the router's
 * reason for giving up.
 */
export type CallEnd =
  | "ok"
  | "tool_error"
  | "remote_error"
  | "cancelled"
  | "no_replica"
  | "minority"
  | "outcome_unknown"
  | "failed"
  | "internal";

/** Why an attempt was started: the first of a call, a retry after a failure, or a hedge. */
export type AttemptKind = "first" | "retry" | "hedge";

/** Receives the gateway's call events (see the module doc). */
export interface CallObserver {
  /** A call to `target` (a tool name, or the method for resources and prompts) ended. */
  callEnded(service: string, target: string, end: CallEnd, durationMs: number): void;
  /** The router chose `replica` for an attempt. */
  attemptStarted(service: string, replica: string, kind: AttemptKind): void;
  /** An attempt on `replica` ended. */
  attemptEnded(
    service: string,
    replica: string,
    outcome: AttemptOutcome,
    durationMs: number,
  ): void;
  /** A replica's backend connection entered `state` (connecting, ready, backoff, …). */
  replicaStateChanged(service: string, replica: string, state: string): void;
}
