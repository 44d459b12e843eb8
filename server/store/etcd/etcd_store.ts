/**
 * The {@link StateStore} on a real etcd v3 cluster, for users who outgrow the
 * embedded Raft store (`--store etcd://host:port,...`). It talks gRPC through
 * `npm:etcd3`, but only through its raw RPC clients: revisions, watch resume
 * and retries are handled here, because the library's watch manager resumes
 * from the response header revision, which can skip events after a
 * reconnect while etcd is still replaying history.
 *
 * Requests are validated with the same rules as the embedded store
 * (`validateCommand`, `compileWatchFilter`), so both engines refuse the same
 * bad input with the same typed errors.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  type Compare,
  compileWatchFilter,
  DEFAULT_COMMAND_LIMITS,
  type KeyValue,
  NO_LEASE,
  type TxnOp,
  validateCommand,
  type WatchEvent,
} from "@safla/core/state";
import { type IRequestOp, isRecoverableError } from "etcd3";
import { Etcd3 } from "etcd3";
import type {
  DeleteReply,
  RangeReply,
  ReadConsistency,
  StateStore,
  TxnReply,
  WatchEnd,
  WatchHandle,
  WatchSelector,
  WriteReply,
} from "../types.ts";
import {
  describe,
  EtcdStoreError,
  prefixRange,
  toEtcdCompare,
  toEtcdOp,
  toKeyValue,
  toSafeInteger,
  utf8,
} from "./etcd_wire.ts";
import { EtcdWatch, watchRange } from "./etcd_watch.ts";

export { EtcdStoreError, type EtcdStoreErrorCode } from "./etcd_wire.ts";

/** Configuration of an {@link EtcdStore}. */
export interface EtcdStoreOptions {
  /** Client endpoints as `host:port` (at least one). */
  endpoints: string[];
  /** Deadline of each unary request, in milliseconds (default 5 000). */
  requestTimeoutMs?: number;
  /** Attempts for reads on a recoverable error, each on another member (default 3). */
  readAttempts?: number;
  /** Consecutive failed reconnects after which a watch ends (default 40, about a minute). */
  watchReconnectLimit?: number;
}

const LEASE_GRANT_ATTEMPTS = 5;

function randomLeaseId(): number {
  const words = new Uint32Array(2);
  crypto.getRandomValues(words);
  return (words[0] & 0x1fffff) * 2 ** 32 + words[1] + 1;
}

/**
 * The state store on an etcd v3 cluster.
 *
 * Leases: etcd counts TTLs in whole seconds and enforces a minimum (1.5 ×
 * election timeout, rounded up), so `ttlMs` is rounded up to seconds and may
 * be raised further by etcd. Lease ids are chosen here, below 2^53.
 *
 * @example
 * ```ts
 * import { EtcdStore } from "./etcd_store.ts";
 * const store = new EtcdStore({ endpoints: ["127.0.0.1:2379"] });
 * try {
 *   const { revision } = await store.put("services/a", "{}");
 *   console.log((await store.get("services/a"))?.modRevision === revision);
 * } finally {
 *   await store.close();
 * }
 * ```
 */
export class EtcdStore implements StateStore {
  /** Which engine this is. */
  readonly engine = "etcd" as const;
  readonly #client: Etcd3;
  readonly #readAttempts: number;
  readonly #requestTimeoutMs: number;
  readonly #watchReconnectLimit: number;
  readonly #watches = new Set<EtcdWatch>();
  #closed = false;

  /** Connects lazily to `options.endpoints`. */
  constructor(options: EtcdStoreOptions) {
    if (!Array.isArray(options.endpoints) || options.endpoints.length === 0) {
      throw new RangeError("EtcdStore needs at least one endpoint (host:port)");
    }
    const requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    this.#readAttempts = options.readAttempts ?? 3;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#watchReconnectLimit = options.watchReconnectLimit ?? 40;
    if (!(requestTimeoutMs > 0) || !(this.#readAttempts >= 1)) {
      throw new RangeError("requestTimeoutMs and readAttempts must be positive");
    }
    this.#client = new Etcd3({
      hosts: options.endpoints.map((endpoint) => `http://${endpoint}`),
      dialTimeout: requestTimeoutMs,
      defaultCallOptions: (context) =>
        context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs },
      // No blind retries: a retried put or txn could apply twice or report a
      // CAS as failed that in fact succeeded. Reads are retried in #read.
      faultHandling: { global: { execute: (fn: () => unknown) => fn() } as never },
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new EtcdStoreError("rejected", "the etcd store is closed");
  }

  async #read<T>(what: string, call: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    let lastError: unknown;
    for (let attempt = 0; attempt < this.#readAttempts; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!(error instanceof Error) || !isRecoverableError(error)) throw this.#mapError(error);
        lastError = error;
      }
    }
    throw new EtcdStoreError(
      "unavailable",
      `${what}: no etcd member answered after ${this.#readAttempts} attempts: ${
        describe(lastError)
      }`,
      { cause: lastError },
    );
  }

  async #write<T>(what: string, call: () => Promise<T>): Promise<T> {
    this.#assertOpen();
    try {
      return await call();
    } catch (error) {
      if (error instanceof Error && isRecoverableError(error)) {
        throw new EtcdStoreError(
          "outcomeUnknown",
          `${what}: the etcd request failed and may or may not have been applied: ${
            describe(error)
          }`,
          { cause: error },
        );
      }
      throw this.#mapError(error);
    }
  }

  #mapError(error: unknown): Error {
    if (error instanceof EtcdStoreError) return error;
    const message = describe(error);
    if (error instanceof Error && "isBrokenCircuitError" in error) {
      return new EtcdStoreError(
        "unavailable",
        `every etcd member failed recently; request not sent: ${message}`,
        { cause: error },
      );
    }
    if (message.includes("requested lease not found")) {
      return new EtcdStoreError("leaseNotFound", "the lease does not exist (or expired)", {
        cause: error,
      });
    }
    return new EtcdStoreError("rejected", `etcd refused the request: ${message}`, {
      cause: error,
    });
  }

  /** The store revision, from a point read of one key (a range would make etcd count keys). */
  async #currentRevision(): Promise<number> {
    const reply = await this.#read(
      "watch",
      () => this.#client.kv.range({ key: Buffer.from([0]), keys_only: true }),
    );
    return toSafeInteger(reply.header.revision, "revision");
  }

  /** One key. */
  async get(
    key: string,
    consistency: ReadConsistency = "linearizable",
  ): Promise<KeyValue | undefined> {
    validateCommand({ op: "get", key });
    const reply = await this.#read(
      "get",
      () =>
        this.#client.kv.range({
          key: utf8(key),
          serializable: consistency === "serializable",
        }),
    );
    return reply.kvs.length === 0 ? undefined : toKeyValue(reply.kvs[0]);
  }

  /**
   * Keys with a prefix, in (byte) order; at most `limit` (default 10 000);
   * with `after`, only keys after it.
   */
  async range(
    prefix: string,
    options: { limit?: number; consistency?: ReadConsistency; after?: string } = {},
  ): Promise<RangeReply> {
    const limit = options.limit ?? DEFAULT_COMMAND_LIMITS.maxRangeLimit;
    const after = options.after;
    validateCommand(
      after === undefined ? { op: "range", prefix, limit } : { op: "range", prefix, limit, after },
    );
    const range = prefixRange(prefix);
    if (after !== undefined) {
      // The smallest key greater than `after` is `after` followed by a zero byte.
      const next = Buffer.concat([utf8(after), Buffer.from([0])]);
      if (Buffer.compare(next, range.key) > 0) range.key = next;
    }
    const reply = await this.#read(
      "range",
      () =>
        this.#client.kv.range({
          ...range,
          limit,
          serializable: options.consistency === "serializable",
        }),
    );
    return {
      kvs: reply.kvs.map(toKeyValue),
      revision: toSafeInteger(reply.header.revision, "revision"),
      more: reply.more,
    };
  }

  /** Writes one key, optionally attached to a lease. */
  async put(key: string, value: string, options: { leaseId?: number } = {}): Promise<WriteReply> {
    const leaseId = options.leaseId ?? NO_LEASE;
    validateCommand({ op: "put", key, value, leaseId });
    const reply = await this.#write(
      "put",
      () =>
        this.#client.kv.put({ key: utf8(key), value: utf8(value), lease: leaseId, prev_kv: true }),
    );
    return {
      revision: toSafeInteger(reply.header.revision, "revision"),
      prev: reply.prev_kv ? [toKeyValue(reply.prev_kv)] : [],
    };
  }

  /** Deletes one key, or every key under a prefix; the deleted records unless `prevKv` is false. */
  async delete(
    key: string,
    options: { prefix?: boolean; prevKv?: boolean } = {},
  ): Promise<DeleteReply> {
    const prefix = options.prefix ?? false;
    const prevKv = options.prevKv ?? true;
    validateCommand({ op: "delete", key, prefix });
    const reply = await this.#write(
      "delete",
      () =>
        this.#client.kv.deleteRange(
          prefix ? { ...prefixRange(key), prev_kv: prevKv } : { key: utf8(key), prev_kv: prevKv },
        ),
    );
    return {
      revision: toSafeInteger(reply.header.revision, "revision"),
      deleted: toSafeInteger(reply.deleted, "deleted"),
      prev: reply.prev_kvs.map(toKeyValue),
    };
  }

  /** Atomic compare-then-act, in one etcd transaction. */
  async txn(compare: Compare[], success: TxnOp[], failure: TxnOp[]): Promise<TxnReply> {
    const command = validateCommand({ op: "txn", compare, success, failure });
    if (command.op !== "txn") throw new Error("validateCommand changed the op of a txn");
    // etcd treats a transaction without operations as serializable and answers
    // it from the member's local state, which may lag: a comparison-only CAS
    // could see a stale value. A linearizable read of one key in each branch
    // sends it through ReadIndex; its answer is dropped below.
    const padding: IRequestOp[] = command.success.length === 0 && command.failure.length === 0
      ? [{ request_range: { key: Buffer.from([0]), keys_only: true } }]
      : [];
    const reply = await this.#write("txn", () =>
      this.#client.kv.txn({
        compare: command.compare.map(toEtcdCompare),
        success: [...command.success.map(toEtcdOp), ...padding],
        failure: [...command.failure.map(toEtcdOp), ...padding],
      }));
    const branch = reply.succeeded ? command.success : command.failure;
    if (reply.responses.length !== branch.length + padding.length) {
      throw new EtcdStoreError(
        "rejected",
        `etcd answered ${reply.responses.length} operations for a branch of ${branch.length}`,
      );
    }
    const reads: (KeyValue | undefined)[] = [];
    branch.forEach((op, i) => {
      if (op.op !== "get") return;
      const kvs = reply.responses[i].response_range?.kvs ?? [];
      reads.push(kvs.length === 0 ? undefined : toKeyValue(kvs[0]));
    });
    return {
      succeeded: reply.succeeded,
      revision: toSafeInteger(reply.header.revision, "revision"),
      reads,
    };
  }

  /** Creates a lease of at least `ttlMs` (rounded up to whole seconds); returns its id. */
  async leaseGrant(ttlMs: number): Promise<number> {
    validateCommand({ op: "leaseGrant", leaseId: 1, ttlMs, nowMs: 0 });
    const ttlSeconds = Math.ceil(ttlMs / 1_000);
    for (let attempt = 0; attempt < LEASE_GRANT_ATTEMPTS; attempt++) {
      const leaseId = randomLeaseId();
      try {
        await this.#write(
          "leaseGrant",
          () => this.#client.leaseClient.leaseGrant({ ID: leaseId, TTL: ttlSeconds }),
        );
        return leaseId;
      } catch (error) {
        if (!describe(error).includes("lease already exists")) throw error;
      }
    }
    throw new EtcdStoreError(
      "rejected",
      `leaseGrant: ${LEASE_GRANT_ATTEMPTS} random lease ids were all taken`,
    );
  }

  /** Renews a lease; false if it no longer exists. */
  async leaseKeepAlive(leaseId: number): Promise<boolean> {
    validateCommand({ op: "leaseKeepAlive", leaseId, nowMs: 0 });
    const ttlSeconds = await this.#read("leaseKeepAlive", async () => {
      // A stream has no default deadline (see the constructor); this one-shot use needs one.
      const stream = await this.#client.leaseClient.leaseKeepAlive({
        deadline: Date.now() + this.#requestTimeoutMs,
      });
      try {
        // Settling twice is harmless: only the first reply, error or end counts.
        return await new Promise<number>((resolve, reject) => {
          stream.on("data", (reply) => resolve(Number(reply.TTL)));
          stream.on("error", reject);
          stream.on("end", () => reject(new Error("keep-alive stream ended without a reply")));
          stream.write({ ID: leaseId });
        });
      } finally {
        stream.cancel();
      }
    });
    return ttlSeconds > 0;
  }

  /** Revokes a lease and deletes its keys. */
  async leaseRevoke(leaseId: number): Promise<void> {
    validateCommand({ op: "leaseRevoke", leaseId });
    await this.#write(
      "leaseRevoke",
      () => this.#client.leaseClient.leaseRevoke({ ID: leaseId }),
    );
  }

  /**
   * Delivers every matching event with revision >= `startRevision` (default:
   * after the revision current when the watch is made) in order, each
   * revision's events in one call, without loss or duplication across
   * reconnects. Patterns watch their literal prefix and filter here.
   */
  async watch(
    selector: WatchSelector,
    onEvents: (events: WatchEvent[]) => void,
    options: { startRevision?: number; onEnd?: (end: WatchEnd) => void } = {},
  ): Promise<WatchHandle> {
    this.#assertOpen();
    const matches = compileWatchFilter(selector);
    let startRevision = options.startRevision;
    if (startRevision === undefined) {
      // "From now" is pinned to a revision read here, not to the header of
      // etcd's created response, which may be read after an event slipped in.
      startRevision = (await this.#currentRevision()) + 1;
    } else if (!Number.isSafeInteger(startRevision) || startRevision < 1) {
      throw new RangeError(`startRevision must be a positive safe integer, got ${startRevision}`);
    }
    const watch = new EtcdWatch(this.#client, {
      range: watchRange(selector),
      matches,
      startRevision,
      onEvents,
      onEnd: options.onEnd,
      reconnectLimit: this.#watchReconnectLimit,
      onStop: (w) => this.#watches.delete(w),
    });
    this.#watches.add(watch);
    await watch.start();
    return { cancel: () => watch.cancel() };
  }

  /** Cancels every watch and closes the connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#watches].map((watch) => watch.cancel()));
    this.#client.close();
  }
}
