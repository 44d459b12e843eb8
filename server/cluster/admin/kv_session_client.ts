/**
 * A client of a node's KV session (`GET /admin/kv-session`, see
 * `kv_session.ts`): one WebSocket that carries every concurrent call of a
 * process. Calls made in the same turn of the event loop travel in one frame.
 *
 * Each call is sent once and never resent: if the session closes before a
 * write is answered, the call fails with {@link KvSessionClosedError} and
 * `outcomeUnknown: true` (read the key before retrying it).
 *
 * @module
 */
import { clearImmediate, setImmediate } from "node:timers";
import type { KeyValue } from "@safla/core/state";
import type { RangeReply, ReadConsistency, WriteReply } from "../../store/types.ts";
import { MAX_REQUESTS_PER_FRAME } from "./kv_session.ts";

/** The node answered a call with an error status (the body is the REST API's). */
export class KvSessionRequestError extends Error {
  /** Carries the status and the node's JSON body. */
  constructor(readonly status: number, readonly body: Record<string, unknown>) {
    super(`HTTP ${status}: ${typeof body.error === "string" ? body.error : JSON.stringify(body)}`);
    this.name = "KvSessionRequestError";
  }

  /** Whether a write may have applied (the node answered 504). */
  get outcomeUnknown(): boolean {
    return this.status === 504;
  }
}

/** The session closed before the call was answered. */
export class KvSessionClosedError extends Error {
  /** Says whether the call was a write, whose outcome is then unknown. */
  constructor(readonly outcomeUnknown: boolean, reason: string) {
    super(
      `the KV session closed before the reply (${reason})` +
        (outcomeUnknown ? "; the write may or may not have been applied" : ""),
    );
    this.name = "KvSessionClosedError";
  }
}

interface Call {
  resolve: (body: Record<string, unknown>) => void;
  reject: (error: Error) => void;
  write: boolean;
  /** Whether the request left this process (before, the node cannot have run it). */
  sent: boolean;
}

interface Reply {
  id: number;
  status: number;
  body: Record<string, unknown>;
}

/**
 * One KV session with one node.
 *
 * @example
 * ```ts ignore
 * const session = await KvSessionClient.connect("http://127.0.0.1:8080");
 * const { revision } = await session.put("services/a", "up");
 * const kv = await session.get("services/a");
 * session.close();
 * ```
 */
export class KvSessionClient {
  readonly #socket: WebSocket;
  readonly #calls = new Map<number, Call>();
  #nextId = 0;
  #outbox: Record<string, unknown>[] = [];
  #flushTask: ReturnType<typeof setImmediate> | undefined;
  #closedReason: string | undefined;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => this.#onMessage(event.data);
    socket.onclose = (event) => this.#onClose(`code ${event.code} ${event.reason}`.trim());
  }

  /**
   * Opens a session with the node whose HTTP API is at `baseUrl`, as the
   * holder of `adminToken` (the admin API's credential).
   */
  static connect(baseUrl: string, adminToken: string): Promise<KvSessionClient> {
    const url = new URL("/admin/kv-session", baseUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${adminToken}` } });
    const { promise, resolve, reject } = Promise.withResolvers<KvSessionClient>();
    socket.onopen = () => resolve(new KvSessionClient(socket));
    socket.onerror = (event) => {
      const detail = event instanceof ErrorEvent ? event.message : "connection failed";
      reject(new Error(`cannot open a KV session at ${url}: ${detail}`));
    };
    return promise;
  }

  /** Calls waiting for a reply. */
  get outstanding(): number {
    return this.#calls.size;
  }

  /** Writes one key; resolves once committed. */
  async put(key: string, value: string, options: { leaseId?: number } = {}): Promise<WriteReply> {
    const request: Record<string, unknown> = { op: "put", key, value };
    if (options.leaseId !== undefined) request.leaseId = options.leaseId;
    return await this.#call(request, true) as unknown as WriteReply;
  }

  /** Reads one key; undefined when it does not exist. */
  async get(
    key: string,
    consistency: ReadConsistency = "linearizable",
  ): Promise<KeyValue | undefined> {
    try {
      const body = await this.#call({ op: "get", key, consistency }, false);
      return body.kv as KeyValue;
    } catch (error) {
      if (error instanceof KvSessionRequestError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Deletes one key, or every key under a prefix; the records only with `prevKv` (bounded). */
  async delete(
    key: string,
    options: { prefix?: boolean; prevKv?: boolean } = {},
  ): Promise<{ revision: number; deleted: number; prev?: KeyValue[]; prevTruncated?: boolean }> {
    const request: Record<string, unknown> = { op: "delete", key, prefix: options.prefix ?? false };
    if (options.prevKv) request.prevKv = true;
    const body = await this.#call(request, true);
    return body as unknown as { revision: number; deleted: number; prev?: KeyValue[] };
  }

  /** One page of the keys with a prefix, in order; `next` (when `more`) is the next page's `after`. */
  async range(
    prefix: string,
    options: { limit?: number; after?: string; consistency?: ReadConsistency } = {},
  ): Promise<RangeReply & { next?: string }> {
    const request: Record<string, unknown> = { op: "range", prefix };
    if (options.limit !== undefined) request.limit = options.limit;
    if (options.after !== undefined) request.after = options.after;
    if (options.consistency !== undefined) request.consistency = options.consistency;
    return await this.#call(request, false) as unknown as RangeReply & { next?: string };
  }

  /** Closes the session; calls still waiting fail with {@link KvSessionClosedError}. */
  close(): void {
    this.#socket.close(1000, "client closed the session");
    this.#onClose("closed by the client");
  }

  #call(request: Record<string, unknown>, write: boolean): Promise<Record<string, unknown>> {
    if (this.#closedReason !== undefined) {
      return Promise.reject(new KvSessionClosedError(false, this.#closedReason));
    }
    const id = this.#nextId++;
    request.id = id;
    const { promise, resolve, reject } = Promise.withResolvers<Record<string, unknown>>();
    this.#calls.set(id, { resolve, reject, write, sent: false });
    this.#outbox.push(request);
    if (this.#outbox.length >= MAX_REQUESTS_PER_FRAME) this.#flush();
    // Calls made in the same turn of the event loop share one frame.
    else this.#flushTask ??= setImmediate(() => this.#flush());
    return promise;
  }

  #flush(): void {
    if (this.#flushTask) clearImmediate(this.#flushTask);
    this.#flushTask = undefined;
    if (this.#outbox.length === 0 || this.#closedReason !== undefined) return;
    const frame = this.#outbox;
    this.#outbox = [];
    for (const request of frame) this.#calls.get(request.id as number)!.sent = true;
    this.#socket.send(JSON.stringify(frame));
  }

  #onMessage(data: unknown): void {
    if (typeof data !== "string") return this.#protocolError("the node sent a binary frame");
    let replies: Reply[];
    try {
      replies = JSON.parse(data);
    } catch {
      return this.#protocolError("the node sent a frame that is not JSON");
    }
    if (!Array.isArray(replies)) {
      return this.#protocolError("the node sent a frame that is not an array");
    }
    for (const reply of replies) {
      const call = this.#calls.get(reply.id);
      if (!call) continue;
      this.#calls.delete(reply.id);
      if (reply.status === 200) call.resolve(reply.body);
      else call.reject(new KvSessionRequestError(reply.status, reply.body ?? {}));
    }
  }

  #protocolError(reason: string): void {
    this.#socket.close(1002, reason);
    this.#onClose(reason);
  }

  #onClose(reason: string): void {
    if (this.#closedReason !== undefined) return;
    this.#closedReason = reason;
    if (this.#flushTask) clearImmediate(this.#flushTask);
    this.#outbox = [];
    for (const call of this.#calls.values()) {
      call.reject(new KvSessionClosedError(call.write && call.sent, reason));
    }
    this.#calls.clear();
  }
}
