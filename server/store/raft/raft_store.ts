/**
 * The gateway's {@link StateStore} on the embedded Raft cluster: requests go
 * to the local {@link NodeHost}. A follower's node hands commands to the
 * leader itself (Raft `prop` messages over the peer transport) and answers
 * them when they apply locally; what the node refuses with a leader hint
 * (linearizable reads, or commands while it knows no usable leader) is
 * forwarded to the leader's HTTP API (`/cluster/v1/submit`, authenticated
 * with a token derived from the cluster secret). Linearizable reads run on
 * the leader through ReadIndex; serializable reads are answered locally.
 * Watches are served from the local replica, which applies every committed
 * entry in order, so they never skip, repeat or reorder events.
 *
 * @module
 */
import {
  type Command,
  CompactedRevisionError,
  type Compare,
  compileWatchFilter,
  encodeCommand,
  type KeyValue,
  type TxnOp,
  validateCommand,
  WatchHub,
} from "@safla/core/state";
import type { CommandResult } from "@safla/core/state";
import type { ClientRequest, KvQuery, NodeError, NodeReply } from "@safla/core/node";
import { HostClosedError, type NodeHost, RequestTimeoutError } from "@safla/transports/host";
import { deriveFromSecret } from "@safla/transports/peer";
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
import { isConnectFailure, NoQuorumError, OverloadedError, StoreCommandError } from "./errors.ts";
import { OutcomeUnknownError } from "@safla/core/resilience";

/** Header carrying the forwarding token between nodes. */
export const CLUSTER_AUTH_HEADER = "x-safla-cluster-auth";

/** Options of {@link RaftStore}. */
export interface RaftStoreOptions {
  /** The local node. */
  host: NodeHost;
  /** The cluster secret (authenticates forwarded requests). */
  secret: string;
  /** How long a request may wait for a leader before failing. Default 5000 ms. */
  requestTimeoutMs?: number;
}

/** A request as it travels to the leader. */
export type WireRequest =
  | { kind: "command"; command: Command }
  | { kind: "read"; query: KvQuery; consistency: ReadConsistency };

/** The leader's answer to a forwarded request. */
export type WireReply =
  | { ok: true; value: CommandResult }
  | { ok: false; error: NodeError | { code: "Timeout" | "Closed"; outcomeUnknown: boolean } };

/** Derives the forwarding token from the cluster secret (HMAC-SHA256, hex). */
export async function clusterAuthToken(secret: string): Promise<string> {
  const mac = await deriveFromSecret(secret, "safla-forward-v1");
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function encode(request: WireRequest): ClientRequest<KvQuery> {
  if (request.kind === "read") {
    return { kind: "read", query: request.query, consistency: request.consistency };
  }
  return { kind: "command", command: encodeCommand(request.command) };
}

/** Most requests forwarded in one HTTP call. */
const MAX_FORWARD_BATCH = 256;
/** Forwarding calls on the wire at once per leader. */
const MAX_FORWARD_BATCHES_IN_FLIGHT = 4;

interface PendingForward {
  request: WireRequest;
  resolve: (reply: WireReply) => void;
  reject: (error: Error) => void;
  deadline: number;
}

interface ForwardQueue {
  pending: PendingForward[];
  inflight: number;
}

/** Largest range read in one request. */
const MAX_RANGE_LIMIT = 10_000;
/** Most attempts to find an unused lease id. */
const LEASE_ID_ATTEMPTS = 8;

interface Watch {
  onEvents: Parameters<StateStore["watch"]>[1];
  onEnd?: (end: WatchEnd) => void;
}

/**
 * The embedded Raft engine of the state store.
 *
 * @example
 * ```ts ignore
 * const store = new RaftStore({ host, secret });
 * await store.put("services/a", "up");
 * const kv = await store.get("services/a");
 * ```
 */
export class RaftStore implements StateStore {
  readonly engine = "raft" as const;
  readonly host: NodeHost;
  readonly requestTimeoutMs: number;
  readonly #token: Promise<string>;
  readonly #hub = new WatchHub();
  readonly #watches = new Map<number, Watch>();
  readonly #forwardQueues = new Map<string, ForwardQueue>();
  #closed = false;
  /**
   * No pooled connections for forwarding: on a reused connection the HTTP
   * client may resend a request after a failure and then report a refused
   * connection for a request that was delivered. With a fresh connection
   * each time, "refused" reliably means "never delivered".
   */
  readonly #httpClient = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  readonly #unlisten: () => void;

  /** Wraps a running host; closing the store does not close the host. */
  constructor(options: RaftStoreOptions) {
    this.host = options.host;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
    this.#token = clusterAuthToken(options.secret);
    this.#unlisten = this.host.listen({
      onApplied: () => this.#pollWatches(),
      onSnapshotInstalled: () => this.#pollWatches(),
    });
  }

  /** The token forwarded requests must carry. */
  authToken(): Promise<string> {
    return this.#token;
  }

  /**
   * Runs a request on this node only, without forwarding: what the leader
   * does for a forwarded request. Never throws for Raft outcomes.
   */
  async submitLocal(request: WireRequest, timeoutMs: number): Promise<WireReply> {
    try {
      const reply: NodeReply<CommandResult> = await this.host.request(encode(request), timeoutMs);
      if (reply.ok && "value" in reply) return { ok: true, value: reply.value };
      if (reply.ok) throw new Error("a KV request was answered as a membership change");
      return { ok: false, error: reply.error };
    } catch (error) {
      if (error instanceof RequestTimeoutError) {
        return {
          ok: false,
          error: { code: "Timeout", outcomeUnknown: request.kind === "command" },
        };
      }
      if (error instanceof HostClosedError) {
        return { ok: false, error: { code: "Closed", outcomeUnknown: request.kind === "command" } };
      }
      throw error;
    }
  }

  /**
   * Runs a request on the leader, wherever it is, waiting up to
   * `requestTimeoutMs` for one. Throws {@link NoQuorumError} when no leader
   * took it, {@link OutcomeUnknownError} when a command may have applied.
   */
  async submit(request: WireRequest): Promise<CommandResult> {
    // Refuse bad input here, before anything travels to the leader.
    validateCommand(request.kind === "command" ? request.command : request.query);
    const started = performance.now();
    const deadline = started + this.requestTimeoutMs;
    const pauseMs = this.host.timing.tickMs;
    let lastProblem = "no leader known";
    for (let attempt = 0; attempt < 10_000; attempt++) {
      const remainingMs = deadline - performance.now();
      if (remainingMs <= 0) break;
      const local = await this.submitLocal(request, remainingMs);
      let reply = local;
      if (!local.ok && local.error.code === "NotLeader" && local.error.leaderHint !== null) {
        const hint = local.error.leaderHint;
        if (hint !== this.host.id) reply = await this.#forward(hint, request, remainingMs);
      }
      if (reply.ok) return reply.value;
      const error = reply.error;
      if (error.outcomeUnknown && request.kind === "command") {
        throw OutcomeUnknownError.ofWrite(`${error.code} on the leader`);
      }
      if (error.code === "Overloaded") throw new OverloadedError(error.pendingLimit);
      lastProblem = error.code === "NotLeader" && error.leaderHint === null
        ? "no leader known"
        : `last answer: ${error.code}`;
      await this.#leadershipChangeOr(pauseMs);
    }
    throw new NoQuorumError(this.host.id, Math.round(performance.now() - started), lastProblem);
  }

  /** Waits until this node sees a leadership change, or `ms` passed: the moment to retry. */
  #leadershipChangeOr(ms: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, ms);
    const stop = this.host.listen({ onRoleChanged: () => resolve() });
    return promise.finally(() => {
      clearTimeout(timer);
      stop();
    });
  }

  /**
   * Forwards to the leader in batches: requests that arrive while a batch is
   * on the wire go together in the next one, so the per-request HTTP cost
   * between nodes shrinks as load grows (a group commit for forwarding).
   */
  #forward(leader: string, request: WireRequest, timeoutMs: number): Promise<WireReply> {
    const address = this.host.memberAddress(leader);
    if (!address) {
      return Promise.resolve({
        ok: false,
        error: { code: "NotLeader", leaderHint: null, outcomeUnknown: false },
      });
    }
    let queue = this.#forwardQueues.get(address.url);
    if (!queue) {
      queue = { pending: [], inflight: 0 };
      this.#forwardQueues.set(address.url, queue);
    }
    const { promise, resolve, reject } = Promise.withResolvers<WireReply>();
    queue.pending.push({ request, resolve, reject, deadline: performance.now() + timeoutMs });
    this.#flushForwards(leader, address.url, queue);
    return promise;
  }

  #flushForwards(leader: string, url: string, queue: ForwardQueue): void {
    while (queue.inflight < MAX_FORWARD_BATCHES_IN_FLIGHT && queue.pending.length > 0) {
      const batch = queue.pending.splice(0, MAX_FORWARD_BATCH);
      queue.inflight++;
      this.#sendBatch(leader, url, batch).finally(() => {
        queue.inflight--;
        this.#flushForwards(leader, url, queue);
      });
    }
  }

  async #sendBatch(leader: string, url: string, batch: PendingForward[]): Promise<void> {
    const timeoutMs = Math.max(
      1,
      Math.floor(Math.max(...batch.map((f) => f.deadline)) - performance.now()),
    );
    let replies: WireReply[];
    try {
      const response = await fetch(`${url}/cluster/v1/submit`, {
        method: "POST",
        headers: { "content-type": "application/json", [CLUSTER_AUTH_HEADER]: await this.#token },
        body: JSON.stringify({ requests: batch.map((f) => f.request), timeoutMs }),
        signal: AbortSignal.timeout(timeoutMs),
        client: this.#httpClient,
      });
      if (response.status !== 200) {
        const body = await response.text();
        const error = new Error(
          `leader ${leader} refused forwarded requests (${response.status}): ${body}`,
        );
        for (const f of batch) f.reject(error);
        return;
      }
      replies = ((await response.json()) as { replies: WireReply[] }).replies;
      if (!Array.isArray(replies) || replies.length !== batch.length) {
        throw new Error(`leader ${leader} answered ${replies?.length} of ${batch.length} requests`);
      }
    } catch (error) {
      // A refused connection never reached the leader; anything else may have.
      const delivered = !isConnectFailure(error);
      for (const f of batch) {
        f.resolve({
          ok: false,
          error: delivered && f.request.kind === "command"
            ? { code: "Timeout", outcomeUnknown: true }
            : { code: "NotLeader", leaderHint: null, outcomeUnknown: false },
        });
      }
      return;
    }
    batch.forEach((f, i) => f.resolve(replies[i]));
  }

  async #command(command: Command): Promise<Exclude<CommandResult, { ok: false }>> {
    const result = await this.submit({ kind: "command", command });
    if (!result.ok) throw new StoreCommandError(result.code, result.message);
    return result;
  }

  async #read(query: KvQuery, consistency: ReadConsistency): Promise<CommandResult> {
    if (consistency === "serializable") {
      validateCommand(query);
      const local = await this.submitLocal(
        { kind: "read", query, consistency },
        this.requestTimeoutMs,
      );
      if (!local.ok) throw new Error(`local read failed: ${local.error.code}`);
      return local.value;
    }
    return await this.submit({ kind: "read", query, consistency });
  }

  /** One key. */
  async get(
    key: string,
    consistency: ReadConsistency = "linearizable",
  ): Promise<KeyValue | undefined> {
    const result = await this.#read({ op: "get", key }, consistency);
    if (result.op !== "get" || !result.ok) throw new Error(`unexpected reply to get: ${result.op}`);
    return result.kv ?? undefined;
  }

  /** Keys with a prefix, in order. */
  async range(
    prefix: string,
    options: { limit?: number; consistency?: ReadConsistency; after?: string } = {},
  ): Promise<RangeReply> {
    const limit = options.limit ?? MAX_RANGE_LIMIT;
    const query: KvQuery = { op: "range", prefix, limit };
    if (options.after !== undefined) query.after = options.after;
    const result = await this.#read(
      query,
      options.consistency ?? "linearizable",
    );
    if (result.op !== "range" || !result.ok) {
      throw new Error(`unexpected reply to range: ${result.op}`);
    }
    return { kvs: result.kvs, revision: result.revision, more: result.more };
  }

  /** Writes one key. */
  async put(key: string, value: string, options: { leaseId?: number } = {}): Promise<WriteReply> {
    const command: Command = { op: "put", key, value, prevKv: true };
    if (options.leaseId !== undefined) command.leaseId = options.leaseId;
    const result = await this.#command(command);
    if (result.op !== "put") throw new Error(`unexpected reply to put: ${result.op}`);
    return { revision: result.revision, prev: result.prevKv ? [result.prevKv] : [] };
  }

  /** Deletes one key or a prefix; the deleted records unless `prevKv` is false. */
  async delete(
    key: string,
    options: { prefix?: boolean; prevKv?: boolean } = {},
  ): Promise<DeleteReply> {
    const result = await this.#command({
      op: "delete",
      key,
      prefix: options.prefix ?? false,
      prevKv: options.prevKv ?? true,
    });
    if (result.op !== "delete") throw new Error(`unexpected reply to delete: ${result.op}`);
    return { revision: result.revision, deleted: result.deleted, prev: result.prevKvs };
  }

  /** Atomic compare-then-act. */
  async txn(compare: Compare[], success: TxnOp[], failure: TxnOp[]): Promise<TxnReply> {
    const result = await this.#command({ op: "txn", compare, success, failure });
    if (result.op !== "txn") throw new Error(`unexpected reply to txn: ${result.op}`);
    const reads: (KeyValue | undefined)[] = [];
    for (const r of result.responses) if (r.op === "get") reads.push(r.kv ?? undefined);
    return { succeeded: result.succeeded, revision: result.revision, reads };
  }

  /** Creates a lease with a fresh random id. */
  async leaseGrant(ttlMs: number): Promise<number> {
    for (let attempt = 0; attempt < LEASE_ID_ATTEMPTS; attempt++) {
      const words = crypto.getRandomValues(new Uint32Array(2));
      const leaseId = (words[0] & 0x1f_ffff) * 0x1_0000_0000 + words[1] || 1;
      const result = await this.submit({
        kind: "command",
        command: { op: "leaseGrant", leaseId, ttlMs, nowMs: Date.now() },
      });
      if (result.ok) return leaseId;
      if (result.code !== "leaseExists") throw new StoreCommandError(result.code, result.message);
    }
    throw new Error(`no unused lease id found in ${LEASE_ID_ATTEMPTS} attempts`);
  }

  /** Renews a lease; false if it is gone. */
  async leaseKeepAlive(leaseId: number): Promise<boolean> {
    const result = await this.submit({
      kind: "command",
      command: { op: "leaseKeepAlive", leaseId, nowMs: Date.now() },
    });
    if (result.ok) return true;
    if (result.code === "leaseNotFound") return false;
    throw new StoreCommandError(result.code, result.message);
  }

  /** Revokes a lease and deletes its keys; an unknown lease rejects with code `leaseNotFound`. */
  async leaseRevoke(leaseId: number): Promise<void> {
    await this.#command({ op: "leaseRevoke", leaseId });
  }

  /**
   * Follows changes from this node's replica. Without `startRevision` the
   * watch starts after the cluster's current revision, learned through a
   * linearizable read: this replica may lag, and "from now" must not
   * include a write that was acknowledged before the call.
   */
  async watch(
    selector: WatchSelector,
    onEvents: Parameters<StateStore["watch"]>[1],
    options: { startRevision?: number; onEnd?: (end: WatchEnd) => void } = {},
  ): Promise<WatchHandle> {
    compileWatchFilter(selector); // throws WatchRequestError before the round trip
    const startRevision = options.startRevision ??
      (await this.range("", { limit: 1 })).revision + 1;
    let watchId: number;
    try {
      watchId = this.#hub.watch(this.host.store, selector, startRevision);
    } catch (error) {
      if (!(error instanceof CompactedRevisionError)) throw error;
      const compactRevision = this.host.store.history.compactRevision + 1;
      queueMicrotask(() => options.onEnd?.({ reason: error.message, compactRevision }));
      return { cancel: () => Promise.resolve() };
    }
    this.#watches.set(watchId, { onEvents, onEnd: options.onEnd });
    // Events at or after startRevision that are already applied go out now.
    queueMicrotask(() => this.#pollWatches());
    return {
      cancel: () => {
        this.#hub.cancel(watchId);
        this.#watches.delete(watchId);
        return Promise.resolve();
      },
    };
  }

  #pollWatches(): void {
    if (this.#watches.size === 0) return;
    for (const delivery of this.#hub.poll(this.host.store)) {
      const watch = this.#watches.get(delivery.watchId);
      if (!watch) continue;
      if (delivery.kind === "events") {
        watch.onEvents(delivery.events);
      } else {
        this.#watches.delete(delivery.watchId);
        watch.onEnd?.({
          reason: delivery.error.message,
          compactRevision: this.host.store.history.compactRevision + 1,
        });
      }
    }
  }

  /** Cancels every watch (the host stays up). */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#unlisten();
    this.#httpClient.close();
    for (const id of this.#watches.keys()) this.#hub.cancel(id);
    this.#watches.clear();
    return Promise.resolve();
  }
}
