/**
 * The gateway's driver of the call path: runs one call through the core's
 * {@link CallExecutor} — the same loop the simulator drives — and performs its
 * effects with real I/O: an attempt is a backend request, a timer is a
 * `setTimeout`, and an attempt that may be cancelled alone (it runs beside a
 * hedge) gets an `AbortController` of its own that follows the client's signal.
 * Every decision (which replica, retry or not, hedge or not, which attempt to
 * cancel) is the executor's and its router's.
 *
 * @module
 */
import {
  type Attempt,
  type AttemptOutcome,
  type CallEffect,
  CallExecutor,
  type CallRequest,
  type CallRouter,
  type RoutingFailure,
} from "@safla/core/routing";
import { classifyFailure } from "./failover.ts";

/** How a forwarded call ended without a result. */
export class ForwardFailure extends Error {
  /** The router's reason. */
  readonly failure: RoutingFailure;
  /** The error of the last attempt that failed, if one did. */
  readonly lastError: unknown;
  /** The replica of that attempt. */
  readonly lastReplicaId: string | undefined;

  /** Wraps the router's reason with what the last failed attempt ran into. */
  constructor(failure: RoutingFailure, lastError: unknown, lastReplicaId: string | undefined) {
    super(failure.message);
    this.name = "ForwardFailure";
    this.failure = failure;
    this.lastError = lastError;
    this.lastReplicaId = lastReplicaId;
  }
}

/** What {@link forwardCall} needs besides the router. */
export interface ForwardOptions {
  /** The request to route (tool, annotations, affinity key). */
  readonly request: CallRequest;
  /** Whether the call may be hedged (see `CallExecutorOptions.hedging`). */
  readonly hedging: boolean;
  /** The client's cancellation signal. */
  readonly signal: AbortSignal | undefined;
  /** The gateway's clock. */
  readonly nowMs: () => number;
  /**
   * Sends one attempt. `signal` is the client's own when the attempt is only ever
   * cancelled with the whole call, else one that also ends when the attempt lost.
   */
  readonly send: (
    attempt: Attempt,
    signal: AbortSignal | undefined,
  ) => Promise<Record<string, unknown>>;
}

/** The answer of one attempt, carried to the executor's reply effect. */
type Answer = { ok: true; value: Record<string, unknown> } | { ok: false; error: unknown };

/**
 * Runs one call to its end. Resolves with the result of the attempt that answered;
 * rejects with the backend's own error (a JSON-RPC error, the client's cancellation)
 * or with a {@link ForwardFailure} when the router gave up.
 */
export function forwardCall(router: CallRouter, options: ForwardOptions): Promise<
  Record<string, unknown>
> {
  const { nowMs, signal, send } = options;
  return new Promise((resolve, reject) => {
    const executor = new CallExecutor(router, options.request, nowMs(), {
      hedging: options.hedging,
    });
    /** Only attempts that may be cancelled alone have one. */
    const controllers = new Map<Attempt, AbortController>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let lastError: unknown;

    const apply = (effects: readonly CallEffect[], ended?: Attempt, answer?: Answer): void => {
      for (const effect of effects) {
        switch (effect.kind) {
          case "start":
            launch(effect.attempt, effect.cancelAlone);
            break;
          case "cancel": {
            const controller = controllers.get(effect.attempt);
            if (controller !== undefined) {
              controller.abort(new Error("another attempt of this call answered first"));
            } else if (signal?.aborted !== true) {
              throw new Error("forwarding invariant: a lone attempt was cancelled alone");
            }
            break;
          }
          case "set-timer":
            clearTimeout(timer);
            timer = setTimeout(onTimer, Math.max(0, effect.atMs - nowMs()));
            break;
          case "clear-timer":
            clearTimeout(timer);
            timer = undefined;
            break;
          case "reply":
            if (effect.attempt !== ended || answer === undefined) {
              throw new Error("forwarding invariant: a reply names an attempt not reported");
            }
            if (answer.ok) resolve(answer.value);
            else reject(answer.error);
            break;
          case "fail":
            reject(new ForwardFailure(effect.error, lastError, effect.lastAttempt?.replicaId));
            break;
        }
      }
    };

    const guarded = (run: () => void): void => {
      try {
        run();
      } catch (error) {
        clearTimeout(timer);
        reject(error);
      }
    };

    const onTimer = (): void => {
      timer = undefined;
      guarded(() =>
        apply(signal?.aborted ? executor.clientCancelled() : executor.timerFired(nowMs()))
      );
    };

    const launch = (attempt: Attempt, cancelAlone: boolean): void => {
      let attemptSignal = signal;
      let unlink: (() => void) | undefined;
      if (cancelAlone) {
        const controller = new AbortController();
        unlink = follow(controller, signal);
        controllers.set(attempt, controller);
        attemptSignal = controller.signal;
      }
      const ended = (outcome: AttemptOutcome, answer: Answer): void => {
        unlink?.();
        controllers.delete(attempt);
        guarded(() => apply(executor.attemptEnded(attempt, outcome, nowMs()), attempt, answer));
      };
      send(attempt, attemptSignal).then(
        (value) => ended("ok", { ok: true, value }),
        (error) => {
          const failure = classifyFailure(error, attemptSignal);
          if (failure !== "remote" && failure !== "cancelled") lastError = error;
          ended(failure === "remote" ? "remote-error" : failure, { ok: false, error });
        },
      );
    };

    guarded(() => apply(executor.start(nowMs())));
  });
}

/**
 * Aborts `child` when `parent` aborts, until the returned function unlinks
 * them (a listener left on a long-lived client signal would pin every attempt).
 */
function follow(child: AbortController, parent: AbortSignal | undefined): () => void {
  if (parent === undefined) return () => {};
  if (parent.aborted) {
    child.abort(parent.reason);
    return () => {};
  }
  const onAbort = () => child.abort(parent.reason);
  parent.addEventListener("abort", onAbort, { once: true });
  return () => parent.removeEventListener("abort", onAbort);
}
