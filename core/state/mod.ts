/**
 * The replicated state machine on top of Raft: a versioned key-value store
 * in the style of etcd's MVCC, with compare-and-swap transactions, watches
 * that resume from a revision, and leases. Pure and deterministic: applied
 * on every node from committed log entries.
 *
 * @example
 * ```ts
 * import { encodeCommand, KvStore } from "@safla/core/state";
 * const store = new KvStore();
 * store.applyEntry(1, encodeCommand({ op: "put", key: "services/a", value: "{}" }));
 * console.assert(store.get("services/a")?.version === 1);
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./commands.ts";
export * from "./kv.ts";
export * from "./watch.ts";
export type { ByteSource } from "./bytes.ts";
export {
  type DecodeStreamOptions,
  type LeaseRecord,
  SnapshotEncoder,
  SnapshotError,
  type SnapshotErrorReason,
  type SnapshotState,
} from "./snapshot.ts";
export * from "./lease.ts";
export * from "./auto_compaction.ts";
