/**
 * The leader's queue of ReadIndex requests (linearizable reads without a log
 * write): each waits until a quorum confirms the leader is still the leader.
 *
 * @module
 */
import type { Message, NodeId } from "./types.ts";

/**
 * How reads are confirmed: `safe` asks a quorum with a heartbeat round (the
 * ReadIndex protocol); `leaseBased` trusts the leader's lease, which is only
 * sound together with CheckQuorum and bounded clock drift.
 */
export type ReadOnlyOption = "safe" | "leaseBased";

/** A pending read request and who has confirmed the leadership for it. */
export interface ReadIndexStatus {
  /** The `readIndex` message that asked for the read. */
  req: Message;
  /** The leader's commit index when the request arrived: the index to read at. */
  index: number;
  /** Members that acknowledged the heartbeat carrying this request's context. */
  acks: Map<NodeId, boolean>;
}

/** Default bound on pending read requests. */
export const DEFAULT_MAX_PENDING_READS = 4096;

/** Thrown when the ReadIndex queue is full or a request is malformed. */
export class ReadOnlyError extends Error {
  /** Creates the error with a message saying what is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "ReadOnlyError";
  }
}

/**
 * The request context of a `readIndex` message: its `context` bytes, which
 * identify the request (so two requests must never share a context).
 */
export function readRequestCtx(m: Message): Uint8Array {
  if (m.context === undefined) {
    throw new ReadOnlyError(`a readIndex request from ${m.from || "local"} needs a context`);
  }
  return m.context;
}

/**
 * Pending ReadIndex requests in arrival order, keyed by their context bytes.
 * Bounded: adding beyond `maxPendingRequests` throws, so a flood of reads
 * cannot grow the leader's memory without limit (check {@link ReadOnly.full}
 * first to reject politely).
 *
 * @example
 * ```ts
 * import { ReadOnly } from "@safla/core/raft";
 * const ctx = new Uint8Array([1]);
 * const req = {
 *   type: "readIndex" as const, from: "a", to: "a", term: 0, logTerm: 0, index: 0,
 *   entries: [], commit: 0, reject: false, rejectHint: 0, context: ctx,
 * };
 * const ro = new ReadOnly("safe");
 * ro.addRequest(7, req);
 * ro.recvAck("b", ctx);
 * const ready = ro.advance({ ...req, type: "heartbeatResp", from: "b" });
 * console.assert(ready.length === 1 && ready[0].index === 7);
 * ```
 */
export class ReadOnly {
  /** How reads are confirmed. */
  readonly option: ReadOnlyOption;
  /** Most requests that may be pending at once. */
  readonly maxPendingRequests: number;
  readonly #pending = new Map<string, ReadIndexStatus>();
  #queue: string[] = [];

  /** Creates an empty queue. */
  constructor(option: ReadOnlyOption, maxPendingRequests: number = DEFAULT_MAX_PENDING_READS) {
    if (option !== "safe" && option !== "leaseBased") {
      throw new ReadOnlyError(`unknown read-only option ${JSON.stringify(option)}`);
    }
    if (!Number.isSafeInteger(maxPendingRequests) || maxPendingRequests < 1) {
      throw new ReadOnlyError(
        `maxPendingRequests must be a positive safe integer, got ${maxPendingRequests}`,
      );
    }
    this.option = option;
    this.maxPendingRequests = maxPendingRequests;
  }

  /** Number of pending requests. */
  get pendingCount(): number {
    return this.#queue.length;
  }

  /** Whether no further request can be added. */
  full(): boolean {
    return this.#queue.length >= this.maxPendingRequests;
  }

  /**
   * Queues request `m` to be served at `index` (the current commit index).
   * A request whose context is already pending is ignored; a full queue
   * throws {@link ReadOnlyError}.
   */
  addRequest(index: number, m: Message): void {
    if (!Number.isSafeInteger(index) || index < 0) {
      throw new ReadOnlyError(`read index must be a non-negative safe integer, got ${index}`);
    }
    const key = ctxKey(readRequestCtx(m));
    if (this.#pending.has(key)) return;
    if (this.full()) {
      throw new ReadOnlyError(
        `ReadIndex queue full: ${this.#queue.length} requests pending (at most ${this.maxPendingRequests})`,
      );
    }
    this.#pending.set(key, { req: m, index, acks: new Map() });
    this.#queue.push(key);
  }

  /**
   * Records that `id` acknowledged the heartbeat carrying `context`. Returns
   * all acknowledgements of that request so far, or `undefined` if no such
   * request is pending.
   */
  recvAck(id: NodeId, context: Uint8Array): ReadonlyMap<NodeId, boolean> | undefined {
    const status = this.#pending.get(ctxKey(context));
    if (status === undefined) return undefined;
    status.acks.set(id, true);
    return status.acks;
  }

  /**
   * Dequeues and returns, in arrival order, every request up to and including
   * the one whose context `m.context` names: confirming a later request
   * confirms the earlier ones too. Returns `[]` if it names no pending request.
   */
  advance(m: Message): ReadIndexStatus[] {
    if (m.context === undefined) return [];
    const key = ctxKey(m.context);
    const position = this.#queue.indexOf(key);
    if (position < 0) return [];
    const done = this.#queue.slice(0, position + 1);
    this.#queue = this.#queue.slice(position + 1);
    return done.map((doneKey) => {
      const status = this.#pending.get(doneKey);
      if (status === undefined) {
        throw new ReadOnlyError("ReadIndex queue and pending map disagree");
      }
      this.#pending.delete(doneKey);
      return status;
    });
  }

  /** The context of the most recent pending request, if any. */
  lastPendingRequestCtx(): Uint8Array | undefined {
    const last = this.#queue.at(-1);
    if (last === undefined) return undefined;
    const status = this.#pending.get(last);
    return status === undefined ? undefined : readRequestCtx(status.req);
  }
}

// One UTF-16 code unit per byte: an injective, cheap map key for byte strings.
function ctxKey(context: Uint8Array): string {
  let key = "";
  for (let i = 0; i < context.length; i++) key += String.fromCharCode(context[i]);
  return key;
}
