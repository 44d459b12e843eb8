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

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(error: unknown): void;
  /** When the request times out (`performance.now()` clock), unless progress moves it. */
  deadlineMs: number;
  expire(): void;
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
    const { signal, timeoutMs } = options;
    const id = `${DIRECT_ID_PREFIX}${this.#nextId++}`;
    let onAbort: (() => void) | undefined;
    let pending!: Pending;
    const result = new Promise<Record<string, unknown>>((resolve, reject) => {
      const settle = (): void => {
        if (onAbort !== undefined) signal?.removeEventListener("abort", onAbort);
        this.#pending.delete(id);
      };
      const giveUp = (error: unknown, reason: string): void => {
        if (!this.#pending.has(id)) return;
        settle();
        this.#notifyCancelled(id, reason);
        reject(error);
      };
      pending = {
        resolve: (value) => {
          settle();
          resolve(value);
        },
        reject: (error) => {
          settle();
          reject(error);
        },
        deadlineMs: performance.now() + timeoutMs,
        expire: () => {
          const error = options.timeoutError();
          giveUp(error, error.message);
        },
      };
      this.#pending.set(id, pending);
      if (signal !== undefined) {
        if (signal.aborted) {
          giveUp(signal.reason, String(signal.reason));
          return;
        }
        onAbort = () => giveUp(signal.reason, String(signal.reason));
        signal.addEventListener("abort", onAbort, { once: true });
      }
      this.#tick ??= setTimeout(() => this.#expire(), TIMEOUT_TICK_MS);
      const message = params === undefined
        ? { jsonrpc: "2.0" as const, id, method }
        : { jsonrpc: "2.0" as const, id, method, params };
      this.#send(message).catch((error) => this.#pending.get(id)?.reject(error));
    });
    return {
      result,
      restartTimeout: () => {
        pending.deadlineMs = performance.now() + timeoutMs;
      },
    };
  }

  /** Times out the requests past their deadline; ticks while any request is pending. */
  #expire(): void {
    this.#tick = undefined;
    const nowMs = performance.now();
    for (const pending of [...this.#pending.values()]) {
      if (pending.deadlineMs <= nowMs) pending.expire();
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
    this.#pending.clear();
    for (const p of pending) p.reject(connectionClosed());
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
