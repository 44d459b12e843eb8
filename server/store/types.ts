/**
 * The replicated state store as the gateway sees it: an etcd-shaped KV with
 * revisions, transactions, leases and resumable watches. Two engines
 * implement it: the embedded Raft cluster (`core/node` + `core/state`) and a
 * real etcd cluster (`--store etcd://...`). Both pass the same contract tests.
 *
 * @module
 */
import type { Compare, KeyValue, TxnOp, WatchEvent } from "@safla/core/state";

/** How fresh a read must be. */
export type ReadConsistency = "linearizable" | "serializable";

/** Result of a range read. */
export interface RangeReply {
  /** Matching records in key order. */
  kvs: KeyValue[];
  /** Store revision the read observed. */
  revision: number;
  /** Whether `limit` cut the result short. */
  more: boolean;
}

/** Result of a write. */
export interface WriteReply {
  /** Revision the write was committed at. */
  revision: number;
  /** The record before the write (put: previous value; delete: the deleted records). */
  prev: KeyValue[];
}

/** Result of a delete. */
export interface DeleteReply extends WriteReply {
  /** Number of keys deleted (`prev` is empty when the records were not asked for). */
  deleted: number;
}

/** Result of a transaction. */
export interface TxnReply {
  /** Whether every comparison held (the success branch ran). */
  succeeded: boolean;
  /** Revision after the transaction. */
  revision: number;
  /** Records read by `get` operations in the branch that ran, in order. */
  reads: (KeyValue | undefined)[];
}

/** What a watch selects. */
export type WatchSelector = { key: string } | { prefix: string } | { pattern: string };

/** A running watch. */
export interface WatchHandle {
  /** Stops the watch; no event is delivered after it resolves. */
  cancel(): Promise<void>;
}

/** A watch ended on its own (for example, its start revision was compacted). */
export interface WatchEnd {
  /** Why it ended, for the user. */
  reason: string;
  /** Oldest revision still available, when compaction was the cause. */
  compactRevision?: number;
}

/** The gateway's view of its state store. */
export interface StateStore {
  /** Which engine this is. */
  readonly engine: "raft" | "etcd";
  /** One key. */
  get(key: string, consistency?: ReadConsistency): Promise<KeyValue | undefined>;
  /** Keys with a prefix, in order. */
  range(
    prefix: string,
    options?: { limit?: number; consistency?: ReadConsistency; after?: string },
  ): Promise<RangeReply>;
  /** Writes one key, optionally attached to a lease. */
  put(key: string, value: string, options?: { leaseId?: number }): Promise<WriteReply>;
  /**
   * Deletes one key, or every key under a prefix; the deleted records come
   * back unless `prevKv` is false (default true).
   */
  delete(key: string, options?: { prefix?: boolean; prevKv?: boolean }): Promise<DeleteReply>;
  /** Atomic compare-then-act. */
  txn(compare: Compare[], success: TxnOp[], failure: TxnOp[]): Promise<TxnReply>;
  /** Creates a lease; returns its id. */
  leaseGrant(ttlMs: number): Promise<number>;
  /** Renews a lease; false if it no longer exists. */
  leaseKeepAlive(leaseId: number): Promise<boolean>;
  /** Revokes a lease and deletes its keys. */
  leaseRevoke(leaseId: number): Promise<void>;
  /**
   * Delivers every event matching `selector` with revision >= `startRevision`
   * (default: from now), in order, without loss or duplication, until cancelled.
   */
  watch(
    selector: WatchSelector,
    onEvents: (events: WatchEvent[]) => void,
    options?: { startRevision?: number; onEnd?: (end: WatchEnd) => void },
  ): Promise<WatchHandle>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
