/**
 * The KV operations of a node's client API, shared by the REST routes
 * (`/admin/kv/...`) and the KV session (`/admin/kv-session`, a WebSocket):
 * the same validation, the same store calls, and the same status codes and
 * JSON bodies whichever way a request arrives.
 *
 * @module
 */
import { CommandError, CompactedRevisionError, WatchRequestError } from "@safla/core/state";
import {
  MemberAddressError,
  MembershipChangeError,
  RequestTimeoutError,
} from "@safla/transports/host";
import type { RaftStore } from "../../store/raft/raft_store.ts";
import { NoQuorumError, OverloadedError, StoreCommandError } from "../errors.ts";
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

/** One validated KV operation. */
export type KvOperation =
  | { op: "put"; key: string; value: string; leaseId?: number }
  | { op: "get"; key: string; consistency: ReadConsistency }
  | { op: "delete"; key: string; prefix: boolean }
  | { op: "range"; prefix: string; limit?: number; consistency: ReadConsistency };

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
export async function runKvOperation(store: RaftStore, operation: KvOperation): Promise<KvReply> {
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
      case "delete": {
        const reply = await store.delete(operation.key, { prefix: operation.prefix });
        return {
          status: 200,
          body: { revision: reply.revision, deleted: reply.prev.length, prev: reply.prev },
        };
      }
      case "range": {
        const reply = await store.range(operation.prefix, {
          limit: operation.limit,
          consistency: operation.consistency,
        });
        return { status: 200, body: reply };
      }
    }
  } catch (error) {
    const reply = errorReply(error);
    if (reply) return reply;
    throw error;
  }
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
