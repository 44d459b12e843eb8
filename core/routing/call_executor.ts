/**
 * The life of one call, without the I/O: pick a replica, attempt, hedge, retry,
 * cancel the attempts that lost, fail over, give up with a clear error. A driver
 * (the gateway with real backends and timers, the simulator with simulated ones
 * over virtual time) feeds it events — an attempt ended, the hedge timer fired,
 * the client cancelled — and performs the {@link CallEffect}s it returns, in
 * order. The decisions are the {@link CallRouter}'s; the executor owns only the
 * loop around them, so both drivers run exactly the same call path.
 *
 * @module
 */
import type { MinorityPartitionError, OutcomeUnknownError } from "../resilience/mod.ts";
import type { Attempt, Call, CallRequest } from "./call.ts";
import type { CallRouter } from "./call_router.ts";
import type { CallFailedError, NoReplicaAvailableError } from "./errors.ts";
import { RoutingProtocolError } from "./errors.ts";
import type { AttemptOutcome } from "./outcome.ts";

/** Why the router ended a call without an answer from a replica. */
export type RoutingFailure =
  | NoReplicaAvailableError
  | MinorityPartitionError
  | OutcomeUnknownError
  | CallFailedError;

/** What the driver must do, in the order given. */
export type CallEffect =
  | {
    /** Send the request to `attempt.replicaId`; report its end with `attemptEnded`. */
    readonly kind: "start";
    readonly attempt: Attempt;
    /**
     * Whether this attempt may be cancelled while the call goes on (it may run beside
     * a hedge). When false it is only ever cancelled with the whole call, so a driver
     * may run it on the client's own cancellation signal instead of one of its own.
     */
    readonly cancelAlone: boolean;
  }
  | {
    /** Stop the attempt; it still reports its end (as `"cancelled"` unless it had one). */
    readonly kind: "cancel";
    readonly attempt: Attempt;
  }
  | {
    /** Call `timerFired` at `atMs`, replacing any timer set before. */
    readonly kind: "set-timer";
    readonly atMs: number;
  }
  | {
    /** The timer set before is no longer wanted. */
    readonly kind: "clear-timer";
  }
  | {
    /** Answer the client with what `attempt` (the one just reported) returned. */
    readonly kind: "reply";
    readonly outcome: "ok" | "remote-error" | "cancelled";
    readonly attempt: Attempt;
  }
  | {
    /** Answer the client with `error`; `lastAttempt` is the last one that failed, if any. */
    readonly kind: "fail";
    readonly error: RoutingFailure;
    readonly lastAttempt: Attempt | undefined;
  };

/** How a driver lets a call run. */
export interface CallExecutorOptions {
  /**
   * Whether the call may be hedged when the router offers a hedge time. A driver turns
   * this off when a parallel attempt could not be told apart from the first (e.g. a
   * 2025 backend may ask the client for input mid-call).
   */
  readonly hedging: boolean;
}

/**
 * Runs one call through a router. Guarantees, whatever order events arrive in:
 * exactly one `reply` or `fail` effect; every `start` is matched by the driver's
 * `attemptEnded`, and every attempt still running after the reply gets a `cancel`;
 * a tool not annotated `readOnlyHint`/`idempotentHint` never has two attempts that
 * may have executed (the router's rule, which the executor never goes around).
 *
 * @example
 * ```ts
 * import { SeededRng } from "../rng.ts";
 * import { CallExecutor, CallRouter } from "./mod.ts";
 * const router = new CallRouter({
 *   serviceId: "search",
 *   rng: new SeededRng(1),
 *   replicas: [{ id: "a", tools: ["find"] }, { id: "b", tools: ["find"] }],
 * });
 * const call = new CallExecutor(router, { toolName: "find", annotations: { readOnlyHint: true } }, 0, {
 *   hedging: false,
 * });
 * const [first] = call.start(0); // { kind: "start", attempt: { replicaId: "a" or "b", ... } }
 * if (first.kind === "start") {
 *   // the reply was lost: the read-only call fails over to the other replica
 *   const [next] = call.attemptEnded(first.attempt, "unknown", 30);
 *   // next.kind === "start", on the replica not tried yet
 * }
 * ```
 */
export class CallExecutor {
  /** The router's handle of this call. */
  readonly call: Call;
  readonly #router: CallRouter;
  readonly #hedging: boolean;
  /** Attempts started and not yet reported ended, oldest first. */
  readonly #running: Attempt[] = [];
  #timerAtMs: number | undefined = undefined;
  #started = false;
  #answered = false;
  #clientCancelled = false;
  #lastFailed: Attempt | undefined = undefined;

  /** Opens the call on `router`; nothing is sent until {@link start}. */
  constructor(
    router: CallRouter,
    request: CallRequest,
    nowMs: number,
    options: CallExecutorOptions,
  ) {
    this.#router = router;
    this.#hedging = options.hedging;
    this.call = router.open(request, nowMs);
  }

  /** Whether the client has its answer. */
  get answered(): boolean {
    return this.#answered;
  }

  /** Attempts started and not yet reported ended. */
  get running(): readonly Attempt[] {
    return this.#running;
  }

  /** Begins the first attempt. */
  start(nowMs: number): CallEffect[] {
    if (this.#started) throw new RoutingProtocolError(`call ${this.call.id} was already started`);
    this.#started = true;
    const effects: CallEffect[] = [];
    this.#begin(effects, nowMs);
    return effects;
  }

  /** Reports how a started attempt ended. */
  attemptEnded(attempt: Attempt, outcome: AttemptOutcome, nowMs: number): CallEffect[] {
    const index = this.#running.indexOf(attempt);
    if (index < 0) {
      throw new RoutingProtocolError(
        `attempt ${attempt.attempt} of call ${attempt.callId} is not running in this executor`,
      );
    }
    this.#running.splice(index, 1);
    // Once the client has given up, a failed attempt must not start a retry nobody awaits.
    const reported = this.#clientCancelled && outcome !== "ok" && outcome !== "remote-error"
      ? "cancelled"
      : outcome;
    const verdict = this.#router.complete(attempt, reported, nowMs);
    const effects: CallEffect[] = [];
    switch (verdict.kind) {
      case "done":
        // After the client's cancellation every sibling has had its cancel already.
        if (!this.#clientCancelled) {
          for (const sibling of verdict.cancel) effects.push({ kind: "cancel", attempt: sibling });
        }
        this.#answer(effects, { kind: "reply", outcome: verdict.outcome, attempt });
        break;
      case "retry":
        this.#lastFailed = attempt;
        this.#begin(effects, nowMs);
        break;
      case "fail":
        this.#answer(effects, { kind: "fail", error: verdict.error, lastAttempt: attempt });
        break;
      case "pending":
        if (reported !== "cancelled") this.#lastFailed = attempt;
        break;
      case "settled":
        break;
    }
    return effects;
  }

  /** The timer asked for by the last `set-timer` fired: hedge if the router allows it. */
  timerFired(nowMs: number): CallEffect[] {
    if (this.#timerAtMs === undefined || this.#answered || this.#clientCancelled) return [];
    this.#timerAtMs = undefined;
    const effects: CallEffect[] = [];
    const hedge = this.#router.hedge(this.call, nowMs);
    if (hedge !== undefined) this.#launch(effects, hedge);
    return effects;
  }

  /** The client gave up on the call: cancel every attempt; the call ends as they report. */
  clientCancelled(): CallEffect[] {
    if (this.#answered || this.#clientCancelled) return [];
    this.#clientCancelled = true;
    const effects: CallEffect[] = [];
    this.#clearTimer(effects);
    for (const attempt of this.#running) effects.push({ kind: "cancel", attempt });
    return effects;
  }

  #begin(effects: CallEffect[], nowMs: number): void {
    const begun = this.#router.begin(this.call, nowMs);
    if (!begun.ok) {
      this.#answer(effects, { kind: "fail", error: begun.error, lastAttempt: this.#lastFailed });
      return;
    }
    this.#launch(effects, begun.attempt);
  }

  #launch(effects: CallEffect[], attempt: Attempt): void {
    const hedgeAtMs = this.#hedging ? attempt.hedgeAtMs : undefined;
    const cancelAlone = attempt.hedge || hedgeAtMs !== undefined;
    this.#running.push(attempt);
    effects.push({ kind: "start", attempt, cancelAlone });
    if (hedgeAtMs !== undefined) {
      this.#timerAtMs = hedgeAtMs;
      effects.push({ kind: "set-timer", atMs: hedgeAtMs });
    } else {
      this.#clearTimer(effects);
    }
  }

  #answer(effects: CallEffect[], answer: CallEffect & { kind: "reply" | "fail" }): void {
    if (this.#answered) throw new Error(`CallExecutor: call ${this.call.id} answered twice`);
    this.#answered = true;
    this.#clearTimer(effects);
    effects.push(answer);
  }

  #clearTimer(effects: CallEffect[]): void {
    if (this.#timerAtMs === undefined) return;
    this.#timerAtMs = undefined;
    effects.push({ kind: "clear-timer" });
  }
}
