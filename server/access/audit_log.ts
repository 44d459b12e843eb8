/**
 * The audit trail of one node: denied calls and policy, service and
 * membership changes, kept in the replicated store under
 * {@link AUDIT_PREFIX}`<node>/<slot>`.
 *
 * A flood of denials must not become a flood of Raft writes, so records wait
 * in a bounded buffer where equal ones coalesce (one record with a count),
 * and the buffer goes to the store as one batch per {@link AuditOptions.flushIntervalMs}
 * at most. Overflow policy: once {@link AuditOptions.maxPendingRecords} distinct
 * records wait, further new ones are dropped and counted; the count goes
 * out with the next batch (`dropped`) and in {@link AuditLog.stats}; so do
 * records past a batch's byte bound (`MAX_AUDIT_BATCH_BYTES`, under the
 * store's value limit).
 * Retention: each node writes a ring of {@link AuditOptions.maxBatchesPerNode}
 * slots (a new batch overwrites the oldest), and deletes its slots older than
 * {@link AuditOptions.maxAgeMs}; both decisions are core's (policy_audit.ts).
 * Without a store (a standalone node) the last batches stay in memory.
 *
 * @module
 */
import {
  type AuditBatch,
  auditCoalesceKey,
  auditField,
  type AuditRecord,
  auditSlot,
  expiredAuditSlots,
  fitAuditBatch,
  newestAuditRecords,
} from "@safla/core/access";
import type { StateStore } from "../store/types.ts";

/** Where audit batches live: inside the gateway's reserved key space. */
export const AUDIT_PREFIX = "/gateway/audit/";

/** Bounds and pacing of the audit log. */
export interface AuditOptions {
  /** Least time between two batches of one node. */
  flushIntervalMs: number;
  /** Most distinct records waiting for the next batch; more are dropped and counted. */
  maxPendingRecords: number;
  /** Batches kept per node (the ring's size). */
  maxBatchesPerNode: number;
  /** Records older than this are deleted and never listed. */
  maxAgeMs: number;
}

/**
 * Defaults: one batch a second at most, 500 records and 128 KiB each, 128
 * batches (at most 16 MiB of the store) or 7 days per node.
 */
export const DEFAULT_AUDIT_OPTIONS: Readonly<AuditOptions> = Object.freeze({
  flushIntervalMs: 1_000,
  maxPendingRecords: 500,
  maxBatchesPerNode: 128,
  maxAgeMs: 7 * 24 * 3600_000,
});

/** Batches read per store request when listing. */
const LIST_PAGE_BATCHES = 64;
/** Most bytes of batches one listing reads (then it stops, `truncated`). */
export const MAX_LISTED_BYTES = 32 * 1024 * 1024;

/** What an audited event says; the time and revision are added when it is recorded. */
export type AuditEvent = Omit<AuditRecord, "timeMs" | "count">;

/** Counters of one node's audit log. */
export interface AuditStats {
  recorded: number;
  dropped: number;
  batchesWritten: number;
  writeFailures: number;
}

/** One node's audit log; see the module doc. */
export class AuditLog {
  #options: AuditOptions = { ...DEFAULT_AUDIT_OPTIONS };
  #store?: StateStore;
  #node = "local";
  #pending = new Map<string, AuditRecord>();
  #droppedSinceBatch = 0;
  #seq = 0;
  /** The time of each slot this node has written, for age trimming. */
  #slotTimes = new Map<number, number>();
  /** The batches of a node without a store. */
  #memory: AuditBatch[] = [];
  #timer?: ReturnType<typeof setTimeout>;
  #flushing: Promise<void> = Promise.resolve();
  readonly #stats: AuditStats = { recorded: 0, dropped: 0, batchesWritten: 0, writeFailures: 0 };

  /** Sets bounds and pacing (before {@link attach}; tests use short intervals). */
  configure(options: Partial<AuditOptions>): void {
    this.#options = { ...this.#options, ...options };
  }

  /**
   * Keeps batches in `store` as node `node`, continuing after its newest
   * stored batch. Does not wait for the store: batches wait until the node's
   * own are read (a node starts before its cluster has a leader).
   */
  attach(store: StateStore, node: string): Promise<void> {
    this.#store = store;
    this.#node = node;
    this.#flushing = this.#flushing.then(() => this.#readOwn(store, node)).catch(() => {
      // Unreadable (no quorum yet for long): start a fresh sequence; slots may be reused early.
    });
    return this.#flushing;
  }

  async #readOwn(store: StateStore, node: string): Promise<void> {
    const own = await store.range(`${AUDIT_PREFIX}${node}/`, {
      limit: this.#options.maxBatchesPerNode,
    });
    for (const kv of own.kvs) {
      const batch = parseBatch(kv.value);
      if (batch === undefined) continue;
      this.#slotTimes.set(auditSlot(batch.seq, this.#options.maxBatchesPerNode), batch.timeMs);
      this.#seq = Math.max(this.#seq, batch.seq + 1);
    }
  }

  /** Records `event` now; equal events waiting for the same batch add to one record's count. */
  record(event: AuditEvent): void {
    this.#stats.recorded++;
    const record: AuditRecord = {
      ...event,
      principal: auditField(event.principal),
      action: auditField(event.action),
      target: auditField(event.target),
      timeMs: Date.now(),
    };
    const key = auditCoalesceKey(record);
    const waiting = this.#pending.get(key);
    if (waiting !== undefined) {
      this.#pending.set(key, { ...waiting, count: (waiting.count ?? 1) + 1 });
    } else if (this.#pending.size >= this.#options.maxPendingRecords) {
      this.#stats.dropped++;
      this.#droppedSinceBatch++;
      return;
    } else {
      this.#pending.set(key, record);
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.flush();
    }, this.#options.flushIntervalMs);
  }

  /** Writes what is waiting as one batch now (also what the timer does). */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#writeBatch());
    return this.#flushing;
  }

  async #writeBatch(): Promise<void> {
    if (this.#pending.size === 0 && this.#droppedSinceBatch === 0) return;
    const nowMs = Date.now();
    const { kept, dropped: tooBig } = fitAuditBatch([...this.#pending.values()]);
    this.#stats.dropped += tooBig;
    const dropped = this.#droppedSinceBatch + tooBig;
    const batch: AuditBatch = {
      node: this.#node,
      seq: this.#seq++,
      timeMs: nowMs,
      records: kept,
      ...(dropped > 0 ? { dropped } : {}),
    };
    this.#pending = new Map();
    this.#droppedSinceBatch = 0;
    const slots = this.#options.maxBatchesPerNode;
    const slot = auditSlot(batch.seq, slots);
    if (this.#store === undefined) {
      this.#memory.push(batch);
      if (this.#memory.length > slots) this.#memory.shift();
      this.#stats.batchesWritten++;
      return;
    }
    try {
      await this.#store.put(this.#slotKey(slot), JSON.stringify(batch));
      this.#slotTimes.set(slot, nowMs);
      this.#stats.batchesWritten++;
      for (const old of expiredAuditSlots(this.#slotTimes, nowMs, this.#options.maxAgeMs)) {
        await this.#store.delete(this.#slotKey(old), { prevKv: false });
        this.#slotTimes.delete(old);
      }
    } catch {
      // A node without quorum cannot write; the batch is lost and counted, never retried
      // (a retry queue would be one more unbounded buffer).
      this.#stats.writeFailures++;
      this.#stats.dropped += batch.records.length;
    }
  }

  #slotKey(slot: number): string {
    return `${AUDIT_PREFIX}${this.#node}/${String(slot).padStart(6, "0")}`;
  }

  /**
   * The newest `limit` records of every node, newest first, the dropped count
   * among them, and whether the listing stopped at {@link MAX_LISTED_BYTES}.
   */
  async list(
    limit: number,
  ): Promise<{ records: AuditRecord[]; dropped: number; truncated: boolean }> {
    let batches: AuditBatch[] = this.#memory;
    let truncated = false;
    if (this.#store !== undefined) {
      batches = [];
      let bytes = 0;
      let after: string | undefined;
      for (;;) {
        const page = await this.#store.range(AUDIT_PREFIX, { limit: LIST_PAGE_BATCHES, after });
        for (const kv of page.kvs) {
          bytes += kv.value.length;
          const batch = parseBatch(kv.value);
          if (batch !== undefined) batches.push(batch);
        }
        if (!page.more || page.kvs.length === 0) break;
        if (bytes > MAX_LISTED_BYTES) {
          truncated = true;
          break;
        }
        after = page.kvs[page.kvs.length - 1].key;
      }
    }
    const newest = newestAuditRecords(batches, Date.now(), this.#options.maxAgeMs, limit);
    return { ...newest, truncated };
  }

  /** Counters since start. */
  get stats(): AuditStats {
    return { ...this.#stats };
  }

  /** Writes what waits and stops the timer. */
  async close(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}

function parseBatch(value: string): AuditBatch | undefined {
  try {
    const batch = JSON.parse(value) as AuditBatch;
    return Number.isSafeInteger(batch.seq) && Array.isArray(batch.records) ? batch : undefined;
  } catch {
    return undefined;
  }
}
