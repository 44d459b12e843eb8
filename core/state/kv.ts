/**
 * The replicated state machine: a small versioned key-value store in the
 * style of etcd's MVCC, applied on every node from committed log entries.
 *
 * Every command that changes keys gets the next cluster-wide revision; each
 * key carries its createRevision, modRevision and version. Apply is pure and
 * deterministic (it never reads a clock or random source; lease time arrives
 * inside commands), so equal logs give byte-identical snapshots on every
 * node.
 *
 * @module
 */
import {
  type Command,
  CommandError,
  type Compare,
  decodeCommand,
  LOG_COMMAND_LIMITS,
  type TxnOp,
} from "./commands.ts";
import { EventHistory, type EventLog, type WatchSource } from "./watch.ts";
import type { ByteSource } from "./bytes.ts";
import {
  decodeSnapshot,
  decodeSnapshotStream,
  type DecodeStreamOptions,
  encodeSnapshot,
  SnapshotEncoder,
  type SnapshotState,
} from "./snapshot.ts";
import { type KeyValue, type LeaseInfo, NO_LEASE, type WatchEvent } from "./types.ts";

/** Why an applied command had no effect. Failures are results, never throws. */
export type ApplyErrorCode =
  /** A put or keep-alive named a lease that does not exist (or expired). */
  | "leaseNotFound"
  /** A grant reused the id of a live lease. */
  | "leaseExists"
  /** A `leaseExpire` was stale: an older term, or the lease was renewed since. */
  | "fenced"
  /** The log entry did not hold a valid command. */
  | "invalidCommand"
  /** A compaction named a revision the store has not reached. */
  | "futureRevision";

/** The read of one key. */
export interface GetResult {
  /** Discriminant. */
  op: "get";
  /** Success. */
  ok: true;
  /** Store revision the read observed. */
  revision: number;
  /** The record, or null if the key does not exist. */
  kv: KeyValue | null;
}

/** The read of a prefix. */
export interface RangeResult {
  /** Discriminant. */
  op: "range";
  /** Success. */
  ok: true;
  /** Store revision the read observed. */
  revision: number;
  /** Up to `limit` records in key order. */
  kvs: KeyValue[];
  /** Whether more keys matched than were returned. */
  more: boolean;
  /** Number of keys matching the prefix (after `after`, when given). */
  count: number;
}

/** The outcome of a put. */
export interface PutResult {
  /** Discriminant. */
  op: "put";
  /** Success. */
  ok: true;
  /** Revision of the write. */
  revision: number;
  /** The new record. */
  kv: KeyValue;
  /** The record before the write, if asked for with `prevKv` and the key existed. */
  prevKv: KeyValue | null;
}

/** The outcome of a delete. */
export interface DeleteResult {
  /** Discriminant. */
  op: "delete";
  /** Success. */
  ok: true;
  /** Revision of the deletion, or the unchanged store revision if nothing was deleted. */
  revision: number;
  /** Number of keys deleted. */
  deleted: number;
  /** The deleted records (in key order) if asked for with `prevKv`. */
  prevKvs: KeyValue[];
}

/** The outcome of a transaction. */
export interface TxnResult {
  /** Discriminant. */
  op: "txn";
  /** Success (a failed comparison is `succeeded: false`, not an error). */
  ok: true;
  /** Revision of the transaction's writes, or the unchanged revision if it wrote nothing. */
  revision: number;
  /** Whether every comparison held (the `success` branch ran). */
  succeeded: boolean;
  /** One result per operation of the branch that ran. */
  responses: Array<PutResult | DeleteResult | GetResult>;
}

/** The outcome of a lease grant or keep-alive. */
export interface LeaseRenewResult {
  /** Discriminant. */
  op: "leaseGrant" | "leaseKeepAlive";
  /** Success. */
  ok: true;
  /** Store revision (unchanged: leases are not key writes). */
  revision: number;
  /** The lease. */
  leaseId: number;
  /** Its time to live. */
  ttlMs: number;
  /** Its new fencing token (the index of this command). */
  renewIndex: number;
}

/** The outcome of revoking or expiring a lease. */
export interface LeaseEndResult {
  /** Discriminant. */
  op: "leaseRevoke" | "leaseExpire";
  /** Success. */
  ok: true;
  /** Revision of the deletion of the attached keys (unchanged if there were none). */
  revision: number;
  /** The lease that ended. */
  leaseId: number;
  /** Keys deleted with it, sorted. */
  deletedKeys: string[];
}

/** The outcome of a compaction. */
export interface CompactResult {
  /** Discriminant. */
  op: "compact";
  /** Success. */
  ok: true;
  /** Unchanged store revision (a compaction writes no key). */
  revision: number;
  /** Highest revision whose watch events are now gone. */
  compactRevision: number;
}

/** An entry that carried no command (e.g. a new leader's empty entry). */
export interface NoopResult {
  /** Discriminant. */
  op: "noop";
  /** Success. */
  ok: true;
  /** Unchanged store revision. */
  revision: number;
}

/** A command that was applied but refused by the state machine (no state changed). */
export interface CommandFailure {
  /** The refused command's operation, or `noop` for an undecodable entry. */
  op: Command["op"] | "noop";
  /** Failure. */
  ok: false;
  /** Unchanged store revision. */
  revision: number;
  /** Why. */
  code: ApplyErrorCode;
  /** A sentence for the user. */
  message: string;
}

/** What applying a command produced. */
export type CommandResult =
  | GetResult
  | RangeResult
  | PutResult
  | DeleteResult
  | TxnResult
  | LeaseRenewResult
  | LeaseEndResult
  | CompactResult
  | NoopResult
  | CommandFailure;

/** Every successful result. */
export type SuccessResult = Exclude<CommandResult, CommandFailure>;

/** Configuration of a {@link KvStore}. */
export interface KvStoreOptions {
  /** Bound on the number of retained watch events (the compaction window). Default 10 000. */
  historyLimitEvents?: number;
  /** Bound on the retained watch events' estimated size. Default 64 MiB. */
  historyLimitBytes?: number;
}

/** Default bound on the number of retained watch events. */
export const DEFAULT_HISTORY_LIMIT_EVENTS = 10_000;

/** Default bound on the estimated size of retained watch events. */
export const DEFAULT_HISTORY_LIMIT_BYTES = 64 * 1024 * 1024;

interface Lease {
  id: number;
  ttlMs: number;
  renewIndex: number;
  renewedAtMs: number;
  keys: Set<string>;
}

function assertIndex(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`KvStore: ${name} must be a non-negative safe integer, got ${value}`);
  }
}

function compareNumbers(a: number | string, b: number | string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The versioned key-value state machine.
 *
 * @example
 * ```ts
 * import { KvStore } from "@safla/core/state";
 * const store = new KvStore();
 * store.apply(1, { op: "put", key: "nodes:a", value: "up" });
 * const cas = store.apply(2, {
 *   op: "txn",
 *   compare: [{ key: "nodes:a", target: "version", result: "equal", value: 1 }],
 *   success: [{ op: "put", key: "nodes:a", value: "down" }],
 *   failure: [],
 * });
 * console.assert(cas.ok && cas.op === "txn" && cas.succeeded && store.revision === 2);
 * const copy = KvStore.restore(store.snapshot());
 * console.assert(copy.get("nodes:a")?.value === "down");
 * ```
 */
export class KvStore implements WatchSource {
  readonly #kvs = new Map<string, KeyValue>();
  /**
   * Keys in ascending UTF-16 order, for prefix ranges, as of the last merge:
   * without `#newKeys`, with `#removedKeys` still in place.
   */
  #sortedKeys: string[] = [];
  /**
   * Keys created since `#sortedKeys` was last brought up to date: inserting
   * each into the sorted array moved the whole array per new key (O(keys)
   * per put). They are merged in, all at once, when an order is needed.
   */
  #newKeys = new Set<string>();
  /**
   * Keys deleted since the last merge that are still in `#sortedKeys`:
   * splicing each out moved the whole array per delete (deleting 100k keys
   * ran at a few hundred per second). They are dropped in the next merge.
   */
  #removedKeys = new Set<string>();
  readonly #leases = new Map<number, Lease>();
  #revision = 0;
  #appliedIndex = 0;
  #leaseFenceTerm = 0;
  #history: EventHistory;
  /** Events of the command being applied; they all get `#revision + 1`. */
  #pending: WatchEvent[] = [];

  /** Creates an empty store. */
  constructor(options: KvStoreOptions = {}) {
    this.#history = new EventHistory({
      limitEvents: options.historyLimitEvents ?? DEFAULT_HISTORY_LIMIT_EVENTS,
      limitBytes: options.historyLimitBytes ?? DEFAULT_HISTORY_LIMIT_BYTES,
    });
  }

  /** Revision of the newest write (0 before any). */
  get revision(): number {
    return this.#revision;
  }

  /** Index of the last applied log entry. */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** Highest term seen in an applied `leaseExpire`. */
  get leaseFenceTerm(): number {
    return this.#leaseFenceTerm;
  }

  /** Number of keys. */
  get size(): number {
    return this.#kvs.size;
  }

  /** The retained watch events (read-only view). */
  get history(): EventLog {
    return this.#history;
  }

  /** Highest revision whose watch events have been compacted away. */
  get compactRevision(): number {
    return this.#history.compactRevision;
  }

  /** Serializable local read of one key (may be stale on a follower). */
  get(key: string): KeyValue | null {
    return this.#kvs.get(key) ?? null;
  }

  /**
   * Serializable local read of up to `limit` keys starting with `prefix`, in
   * key order; with `after`, only keys greater than it (the next page).
   */
  range(prefix: string, limit: number, after?: string): RangeResult {
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`KvStore.range: limit must be a positive integer, got ${limit}`);
    }
    const keys = this.#keysInOrder();
    let start = lowerBound(keys, prefix);
    if (after !== undefined && after >= prefix) {
      start = lowerBound(keys, after);
      if (keys[start] === after) start++;
    }
    // Counted by search, not by walking: a page of a large prefix used to
    // walk every key after it (tens of ms per page at 1M keys).
    const count = prefixEnd(keys, start, prefix) - start;
    const kvs: KeyValue[] = [];
    for (let i = start; i < start + Math.min(limit, count); i++) kvs.push(this.#kvs.get(keys[i])!);
    return { op: "range", ok: true, revision: this.#revision, kvs, more: count > limit, count };
  }

  /** A lease, or null if it does not exist. */
  lease(leaseId: number): LeaseInfo | null {
    const lease = this.#leases.get(leaseId);
    return lease === undefined ? null : leaseInfo(lease);
  }

  /** Every lease, by id. */
  leases(): LeaseInfo[] {
    return [...this.#leases.keys()].sort((a, b) => a - b).map((id) =>
      leaseInfo(this.#leases.get(id)!)
    );
  }

  /**
   * Applies a committed log entry's payload: decodes it and applies the
   * command. An empty payload (a new leader's empty entry) is a no-op; an
   * undecodable one is refused identically on every node. Size limits are
   * not re-checked here (see {@link LOG_COMMAND_LIMITS}).
   */
  applyEntry(index: number, data: Uint8Array): CommandResult {
    if (data.length === 0) {
      this.markApplied(index);
      return { op: "noop", ok: true, revision: this.#revision };
    }
    let cmd: Command;
    try {
      cmd = decodeCommand(data, LOG_COMMAND_LIMITS);
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      this.markApplied(index);
      return this.#fail("noop", "invalidCommand", error.message);
    }
    return this.apply(index, cmd);
  }

  /** Records that entry `index` was applied without a command (e.g. a configuration change). */
  markApplied(index: number): void {
    this.#advance(index);
  }

  #advance(index: number): void {
    assertIndex("index", index);
    if (index <= this.#appliedIndex) {
      throw new RangeError(
        `KvStore: entry ${index} applied after entry ${this.#appliedIndex}; indices must increase`,
      );
    }
    this.#appliedIndex = index;
  }

  /**
   * Applies one committed command at log index `index` (which must exceed
   * the last applied index). Deterministic: the result and the new state
   * depend only on the state and the arguments.
   */
  apply(index: number, cmd: Command): CommandResult {
    this.#advance(index);
    if (this.#pending.length !== 0) {
      throw new Error("KvStore: events left over from a previous apply");
    }
    const result = this.#dispatch(index, cmd);
    this.#commitPending();
    return result;
  }

  #dispatch(index: number, cmd: Command): CommandResult {
    switch (cmd.op) {
      case "get":
      case "put":
      case "delete":
        if (cmd.op === "put" && !this.#leaseUsable(cmd.leaseId)) {
          return this.#fail("put", "leaseNotFound", `lease ${cmd.leaseId} does not exist`);
        }
        return this.#runOp(cmd);
      case "range":
        return this.range(cmd.prefix, cmd.limit, cmd.after);
      case "txn":
        return this.#txn(cmd.compare, cmd.success, cmd.failure);
      case "leaseGrant": {
        if (this.#leases.has(cmd.leaseId)) {
          return this.#fail(cmd.op, "leaseExists", `lease ${cmd.leaseId} already exists`);
        }
        const lease: Lease = {
          id: cmd.leaseId,
          ttlMs: cmd.ttlMs,
          renewIndex: index,
          renewedAtMs: cmd.nowMs,
          keys: new Set(),
        };
        this.#leases.set(lease.id, lease);
        return this.#renewed(cmd.op, lease);
      }
      case "leaseKeepAlive": {
        const lease = this.#leases.get(cmd.leaseId);
        if (lease === undefined) {
          return this.#fail(cmd.op, "leaseNotFound", `lease ${cmd.leaseId} does not exist`);
        }
        lease.renewIndex = index;
        lease.renewedAtMs = cmd.nowMs;
        return this.#renewed(cmd.op, lease);
      }
      case "leaseRevoke":
        if (!this.#leases.has(cmd.leaseId)) {
          return this.#fail(cmd.op, "leaseNotFound", `lease ${cmd.leaseId} does not exist`);
        }
        return this.#endLease(cmd.op, cmd.leaseId);
      case "leaseExpire": {
        const lease = this.#leases.get(cmd.leaseId);
        if (lease === undefined) {
          return this.#fail(cmd.op, "leaseNotFound", `lease ${cmd.leaseId} does not exist`);
        }
        if (cmd.term < this.#leaseFenceTerm) {
          return this.#fail(
            cmd.op,
            "fenced",
            `expiry from term ${cmd.term} is older than term ${this.#leaseFenceTerm}`,
          );
        }
        this.#leaseFenceTerm = cmd.term;
        if (cmd.renewIndex !== lease.renewIndex) {
          return this.#fail(
            cmd.op,
            "fenced",
            `lease ${cmd.leaseId} was renewed at index ${lease.renewIndex}, after the expiry ` +
              `was decided at renew index ${cmd.renewIndex}`,
          );
        }
        return this.#endLease(cmd.op, cmd.leaseId);
      }
      case "compact": {
        if (cmd.revision > this.#revision) {
          return this.#fail(
            cmd.op,
            "futureRevision",
            `cannot compact to revision ${cmd.revision}: the store is at ${this.#revision}`,
          );
        }
        const compactRevision = this.#history.compactTo(cmd.revision);
        return { op: "compact", ok: true, revision: this.#revision, compactRevision };
      }
    }
  }

  #leaseUsable(leaseId: number | undefined): boolean {
    return leaseId === undefined || leaseId === NO_LEASE || this.#leases.has(leaseId);
  }

  #fail(op: CommandFailure["op"], code: ApplyErrorCode, message: string): CommandFailure {
    return { op, ok: false, revision: this.#revision, code, message };
  }

  #renewed(op: LeaseRenewResult["op"], lease: Lease): LeaseRenewResult {
    return {
      op,
      ok: true,
      revision: this.#revision,
      leaseId: lease.id,
      ttlMs: lease.ttlMs,
      renewIndex: lease.renewIndex,
    };
  }

  #endLease(op: LeaseEndResult["op"], leaseId: number): LeaseEndResult {
    const lease = this.#leases.get(leaseId)!;
    const deletedKeys = [...lease.keys].sort();
    for (const key of deletedKeys) this.#deleteOne(key);
    this.#leases.delete(leaseId);
    return { op, ok: true, revision: this.#nextRevisionIfWritten(), leaseId, deletedKeys };
  }

  /** The revision this command's writes get, or the current one if it wrote nothing (yet). */
  #nextRevisionIfWritten(): number {
    return this.#pending.length > 0 ? this.#revision + 1 : this.#revision;
  }

  #commitPending(): void {
    if (this.#pending.length === 0) return;
    const revision = this.#revision + 1;
    if (!Number.isSafeInteger(revision)) throw new RangeError("KvStore: revision overflow");
    this.#revision = revision;
    this.#history.append(this.#pending);
    this.#pending = [];
  }

  #txn(
    compare: readonly Compare[],
    success: readonly TxnOp[],
    failure: readonly TxnOp[],
  ): TxnResult | CommandFailure {
    const succeeded = compare.every((c) => this.#holds(c));
    const ops = succeeded ? success : failure;
    for (const op of ops) {
      if (op.op === "put" && !this.#leaseUsable(op.leaseId)) {
        return this.#fail("txn", "leaseNotFound", `lease ${op.leaseId} does not exist`);
      }
    }
    const responses = ops.map((op) => this.#runOp(op));
    const revision = this.#nextRevisionIfWritten();
    const result: TxnResult = { op: "txn", ok: true, revision, succeeded, responses };
    return result;
  }

  #holds(c: Compare): boolean {
    const kv = this.#kvs.get(c.key);
    let order: number;
    if (c.target === "value") {
      if (kv === undefined) return false;
      order = compareNumbers(kv.value, c.value);
    } else {
      order = compareNumbers(kv?.[c.target] ?? 0, c.value);
    }
    switch (c.result) {
      case "equal":
        return order === 0;
      case "notEqual":
        return order !== 0;
      case "less":
        return order < 0;
      case "greater":
        return order > 0;
    }
  }

  #runOp(op: TxnOp): PutResult | DeleteResult | GetResult {
    const revision = this.#revision + 1;
    switch (op.op) {
      case "get":
        // Inside a transaction a get sees the branch's earlier writes, so it observes their revision.
        return {
          op: "get",
          ok: true,
          revision: this.#nextRevisionIfWritten(),
          kv: this.get(op.key),
        };
      case "put": {
        const prev = this.#put(op.key, op.value, op.leaseId ?? NO_LEASE, revision);
        return {
          op: "put",
          ok: true,
          revision,
          kv: this.#kvs.get(op.key)!,
          prevKv: op.prevKv ? prev : null,
        };
      }
      case "delete": {
        const deletedKvs = op.prefix ? this.#deletePrefix(op.key) : this.#deleteOne(op.key);
        return {
          op: "delete",
          ok: true,
          revision: deletedKvs.length > 0 ? revision : this.#revision,
          deleted: deletedKvs.length,
          prevKvs: op.prevKv ? deletedKvs : [],
        };
      }
    }
  }

  #put(key: string, value: string, leaseId: number, revision: number): KeyValue | null {
    const prev = this.#kvs.get(key) ?? null;
    const kv: KeyValue = {
      // The stored key string rather than the one just decoded: records and history
      // events then share one string per key, and the decoded one dies young.
      key: prev === null ? key : prev.key,
      value,
      createRevision: prev === null ? revision : prev.createRevision,
      modRevision: revision,
      version: prev === null ? 1 : prev.version + 1,
      leaseId,
    };
    if (prev === null) {
      if (!this.#removedKeys.delete(key)) this.#newKeys.add(key);
    } else if (prev.leaseId !== NO_LEASE && prev.leaseId !== leaseId) {
      this.#leases.get(prev.leaseId)?.keys.delete(key);
    }
    if (leaseId !== NO_LEASE) this.#leases.get(leaseId)!.keys.add(key);
    this.#kvs.set(key, kv);
    this.#pending.push({ type: "put", revision, kv, prevKv: prev });
    return prev;
  }

  #deleteOne(key: string): KeyValue[] {
    if (!this.#kvs.has(key)) return [];
    if (!this.#newKeys.delete(key)) this.#removedKeys.add(key);
    return [this.#removeRecord(key)];
  }

  #deletePrefix(prefix: string): KeyValue[] {
    const sorted = this.#keysInOrder();
    const start = lowerBound(sorted, prefix);
    let end = start;
    while (end < sorted.length && sorted[end].startsWith(prefix)) end++;
    const keys = sorted.splice(start, end - start);
    return keys.map((key) => this.#removeRecord(key));
  }

  /** Removes an existing key's record (not its place in the sorted keys); records its event. */
  #removeRecord(key: string): KeyValue {
    const prev = this.#kvs.get(key);
    if (prev === undefined) throw new Error(`KvStore: sorted keys out of sync for "${key}"`);
    const revision = this.#revision + 1;
    this.#kvs.delete(key);
    if (prev.leaseId !== NO_LEASE) this.#leases.get(prev.leaseId)?.keys.delete(key);
    const tombstone: KeyValue = {
      key,
      value: "",
      createRevision: 0,
      modRevision: revision,
      version: 0,
      leaseId: NO_LEASE,
    };
    this.#pending.push({ type: "delete", revision, kv: tombstone, prevKv: prev });
    return prev;
  }

  /** The keys in order, after merging in the keys created and deleted since the last call. */
  #keysInOrder(): string[] {
    if (this.#newKeys.size === 0 && this.#removedKeys.size === 0) return this.#sortedKeys;
    // The default sort compares UTF-16 code units, as `<` does.
    const added = [...this.#newKeys].sort();
    const removed = this.#removedKeys;
    const old = this.#sortedKeys;
    const merged = new Array<string>(old.length - removed.size + added.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < old.length || j < added.length) {
      if (i < old.length && removed.has(old[i])) {
        i++;
      } else if (j >= added.length || (i < old.length && old[i] < added[j])) {
        merged[k++] = old[i++];
      } else {
        merged[k++] = added[j++];
      }
    }
    if (k !== merged.length) throw new Error(`KvStore: key index merge gave ${k} keys`);
    this.#newKeys = new Set();
    this.#removedKeys = new Set();
    this.#sortedKeys = merged;
    return merged;
  }

  /**
   * Checks every internal invariant and throws on the first violation: the
   * sorted key index matches the records, revisions are consistent, lease key
   * sets match the records' lease ids, and the history ends at the current
   * revision. O(size); meant for tests and the simulator's checkers.
   */
  assertInvariants(): void {
    const fail = (detail: string): never => {
      throw new Error(`KvStore invariant violated: ${detail}`);
    };
    const sorted = this.#keysInOrder();
    if (sorted.length !== this.#kvs.size) fail("sorted key index size differs");
    sorted.forEach((key, i) => {
      if (i > 0 && !(sorted[i - 1] < key)) fail(`keys not strictly sorted at "${key}"`);
      const kv = this.#kvs.get(key) ?? fail(`indexed key "${key}" has no record`);
      if (
        kv.key !== key || kv.version < 1 || kv.createRevision < 1 ||
        kv.createRevision > kv.modRevision || kv.modRevision > this.#revision
      ) fail(`record "${key}" has inconsistent revisions`);
      if (kv.leaseId !== NO_LEASE && !this.#leases.get(kv.leaseId)?.keys.has(key)) {
        fail(`record "${key}" is not in the key set of lease ${kv.leaseId}`);
      }
    });
    for (const lease of this.#leases.values()) {
      for (const key of lease.keys) {
        if (this.#kvs.get(key)?.leaseId !== lease.id) fail(`lease ${lease.id} lists "${key}"`);
      }
      if (lease.renewIndex > this.#appliedIndex) fail(`lease ${lease.id} renewed in the future`);
    }
    if (this.#history.lastRevision !== this.#revision) {
      fail(`history ends at ${this.#history.lastRevision}, revision is ${this.#revision}`);
    }
    if (this.#pending.length !== 0) fail("events pending outside apply");
  }

  /**
   * The whole state (keys, leases, fencing term, watch history and applied
   * index) as checksummed bytes. Equal states give equal bytes.
   */
  snapshot(): Uint8Array {
    return encodeSnapshot(this.#snapshotState());
  }

  /**
   * The bytes {@link KvStore.snapshot} gives now, encoded a bounded step at a
   * time ({@link SnapshotEncoder.step}); changes made meanwhile do not reach it.
   */
  snapshotEncoder(): SnapshotEncoder {
    return new SnapshotEncoder(this.#snapshotState());
  }

  /** The state as of now: fresh arrays of immutable records, events and lease copies. */
  #snapshotState(): SnapshotState {
    return {
      appliedIndex: this.#appliedIndex,
      revision: this.#revision,
      leaseFenceTerm: this.#leaseFenceTerm,
      historyLimitEvents: this.#history.limitEvents,
      historyLimitBytes: this.#history.limitBytes,
      compactRevision: this.#history.compactRevision,
      kvs: this.#keysInOrder().map((key) => this.#kvs.get(key)!),
      leases: [...this.#leases.keys()].sort((a, b) => a - b).map((id) => {
        const { ttlMs, renewIndex, renewedAtMs } = this.#leases.get(id)!;
        return { id, ttlMs, renewIndex, renewedAtMs };
      }),
      events: this.#history.toArray(),
    };
  }

  /**
   * Rebuilds a store from {@link KvStore.snapshot} bytes.
   *
   * @throws {SnapshotError} if the bytes are corrupt, truncated or inconsistent.
   */
  static restore(bytes: Uint8Array): KvStore {
    return KvStore.#fromState(decodeSnapshot(bytes));
  }

  /**
   * {@link KvStore.restore} of snapshot bytes pulled from `source` a buffer
   * at a time (see {@link decodeSnapshotStream}).
   *
   * @throws {SnapshotError} if the bytes are corrupt, truncated or inconsistent.
   */
  static restoreStream(source: ByteSource, options?: DecodeStreamOptions): KvStore {
    return KvStore.#fromState(decodeSnapshotStream(source, options));
  }

  static #fromState(state: SnapshotState): KvStore {
    const limits = {
      limitEvents: state.historyLimitEvents,
      limitBytes: state.historyLimitBytes,
    };
    const store = new KvStore();
    store.#appliedIndex = state.appliedIndex;
    store.#revision = state.revision;
    store.#leaseFenceTerm = state.leaseFenceTerm;
    store.#history = new EventHistory(limits, state.compactRevision, state.events);
    for (const lease of state.leases) store.#leases.set(lease.id, { ...lease, keys: new Set() });
    for (const kv of state.kvs) {
      store.#kvs.set(kv.key, kv);
      store.#sortedKeys.push(kv.key);
      if (kv.leaseId !== NO_LEASE) store.#leases.get(kv.leaseId)!.keys.add(kv.key);
    }
    return store;
  }
}

/** Position of the first of the sorted `keys` not below `key`. */
/**
 * First index from `from` whose key does not start with `prefix`; `keys` is
 * sorted and `keys[from]` is not below `prefix`, so the keys with the prefix
 * from there on are one run.
 */
function prefixEnd(keys: readonly string[], from: number, prefix: string): number {
  let lo = from;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid].startsWith(prefix)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function leaseInfo(lease: Lease): LeaseInfo {
  return {
    id: lease.id,
    ttlMs: lease.ttlMs,
    renewIndex: lease.renewIndex,
    renewedAtMs: lease.renewedAtMs,
    keys: [...lease.keys].sort(),
  };
}
