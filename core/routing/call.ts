/**
 * A call and its attempts as the router hands them to the driver: read-only
 * views of records that only the router that made them may change.
 *
 * @module
 */
import type { BreakerPermit, ToolSafetyHints } from "../resilience/mod.ts";
import type { AttemptOutcome } from "./outcome.ts";

/** What the router needs to know about a request to route it. */
export interface CallRequest {
  /** The tool called (`tools/call`); omit for requests that are not tool calls. */
  readonly toolName?: string;
  /** The tool's MCP annotations; missing means "not safe to run twice". */
  readonly annotations?: ToolSafetyHints;
  /** Affinity key (session id, argument) for the consistent-hash strategy. */
  readonly affinityKey?: string;
}

/** One logical call, from `open` until the router's final verdict. */
export interface Call {
  /** Router-unique id, for logs and simulation traces. */
  readonly id: number;
  /** The request being routed. */
  readonly request: CallRequest;
  /** Caller's clock when the call was opened. */
  readonly openedAtMs: number;
  /** Attempts begun so far (hedges included). */
  readonly attempts: number;
  /** Attempts begun and not yet completed. */
  readonly inFlight: number;
  /** Whether the router has given its final verdict (done or fail). */
  readonly closed: boolean;
  /** Replicas this call has been sent to, in order. */
  readonly triedReplicaIds: readonly string[];
}

/** One attempt of a call on one replica. Settle it exactly once with `complete`. */
export interface Attempt {
  /** The call this attempt belongs to. */
  readonly callId: number;
  /** The replica to send the request to. */
  readonly replicaId: string;
  /** 1 for the first attempt, 2 for the next (retry or hedge), and so on. */
  readonly attempt: number;
  /** Whether this attempt is a hedge running in parallel with an earlier one. */
  readonly hedge: boolean;
  /** The circuit breaker's permit (a probe when the breaker is half-open). */
  readonly permit: BreakerPermit;
  /** Caller's clock when the attempt began; its latency is measured from here. */
  readonly startedAtMs: number;
  /**
   * When the driver should ask `hedge()` for a parallel attempt if this one has not
   * finished, or `undefined` when the call may not be hedged (tool not repeat-safe,
   * hedging not configured, or no attempts left).
   */
  readonly hedgeAtMs: number | undefined;
}

/** Internal state of a call; only the owning router mutates it. */
export class CallRecord implements Call {
  readonly owner: object;
  readonly id: number;
  readonly request: CallRequest;
  readonly openedAtMs: number;
  attempts = 0;
  closed = false;
  /** Set by a retry verdict; the next `begin` consumes it. */
  retryGranted = false;
  lastOutcome: AttemptOutcome | undefined = undefined;
  lastReplicaId: string | undefined = undefined;
  readonly tried = new Set<string>();
  readonly outstanding = new Set<AttemptRecord>();

  constructor(owner: object, id: number, request: CallRequest, openedAtMs: number) {
    this.owner = owner;
    this.id = id;
    this.request = request;
    this.openedAtMs = openedAtMs;
  }

  get inFlight(): number {
    return this.outstanding.size;
  }

  get triedReplicaIds(): readonly string[] {
    return [...this.tried];
  }
}

/** Internal state of an attempt; only the owning router mutates it. */
export class AttemptRecord implements Attempt {
  readonly call: CallRecord;
  readonly replicaId: string;
  /** Which life of the replica it went to; a removed and re-added replica is a new one. */
  readonly incarnation: number;
  readonly attempt: number;
  readonly hedge: boolean;
  readonly permit: BreakerPermit;
  readonly startedAtMs: number;
  readonly hedgeAtMs: number | undefined;
  settled = false;

  constructor(
    call: CallRecord,
    replicaId: string,
    incarnation: number,
    hedge: boolean,
    permit: BreakerPermit,
    startedAtMs: number,
    hedgeAtMs: number | undefined,
  ) {
    this.call = call;
    this.replicaId = replicaId;
    this.incarnation = incarnation;
    this.attempt = call.attempts;
    this.hedge = hedge;
    this.permit = permit;
    this.startedAtMs = startedAtMs;
    this.hedgeAtMs = hedgeAtMs;
  }

  get callId(): number {
    return this.call.id;
  }
}
