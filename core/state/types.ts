/**
 * The data the replicated key-value state machine hands out: key-value
 * records with their revisions, watch events and lease descriptions. All of
 * it is plain, immutable data that drivers may keep, compare and send.
 *
 * @module
 */

/** Lease id meaning "not attached to any lease". */
export const NO_LEASE = 0;

/**
 * One key's current record, in the style of etcd's MVCC `KeyValue`.
 *
 * Records are never mutated: every write makes a new one, so a record taken
 * from a read or an event stays valid forever.
 */
export interface KeyValue {
  /** The key (non-empty). */
  readonly key: string;
  /** The value; empty in the record carried by a delete event. */
  readonly value: string;
  /** Revision of the write that created the key (since it last did not exist); 0 in delete events. */
  readonly createRevision: number;
  /** Revision of the last write to the key (for a delete event, the deletion's revision). */
  readonly modRevision: number;
  /** Number of writes since creation, starting at 1; 0 in delete events. */
  readonly version: number;
  /** Lease the key is attached to, or {@link NO_LEASE}. */
  readonly leaseId: number;
}

/** What a watch event reports. */
export type WatchEventType = "put" | "delete";

/** One change to one key, as delivered to watchers and kept in the event history. */
export interface WatchEvent {
  /** Whether the key was written or deleted. */
  readonly type: WatchEventType;
  /** Revision of the write; all events of one command share it. */
  readonly revision: number;
  /** The record after the change (for a delete, a tombstone with only key and modRevision). */
  readonly kv: KeyValue;
  /** The record before the change, or null if the key did not exist. */
  readonly prevKv: KeyValue | null;
}

/** A lease as the replicated state knows it. */
export interface LeaseInfo {
  /** Positive lease id chosen by the client that granted it. */
  readonly id: number;
  /** Time to live after each grant or keep-alive, in milliseconds. */
  readonly ttlMs: number;
  /**
   * Log index of the grant or the last keep-alive. It is the lease's fencing
   * token: a `leaseExpire` naming an older token is refused.
   */
  readonly renewIndex: number;
  /** The proposer's clock at the grant or last keep-alive (informational: clocks differ per node). */
  readonly renewedAtMs: number;
  /** Keys attached to the lease, sorted. */
  readonly keys: readonly string[];
}
