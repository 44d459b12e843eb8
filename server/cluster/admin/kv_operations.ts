/**
 * The KV operations of a node's client API, shared by the REST routes
 * (`/admin/kv/...`) and the KV session (`/admin/kv-session`, a WebSocket):
 * the same validation, the same store calls, and the same status codes and
 * JSON bodies whichever way a request arrives.
 *
 * @module
 */
import {
  CommandError,
  CompactedRevisionError,
  type KeyValue,
  utf8ByteLength,
  WatchRequestError,
} from "@safla/core/state";
import {
  MemberAddressError,
  MembershipChangeError,
  RequestTimeoutError,
} from "@safla/transports/host";
import type { UserKv } from "../../control/user_keys.ts";
import { NoQuorumError, OverloadedError, StoreCommandError } from "../../store/raft/errors.ts";
import { OutcomeUnknownError } from "@safla/core/resilience";
import type { ReadConsistency } from "../../store/types.ts";

/** A request field is missing or wrong. */
export class BadRequestError extends Error {
  /** Names the field and the problem. */
  constructor(readonly field: string, detail: string) {
    super(`invalid "${field}": ${detail}`);
    this.name = "BadRequestError";
  }
}

/** Records in a range page when the client gives no `limit` (etcd clients commonly page by 1000). */
export const DEFAULT_PAGE_LIMIT = 1_000;
/** Largest `limit` of a range page. */
export const MAX_PAGE_LIMIT = 10_000;
/**
 * Most key and value bytes in one reply's records: a page stops early at this
 * size (`more` stays true), so a prefix of large values cannot make one huge body.
 */
export const MAX_REPLY_RECORD_BYTES = 4 * 1024 * 1024;
/** Most records a delete returns when asked for them with `prevKv`. */
export const MAX_DELETE_PREV_RECORDS = 1_000;

/** One validated KV operation. */
export type KvOperation =
  | { op: "put"; key: string; value: string; leaseId?: number }
  | { op: "get"; key: string; consistency: ReadConsistency }
  | { op: "delete"; key: string; prefix: boolean; prevKv: boolean }
  | {
    op: "range";
    prefix: string;
    limit?: number;
    after?: string;
    consistency: ReadConsistency;
  };

/** An HTTP status and the JSON body that goes with it. */
export interface KvReply {
  /** HTTP status code (200 on success). */
  status: number;
  /** JSON body. */
  body: unknown;
}

/** Checks a key. */
export function checkKey(key: unknown, field = "key"): string {
  if (typeof key !== "string") throw new BadRequestError(field, "expected a string");
  if (key.length === 0) throw new BadRequestError(field, "must not be empty");
  return key;
}

/** Parses a `consistency` parameter (default linearizable). */
export function consistencyParam(raw: unknown): ReadConsistency {
  if (raw === undefined || raw === "linearizable") return "linearizable";
  if (raw === "serializable") return "serializable";
  throw new BadRequestError(
    "consistency",
    `expected "linearizable" or "serializable", got "${raw}"`,
  );
}

/** Checks a range page size: a positive integer up to {@link MAX_PAGE_LIMIT}. */
export function pageLimit(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  if (!Number.isSafeInteger(raw) || (raw as number) < 1 || (raw as number) > MAX_PAGE_LIMIT) {
    throw new BadRequestError("limit", `expected an integer from 1 to ${MAX_PAGE_LIMIT}`);
  }
  return raw as number;
}

/** Parses an optional boolean flag given as a query string. */
export function booleanParam(field: string, raw: string | undefined): boolean {
  if (raw === undefined || raw === "false") return false;
  if (raw === "true") return true;
  throw new BadRequestError(field, `expected "true" or "false", got "${raw}"`);
}

/** Parses an optional positive integer given as a query string. */
export function positiveIntParam(field: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new BadRequestError(field, `expected a positive integer, got "${raw}"`);
  }
  return value;
}

/** Validates the fields of a put (`value`, optional `leaseId`), refusing any other besides `allowed`. */
export function putOperation(
  key: string,
  body: Record<string, unknown>,
  allowed: readonly string[] = [],
): KvOperation {
  if (typeof body.value !== "string") throw new BadRequestError("value", "expected a string");
  if (
    body.leaseId !== undefined &&
    (!Number.isSafeInteger(body.leaseId) || (body.leaseId as number) < 0)
  ) {
    throw new BadRequestError("leaseId", "expected a non-negative integer");
  }
  for (const field of Object.keys(body)) {
    if (field !== "value" && field !== "leaseId" && !allowed.includes(field)) {
      throw new BadRequestError(field, "unknown field");
    }
  }
  const operation: KvOperation = { op: "put", key, value: body.value };
  if (body.leaseId !== undefined) operation.leaseId = body.leaseId as number;
  return operation;
}

/** Runs a validated operation against the store; errors the client can act on become replies. */
export async function runKvOperation(store: UserKv, operation: KvOperation): Promise<KvReply> {
  try {
    switch (operation.op) {
      case "put": {
        const reply = await store.put(operation.key, operation.value, {
          leaseId: operation.leaseId,
        });
        return { status: 200, body: reply };
      }
      case "get": {
        const kv = await store.get(operation.key, operation.consistency);
        if (!kv) {
          return {
            status: 404,
            body: { error: `key "${operation.key}" not found`, key: operation.key },
          };
        }
        return { status: 200, body: { kv } };
      }
      case "delete":
        return await runDelete(store, operation);
      case "range": {
        const reply = await store.range(operation.prefix, {
          limit: operation.limit ?? DEFAULT_PAGE_LIMIT,
          after: operation.after,
          consistency: operation.consistency,
        });
        const kvs = withinReplyBytes(reply.kvs);
        const more = reply.more || kvs.length < reply.kvs.length;
        const body: Record<string, unknown> = { kvs, revision: reply.revision, more };
        // The continuation: ask again with `after` set to it (etcd clients use the last key + 1).
        if (more) body.next = kvs[kvs.length - 1].key;
        return { status: 200, body };
      }
    }
  } catch (error) {
    const reply = errorReply(error);
    if (reply) return reply;
    throw error;
  }
}

/** The first records whose keys and values fit {@link MAX_REPLY_RECORD_BYTES}, at least one. */
function withinReplyBytes(kvs: readonly KeyValue[]): KeyValue[] {
  let sizeBytes = 0;
  for (let i = 0; i < kvs.length; i++) {
    sizeBytes += utf8ByteLength(kvs[i].key) + utf8ByteLength(kvs[i].value);
    if (sizeBytes > MAX_REPLY_RECORD_BYTES && i > 0) return kvs.slice(0, i);
  }
  return kvs as KeyValue[];
}

/**
 * A delete answers the count and revision. The deleted records come back
 * only with `prevKv`, and only for a prefix small enough to return: one that
 * holds more than {@link MAX_DELETE_PREV_RECORDS} records or
 * {@link MAX_REPLY_RECORD_BYTES} is refused with 413 before anything is deleted.
 */
async function runDelete(
  store: UserKv,
  operation: Extract<KvOperation, { op: "delete" }>,
): Promise<KvReply> {
  if (operation.prevKv && operation.prefix) {
    const probe = await store.range(operation.key, { limit: MAX_DELETE_PREV_RECORDS + 1 });
    if (
      probe.more || probe.kvs.length > MAX_DELETE_PREV_RECORDS ||
      withinReplyBytes(probe.kvs).length < probe.kvs.length
    ) {
      return {
        status: 413,
        body: {
          error: `the prefix holds more than ${MAX_DELETE_PREV_RECORDS} records or ` +
            `${MAX_REPLY_RECORD_BYTES} bytes, too many to return; delete without prevKv ` +
            `(the reply then counts them) or list them page by page first`,
          field: "prevKv",
        },
      };
    }
  }
  const reply = await store.delete(operation.key, {
    prefix: operation.prefix,
    prevKv: operation.prevKv,
  });
  const body: Record<string, unknown> = { revision: reply.revision, deleted: reply.deleted };
  if (operation.prevKv) {
    // Keys written under the prefix between the probe and the delete may
    // still push the records past the bound: cut, and say so.
    const prev = withinReplyBytes(reply.prev.slice(0, MAX_DELETE_PREV_RECORDS));
    body.prev = prev;
    if (prev.length < reply.prev.length) body.prevTruncated = true;
  }
  return { status: 200, body };
}

/** The status and body for an error a client can act on; undefined for a bug. */
export function errorReply(error: unknown): KvReply | undefined {
  if (error instanceof CommandError) {
    return { status: 400, body: { error: error.message, field: error.field, code: error.code } };
  }
  if (
    error instanceof BadRequestError || error instanceof WatchRequestError ||
    error instanceof MemberAddressError
  ) {
    return { status: 400, body: { error: error.message, field: error.field } };
  }
  if (error instanceof CompactedRevisionError) {
    return {
      status: 400,
      body: {
        error: error.message,
        field: "startRevision",
        compactRevision: error.compactRevision,
      },
    };
  }
  if (error instanceof NoQuorumError) {
    return { status: 503, body: { error: error.message, retryable: true } };
  }
  if (error instanceof OutcomeUnknownError || error instanceof RequestTimeoutError) {
    return { status: 504, body: { error: error.message, outcomeUnknown: true } };
  }
  if (error instanceof OverloadedError) return { status: 429, body: { error: error.message } };
  if (error instanceof MembershipChangeError) {
    const busy = error.error.code === "ProposalDropped";
    return { status: busy ? 409 : 503, body: { error: error.message, code: error.error.code } };
  }
  if (error instanceof StoreCommandError) {
    return { status: 409, body: { error: error.message, code: error.code } };
  }
  return undefined;
}
