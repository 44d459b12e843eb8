/**
 * Requests written straight to a 2025-era backend connection and answered by
 * id, without the SDK client's request machinery.
 *
 * The gateway forwards requests it does not interpret: the SDK client's
 * per-request work (codec lookups, result schema probe and parse, timeout
 * bookkeeping, a promise chain per response) is pure overhead on that path.
 * The wire contract stays the SDK's: a JSON-RPC request with an id of ours
 * (strings, so they never meet the SDK's numeric ids on the same
 * connection), `notifications/cancelled` when the caller gives up or the
 * timeout fires, a JSON-RPC error turned into a `ProtocolError` with code,
 * message and data, and every request still pending failed with the SDK's
 * "connection closed" error when the connection drops.
 *
 * @module
 */
import { ProtocolError, SdkError, SdkErrorCode } from "@modelcontextprotocol/client";
import type { JSONRPCMessage } from "@modelcontextprotocol/server";

/** Prefix of the ids of direct requests. */
export const DIRECT_ID_PREFIX = "safla-d";
/** Most direct requests pending on one connection; the backend refuses more before sending. */
export const MAX_PENDING_DIRECT = 100_000;

/** Options of one direct request. */
export interface DirectRequestOptions {
  /** The caller gave up: the backend is told and the request rejects with the signal's reason. */
  signal?: AbortSignal;
  timeoutMs: number;
  /** The error a timeout rejects with (it names the backend and the method). */
  timeoutError(): Error;
}

/** One request in flight. */
export interface DirectRequest {
  /** The backend's result, or its error as a `ProtocolError`. */
  result: Promise<Record<string, unknown>>;
  /** Restarts the timeout (progress was reported). */
  restartTimeout(): void;
}

/** One request in flight: what it waits for and how it ends. */
class Pending implements DirectRequest {
  readonly result: Promise<Record<string, unknown>>;
  readonly resolve: (result: Record<string, unknown>) => void;
  readonly reject: (error: unknown) => void;
  /** When the request times out (`performance.now()` clock), unless progress moves it. */
  deadlineMs: number;
  /** Listens on the caller's signal while the request is pending. */
  onAbort?: () => void;

  constructor(
    readonly id: string,
    readonly options: DirectRequestOptions,
  ) {
    const { promise, resolve, reject } = Promise.withResolvers<Record<string, unknown>>();
    this.result = promise;
    this.resolve = resolve;
    this.reject = reject;
    this.deadlineMs = performance.now() + options.timeoutMs;
  }

  restartTimeout(): void {
    this.deadlineMs = performance.now() + this.options.timeoutMs;
  }
}

/**
 * How often pending requests are checked against their deadlines: a timeout
 * fires up to this much late. One ticking timer per connection instead of a
 * timer per request, which cost more than the rest of a request's bookkeeping.
 */
export const TIMEOUT_TICK_MS = 25;

/** The direct requests of one connection. */
export class DirectRequests {
  #pending = new Map<string, Pending>();
  #nextId = 0;
  #closed = false;
  #send: (message: JSONRPCMessage) => Promise<void>;
  #tick?: ReturnType<typeof setTimeout>;

  /** `send` writes one message to the connection. */
  constructor(send: (message: JSONRPCMessage) => Promise<void>) {
    this.#send = send;
  }

  /** Requests still waiting for their answer. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Writes one request and waits for its answer. */
  request(
    method: string,
    params: Record<string, unknown> | undefined,
    options: DirectRequestOptions,
  ): DirectRequest {
    if (this.#closed) {
      return { result: Promise.reject(connectionClosed()), restartTimeout: () => {} };
    }
    const id = `${DIRECT_ID_PREFIX}${this.#nextId++}`;
    const pending = new Pending(id, options);
    this.#pending.set(id, pending);
    const signal = options.signal;
    if (signal !== undefined) {
      if (signal.aborted) {
        this.#giveUp(pending, signal.reason, String(signal.reason));
        return pending;
      }
      pending.onAbort = () => this.#giveUp(pending, signal.reason, String(signal.reason));
      signal.addEventListener("abort", pending.onAbort, { once: true });
    }
    this.#tick ??= setTimeout(() => this.#expire(), TIMEOUT_TICK_MS);
    const message = params === undefined
      ? { jsonrpc: "2.0" as const, id, method }
      : { jsonrpc: "2.0" as const, id, method, params };
    this.#send(message).catch((error) => {
      if (this.#settle(pending)) pending.reject(error);
    });
    return pending;
  }

  /** Takes `pending` out of the table; false when it had already ended. */
  #settle(pending: Pending): boolean {
    if (this.#pending.get(pending.id) !== pending) return false;
    this.#pending.delete(pending.id);
    if (pending.onAbort !== undefined) {
      pending.options.signal?.removeEventListener("abort", pending.onAbort);
    }
    return true;
  }

  /** Ends `pending` on our side: the backend is told, the caller gets `error`. */
  #giveUp(pending: Pending, error: unknown, reason: string): void {
    if (!this.#settle(pending)) return;
    this.#notifyCancelled(pending.id, reason);
    pending.reject(error);
  }

  /** Times out the requests past their deadline; ticks while any request is pending. */
  #expire(): void {
    this.#tick = undefined;
    const nowMs = performance.now();
    for (const pending of [...this.#pending.values()]) {
      if (pending.deadlineMs > nowMs) continue;
      const error = pending.options.timeoutError();
      this.#giveUp(pending, error, error.message);
    }
    if (this.#pending.size > 0 && !this.#closed) {
      this.#tick = setTimeout(() => this.#expire(), TIMEOUT_TICK_MS);
    }
  }

  /**
   * Takes `message` if it answers one of our requests; false leaves it to
   * the SDK client.
   */
  deliver(message: JSONRPCMessage): boolean {
    const m = message as { id?: unknown; method?: unknown; result?: unknown; error?: unknown };
    if (m.method !== undefined || typeof m.id !== "string") return false;
    const pending = this.#pending.get(m.id);
    if (pending === undefined) return false;
    this.#settle(pending);
    if (m.error !== undefined) {
      const e = m.error as { code?: unknown; message?: unknown; data?: unknown };
      pending.reject(
        ProtocolError.fromError(
          typeof e.code === "number" ? e.code : -32603,
          typeof e.message === "string" ? e.message : "Internal error",
          e.data,
        ),
      );
      return true;
    }
    const result = m.result;
    if (typeof result !== "object" || result === null || Array.isArray(result)) {
      pending.reject(
        new SdkError(SdkErrorCode.InvalidResult, "Invalid result: a result must be a JSON object"),
      );
      return true;
    }
    // The 2025 codec drops a stray 2026 result discriminator; so do we.
    if ("resultType" in result) {
      const { resultType: _, ...rest } = result as Record<string, unknown>;
      pending.resolve(rest);
    } else {
      pending.resolve(result as Record<string, unknown>);
    }
    return true;
  }

  /** Fails every pending request: the connection is gone. No request is accepted afterwards. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#tick);
    this.#tick = undefined;
    const pending = [...this.#pending.values()];
    for (const p of pending) {
      this.#settle(p);
      p.reject(connectionClosed());
    }
  }

  #notifyCancelled(id: string, reason: string): void {
    if (this.#closed) return;
    this.#send({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: id, reason },
    }).catch(() => {});
  }
}

function connectionClosed(): SdkError {
  return new SdkError(SdkErrorCode.ConnectionClosed, "Connection closed");
}
