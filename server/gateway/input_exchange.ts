/**
 * Bridges the two ways MCP asks a client for input mid-call.
 *
 * A 2025-era backend pushes `sampling/createMessage`, `elicitation/create` or
 * `roots/list` as server→client requests while its call is open. A
 * 2026-07-28 client cannot receive pushed requests: it expects the call to
 * end with an `input_required` result and to retry it with the answers. An
 * exchange keeps the backend call open across those client rounds: it parks
 * each pushed request as an input request, and delivers the client's answers
 * back to the waiting backend when the retry arrives.
 *
 * @module
 */

/** A backend question waiting for the client. */
export interface PendingInput {
  key: string;
  request: { method: string; params?: Record<string, unknown> };
}

/** What an exchange is waiting on next. */
export type ExchangeStep =
  | { kind: "result"; result: Record<string, unknown> }
  | { kind: "error"; error: unknown }
  | { kind: "input"; inputs: PendingInput[] };

/** Most questions one exchange may hold unanswered, against a runaway backend. */
const MAX_PENDING_INPUTS = 16;

/** One backend call that is asking its client for input. */
export class InputExchange {
  readonly id: string;
  readonly replicaId: string;
  /** The `principalKey` of the caller whose call this is; only it may resume it. */
  readonly owner: string;
  /** Cancels the backend call (client cancelled, or the exchange expired). */
  readonly abort = new AbortController();
  #unsent: PendingInput[] = [];
  #answers = new Map<string, {
    resolve: (value: Record<string, unknown>) => void;
    reject: (error: Error) => void;
  }>();
  #wake?: () => void;
  #outcome?: ExchangeStep;
  #nextKey = 0;
  #notify: (n: { method: string; params?: Record<string, unknown> }) => Promise<void>;

  /** `notify` reaches the client request currently attached to the exchange. */
  constructor(
    id: string,
    replicaId: string,
    notify: (n: { method: string; params?: Record<string, unknown> }) => Promise<void>,
    owner: string,
  ) {
    this.id = id;
    this.replicaId = replicaId;
    this.owner = owner;
    this.#notify = notify;
  }

  /** Sends a notification to the client request now attached. */
  notify(n: { method: string; params?: Record<string, unknown> }): Promise<void> {
    return this.#notify(n);
  }

  /** Attaches the client's retry, so progress goes to it. */
  attach(notify: (n: { method: string; params?: Record<string, unknown> }) => Promise<void>): void {
    this.#notify = notify;
  }

  /** Follows the backend call; call once with the promise of the call. */
  track(call: Promise<Record<string, unknown>>): void {
    call.then(
      (result) => this.#settle({ kind: "result", result }),
      (error) => this.#settle({ kind: "error", error }),
    );
  }

  #settle(step: ExchangeStep): void {
    this.#outcome = step;
    for (const { reject } of this.#answers.values()) {
      reject(new Error("the call finished before the client answered"));
    }
    this.#answers.clear();
    this.#wake?.();
  }

  /** Called for a request the backend pushes; resolves with the client's answer. */
  ask(request: PendingInput["request"]): Promise<Record<string, unknown>> {
    if (this.#answers.size >= MAX_PENDING_INPUTS) {
      return Promise.reject(new Error(`more than ${MAX_PENDING_INPUTS} unanswered input requests`));
    }
    const key = `input-${this.#nextKey++}`;
    const { promise, resolve, reject } = Promise.withResolvers<Record<string, unknown>>();
    this.#answers.set(key, { resolve, reject });
    this.#unsent.push({ key, request });
    this.#wake?.();
    return promise;
  }

  /** Delivers the client's answers; a missing answer fails that backend request. */
  answer(responses: Record<string, unknown> | undefined): void {
    for (const [key, pending] of this.#answers) {
      const response = responses?.[key];
      if (typeof response === "object" && response !== null) {
        pending.resolve(response as Record<string, unknown>);
      } else {
        pending.reject(new Error(`the client sent no answer for ${key}`));
      }
    }
    this.#answers.clear();
  }

  /** Waits until the call ends or asks for input, whichever comes first. */
  async next(signal?: AbortSignal): Promise<ExchangeStep> {
    while (true) {
      if (this.#unsent.length > 0) {
        const inputs = this.#unsent;
        this.#unsent = [];
        return { kind: "input", inputs };
      }
      if (this.#outcome !== undefined) return this.#outcome;
      if (signal?.aborted) {
        this.abort.abort(signal.reason);
        throw signal.reason;
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#wake = resolve;
      const onAbort = (): void => resolve();
      signal?.addEventListener("abort", onAbort, { once: true });
      await promise;
      signal?.removeEventListener("abort", onAbort);
      this.#wake = undefined;
    }
  }
}
