/**
 * What the etcd store and its watches share: typed errors, and conversions
 * between our state-store types and etcd's wire types.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  type Compare,
  type KeyValue,
  NO_LEASE,
  type TxnOp,
  type WatchEvent,
} from "@safla/core/state";
import type { ICompare, IKeyValue, IRequestOp } from "etcd3";

/** Why an etcd store operation failed. */
export type EtcdStoreErrorCode =
  /** A put named a lease that does not exist (or expired); or revoke of an unknown lease. */
  | "leaseNotFound"
  /**
   * No member could be reached (a read, after its retries; or a request the
   * client refused to send because every member recently failed): nothing
   * was applied, so retrying later is safe.
   */
  | "unavailable"
  /**
   * A write failed in a way that leaves its outcome unknown (timeout, lost
   * connection): it may or may not have been applied. Never retried here.
   */
  | "outcomeUnknown"
  /** etcd refused the request (the message says why). */
  | "rejected";

/** An operation on the etcd store failed; `code` says whether it is safe to retry. */
export class EtcdStoreError extends Error {
  /** Machine-readable reason. */
  readonly code: EtcdStoreErrorCode;

  /** Creates the error. */
  constructor(code: EtcdStoreErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EtcdStoreError";
    this.code = code;
  }
}

export const utf8 = (text: string): Buffer => Buffer.from(text, "utf8");

/** The first key after every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff bytes, or empty: to the end of the keyspace
}

/** The [key, range_end) of a prefix; the empty prefix is every key. */
export function prefixRange(prefix: string): { key: Buffer; range_end: Buffer } {
  if (prefix === "") return { key: Buffer.from([0]), range_end: Buffer.from([0]) };
  const key = utf8(prefix);
  return { key, range_end: prefixEnd(key) };
}

export function toSafeInteger(value: string | number | undefined, field: string): number {
  const n = Number(value ?? 0);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new EtcdStoreError("rejected", `etcd returned ${field}=${value}, beyond 2^53`);
  }
  return n;
}

export function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString("utf8"),
    value: kv.value ? kv.value.toString("utf8") : "",
    createRevision: toSafeInteger(kv.create_revision, "create_revision"),
    modRevision: toSafeInteger(kv.mod_revision, "mod_revision"),
    version: toSafeInteger(kv.version, "version"),
    leaseId: toSafeInteger(kv.lease, "lease"),
  };
}

export function toWatchEvent(
  event: { type: string; kv: IKeyValue; prev_kv?: IKeyValue | null },
): WatchEvent {
  const kv = toKeyValue(event.kv);
  return {
    type: event.type === "Delete" ? "delete" : "put",
    revision: kv.modRevision,
    kv,
    prevKv: event.prev_kv ? toKeyValue(event.prev_kv) : null,
  };
}

export const COMPARE_TARGET = {
  version: "Version",
  createRevision: "Create",
  modRevision: "Mod",
  value: "Value",
} as const;
export const COMPARE_RESULT = {
  equal: "Equal",
  notEqual: "NotEqual",
  less: "Less",
  greater: "Greater",
} as const;

export function toEtcdCompare(compare: Compare): ICompare {
  const base: ICompare = {
    key: utf8(compare.key),
    target: COMPARE_TARGET[compare.target],
    result: COMPARE_RESULT[compare.result],
  };
  switch (compare.target) {
    case "version":
      return { ...base, version: compare.value };
    case "createRevision":
      return { ...base, create_revision: compare.value };
    case "modRevision":
      return { ...base, mod_revision: compare.value };
    case "value":
      return { ...base, value: utf8(compare.value) };
  }
}

export function toEtcdOp(op: TxnOp): IRequestOp {
  switch (op.op) {
    case "put":
      return {
        request_put: {
          key: utf8(op.key),
          value: utf8(op.value),
          lease: op.leaseId ?? NO_LEASE,
          prev_kv: op.prevKv ?? false,
        },
      };
    case "delete":
      return {
        request_delete_range: op.prefix
          ? { ...prefixRange(op.key), prev_kv: op.prevKv ?? false }
          : { key: utf8(op.key), prev_kv: op.prevKv ?? false },
      };
    case "get":
      return { request_range: { key: utf8(op.key) } };
  }
}

/** A positive lease id below 2^53, so it survives JSON and JS numbers (etcd's own ids do not). */
export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
