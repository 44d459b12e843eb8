/**
 * Group commit for small independent writes (session records): writes that
 * arrive while one store transaction is in flight join the next one, so a
 * burst of N writes costs about N / {@link WriteBatcherOptions.maxOps}
 * consensus rounds instead of N, and one client's write still waits only for
 * its own batch. Two writes of one key in a batch collapse into the later.
 *
 * @module
 */
import type { TxnOp } from "@safla/core/state";
import type { StateStore } from "../store/types.ts";

/** Bounds of a {@link WriteBatcher}. */
export interface WriteBatcherOptions {
  /** Most operations per transaction (the store's `maxTxnOps`; default 128). */
  maxOps?: number;
  /** Most key + value bytes per transaction (default 512 KiB); a larger write goes alone. */
  maxBytes?: number;
  /** Most keys waiting; more are refused at once (default 20 000). */
  maxQueued?: number;
}

interface Waiting {
  op: TxnOp;
  bytes: number;
  settle: Array<{ resolve: () => void; reject: (error: unknown) => void }>;
}

/** The queue is full: too many writes wait already. */
export class WriteBacklogError extends Error {
  /** Names the bound. */
  constructor(maxQueued: number) {
    super(`${maxQueued} state writes are already waiting; try again shortly`);
    this.name = "WriteBacklogError";
  }
}

const encoder = new TextEncoder();

/** Batches puts and deletes into store transactions: see the module doc. */
export class WriteBatcher {
  readonly #store: StateStore;
  readonly #maxOps: number;
  readonly #maxBytes: number;
  readonly #maxQueued: number;
  readonly #queue = new Map<string, Waiting>();
  #flushing = false;
  /** Transactions sent so far (for tests and measurements). */
  transactions = 0;

  /** Batches writes to `store`. */
  constructor(store: StateStore, options: WriteBatcherOptions = {}) {
    this.#store = store;
    this.#maxOps = options.maxOps ?? 128;
    this.#maxBytes = options.maxBytes ?? 512 * 1024;
    this.#maxQueued = options.maxQueued ?? 20_000;
  }

  /** Writes `value` under `key`; settles once the batch holding it commits. */
  put(key: string, value: string): Promise<void> {
    return this.#enqueue(key, { op: "put", key, value }, key.length + encoder.encode(value).length);
  }

  /** Deletes `key`; settles once the batch holding it commits. */
  delete(key: string): Promise<void> {
    return this.#enqueue(key, { op: "delete", key }, key.length);
  }

  #enqueue(key: string, op: TxnOp, bytes: number): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    const waiting = this.#queue.get(key);
    if (waiting !== undefined) {
      waiting.op = op;
      waiting.bytes = bytes;
      waiting.settle.push({ resolve, reject });
    } else if (this.#queue.size >= this.#maxQueued) {
      return Promise.reject(new WriteBacklogError(this.#maxQueued));
    } else {
      this.#queue.set(key, { op, bytes, settle: [{ resolve, reject }] });
    }
    if (!this.#flushing) void this.#flush();
    return promise;
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.size > 0) {
        const batch: Waiting[] = [];
        let bytes = 0;
        for (const [key, waiting] of this.#queue) {
          if (batch.length >= this.#maxOps) break;
          if (batch.length > 0 && bytes + waiting.bytes > this.#maxBytes) break;
          batch.push(waiting);
          bytes += waiting.bytes;
          this.#queue.delete(key);
        }
        this.transactions++;
        try {
          await this.#store.txn([], batch.map((w) => w.op), []);
          for (const w of batch) for (const s of w.settle) s.resolve();
        } catch (error) {
          for (const w of batch) for (const s of w.settle) s.reject(error);
        }
      }
    } finally {
      this.#flushing = false;
    }
  }
}
