/**
 * The command language of the replicated key-value state machine: plain data,
 * validated and encoded before anything reaches the Raft log, decoded (and
 * validated again) when a committed entry is applied.
 *
 * Validation happens at the edge so that a bad request is refused with a
 * {@link CommandError} naming the field, instead of being replicated to every
 * node and failing there.
 *
 * @module
 */
import { decodeUtf8 } from "../utf8.ts";
import { readCanonicalCommand } from "./canonical_command.ts";

/** Writes `value` at `key`, optionally attached to a lease. */
export interface PutCommand {
  /** Discriminant. */
  op: "put";
  /** Non-empty key. */
  key: string;
  /** Value (any string, bounded by {@link CommandLimits.maxValueBytes}). */
  value: string;
  /** Lease to attach the key to; omitted (or 0) detaches it from any lease. */
  leaseId?: number;
  /** Whether the result should carry the record before the write. */
  prevKv?: boolean;
}

/** Deletes one key, or every key starting with `key` when `prefix` is set. */
export interface DeleteCommand {
  /** Discriminant. */
  op: "delete";
  /** The key, or the prefix (which may be empty: every key). */
  key: string;
  /** Whether `key` is a prefix. */
  prefix?: boolean;
  /** Whether the result should carry the deleted records. */
  prevKv?: boolean;
}

/** Reads one key through the log (a linearizable read). */
export interface GetCommand {
  /** Discriminant. */
  op: "get";
  /** Non-empty key. */
  key: string;
}

/** Reads up to `limit` keys starting with `prefix`, in key order, through the log. */
export interface RangeCommand {
  /** Discriminant. */
  op: "range";
  /** Prefix; empty means every key. */
  prefix: string;
  /** Maximum number of records returned (at least 1). */
  limit: number;
  /**
   * Start after this key (exclusive): the last key of the previous page,
   * so that a client pages through a large prefix without a gap or a repeat.
   */
  after?: string;
}

/** Which part of a key's record a {@link Compare} looks at. */
export type CompareTarget = "version" | "createRevision" | "modRevision" | "value";

/** How a {@link Compare} relates the record to its operand. */
export type CompareResult = "equal" | "notEqual" | "less" | "greater";

/**
 * One condition of a transaction. A missing key has version, createRevision
 * and modRevision 0; a `value` comparison on a missing key is false.
 */
export type Compare =
  | {
    /** Key whose record is compared. */
    key: string;
    /** Numeric field of the record. */
    target: "version" | "createRevision" | "modRevision";
    /** Relation that must hold between the field and `value`. */
    result: CompareResult;
    /** Operand. */
    value: number;
  }
  | {
    /** Key whose record is compared. */
    key: string;
    /** The stored value. */
    target: "value";
    /** Relation that must hold (strings compare by UTF-16 code units). */
    result: CompareResult;
    /** Operand. */
    value: string;
  };

/** An operation inside a transaction branch. */
export type TxnOp = PutCommand | DeleteCommand | GetCommand;

/**
 * A mini-transaction: if every comparison holds, run `success`, otherwise
 * run `failure`, atomically at one revision. With one comparison and one put
 * it is a compare-and-swap.
 */
export interface TxnCommand {
  /** Discriminant. */
  op: "txn";
  /** Conditions, all of which must hold. */
  compare: Compare[];
  /** Operations run when every condition holds. */
  success: TxnOp[];
  /** Operations run otherwise. */
  failure: TxnOp[];
}

/** Creates a lease with a client-chosen id. */
export interface LeaseGrantCommand {
  /** Discriminant. */
  op: "leaseGrant";
  /** Positive id. */
  leaseId: number;
  /** Time to live after each grant or keep-alive. */
  ttlMs: number;
  /** Proposer's clock, recorded for information only. */
  nowMs: number;
}

/** Deletes a lease and every key attached to it. */
export interface LeaseRevokeCommand {
  /** Discriminant. */
  op: "leaseRevoke";
  /** Lease to revoke. */
  leaseId: number;
}

/** Renews a lease for another TTL. */
export interface LeaseKeepAliveCommand {
  /** Discriminant. */
  op: "leaseKeepAlive";
  /** Lease to renew. */
  leaseId: number;
  /** Proposer's clock, recorded for information only. */
  nowMs: number;
}

/**
 * Expires a lease, proposed by the leader's lessor. Fenced twice: `term`
 * must not be older than any term seen in an applied `leaseExpire`, and
 * `renewIndex` must still be the lease's {@link LeaseInfo.renewIndex}, so an
 * expiry decided before a keep-alive (by a deposed leader, say) does nothing.
 */
export interface LeaseExpireCommand {
  /** Discriminant. */
  op: "leaseExpire";
  /** Lease to expire. */
  leaseId: number;
  /** Raft term of the leader that decided the expiry. */
  term: number;
  /** The lease's renew index the leader saw when it decided. */
  renewIndex: number;
}

/** Every command the state machine applies. */
export type Command =
  | PutCommand
  | DeleteCommand
  | GetCommand
  | RangeCommand
  | TxnCommand
  | LeaseGrantCommand
  | LeaseRevokeCommand
  | LeaseKeepAliveCommand
  | LeaseExpireCommand;

/** The `op` of every command. */
export type CommandOp = Command["op"];

/** Bounds enforced before a command reaches the log. */
export interface CommandLimits {
  /** Largest key, in UTF-8 bytes. */
  maxKeyBytes: number;
  /** Largest value, in UTF-8 bytes. */
  maxValueBytes: number;
  /** Largest sum of key, value and compare operand bytes in one command. */
  maxCommandBytes: number;
  /** Most operations in one transaction branch. */
  maxTxnOps: number;
  /** Most comparisons in one transaction. */
  maxCompares: number;
  /** Largest `limit` of a range read. */
  maxRangeLimit: number;
  /** Shortest lease TTL. */
  minTtlMs: number;
  /** Longest lease TTL. */
  maxTtlMs: number;
}

/** The default bounds: keys up to 4 KiB, values up to 1 MiB. */
export const DEFAULT_COMMAND_LIMITS: Readonly<CommandLimits> = Object.freeze({
  maxKeyBytes: 4 * 1024,
  maxValueBytes: 1024 * 1024,
  maxCommandBytes: 2 * 1024 * 1024,
  maxTxnOps: 128,
  maxCompares: 128,
  maxRangeLimit: 10_000,
  minTtlMs: 1,
  maxTtlMs: 30 * 24 * 60 * 60 * 1000,
});

/**
 * The bounds used when decoding committed log entries: only the shape of a
 * command is checked there. Admission limits are policy that may change
 * between restarts; if they applied to committed entries, replaying the same
 * log under new limits could give a different state.
 */
export const LOG_COMMAND_LIMITS: Readonly<CommandLimits> = Object.freeze({
  maxKeyBytes: Number.MAX_SAFE_INTEGER,
  maxValueBytes: Number.MAX_SAFE_INTEGER,
  maxCommandBytes: Number.MAX_SAFE_INTEGER,
  maxTxnOps: Number.MAX_SAFE_INTEGER,
  maxCompares: Number.MAX_SAFE_INTEGER,
  maxRangeLimit: Number.MAX_SAFE_INTEGER,
  minTtlMs: 1,
  maxTtlMs: Number.MAX_SAFE_INTEGER,
});

/** Why a command was refused. */
export type CommandErrorCode =
  | "notAnObject"
  | "unknownOp"
  | "unknownField"
  | "missingField"
  | "wrongType"
  | "emptyKey"
  | "keyTooLarge"
  | "valueTooLarge"
  | "commandTooLarge"
  | "outOfRange"
  | "tooManyOps"
  | "duplicateKey"
  | "malformedString"
  | "undecodable";

/** A command was refused before reaching the log; `field` is its path, e.g. `success[1].key`. */
export class CommandError extends Error {
  /** Machine-readable reason. */
  readonly code: CommandErrorCode;
  /** Path of the offending field (empty for the command as a whole). */
  readonly field: string;

  /** Creates the error; the message names the field. */
  constructor(code: CommandErrorCode, field: string, detail: string) {
    super(
      field === "" ? `invalid command: ${detail}` : `invalid command field "${field}": ${detail}`,
    );
    this.name = "CommandError";
    this.code = code;
    this.field = field;
  }
}

const NON_ASCII = /[\u0080-\uffff]/;

/**
 * Number of bytes `text` takes in UTF-8, without encoding it. Lone
 * surrogates count as the 3 bytes of the replacement character.
 */
export function utf8ByteLength(text: string): number {
  // Keys and values are mostly ASCII; the regex scan is native and several
  // times faster than the loop below, which every apply and snapshot runs.
  if (!NON_ASCII.test(text)) return text.length;
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

type Fields = Record<string, unknown>;

class Validator {
  commandBytes = 0;
  constructor(readonly limits: Readonly<CommandLimits>) {}

  object(value: unknown, field: string): Fields {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new CommandError("notAnObject", field, "expected an object");
    }
    return value as Fields;
  }

  onlyFields(obj: Fields, allowed: readonly string[], field: string): void {
    for (const name of Object.keys(obj)) {
      if (!allowed.includes(name)) {
        throw new CommandError("unknownField", join(field, name), "not a field of this command");
      }
    }
  }

  present(obj: Fields, name: string, field: string): unknown {
    const value = obj[name];
    if (value === undefined) {
      throw new CommandError("missingField", join(field, name), "is required");
    }
    return value;
  }

  string(obj: Fields, name: string, field: string): string {
    const value = this.present(obj, name, field);
    if (typeof value !== "string") {
      throw new CommandError(
        "wrongType",
        join(field, name),
        `expected a string, got ${kind(value)}`,
      );
    }
    if (!value.isWellFormed()) {
      throw new CommandError("malformedString", join(field, name), "contains a lone surrogate");
    }
    return value;
  }

  key(obj: Fields, name: string, field: string, allowEmpty: boolean): string {
    const key = this.string(obj, name, field);
    if (key === "" && !allowEmpty) {
      throw new CommandError("emptyKey", join(field, name), "is empty");
    }
    const bytes = utf8ByteLength(key);
    if (bytes > this.limits.maxKeyBytes) {
      throw new CommandError(
        "keyTooLarge",
        join(field, name),
        `is ${bytes} bytes, more than the limit of ${this.limits.maxKeyBytes}`,
      );
    }
    this.count(bytes);
    return key;
  }

  value(obj: Fields, name: string, field: string): string {
    const value = this.string(obj, name, field);
    const bytes = utf8ByteLength(value);
    if (bytes > this.limits.maxValueBytes) {
      throw new CommandError(
        "valueTooLarge",
        join(field, name),
        `is ${bytes} bytes, more than the limit of ${this.limits.maxValueBytes}`,
      );
    }
    this.count(bytes);
    return value;
  }

  count(bytes: number): void {
    this.commandBytes += bytes;
    if (this.commandBytes > this.limits.maxCommandBytes) {
      throw new CommandError(
        "commandTooLarge",
        "",
        `keys and values exceed the limit of ${this.limits.maxCommandBytes} bytes`,
      );
    }
  }

  integer(obj: Fields, name: string, field: string, min: number, max: number): number {
    const value = this.present(obj, name, field);
    if (typeof value !== "number" || !Number.isInteger(value)) {
      throw new CommandError(
        "wrongType",
        join(field, name),
        `expected an integer, got ${kind(value)}`,
      );
    }
    if (value < min || value > max) {
      throw new CommandError(
        "outOfRange",
        join(field, name),
        `${value} is outside [${min}, ${max}]`,
      );
    }
    return value;
  }

  flag(obj: Fields, name: string, field: string): boolean {
    const value = obj[name];
    if (value === undefined) return false;
    if (typeof value !== "boolean") {
      throw new CommandError(
        "wrongType",
        join(field, name),
        `expected a boolean, got ${kind(value)}`,
      );
    }
    return value;
  }

  oneOf<T extends string>(obj: Fields, name: string, field: string, allowed: readonly T[]): T {
    const value = this.present(obj, name, field);
    if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
      throw new CommandError(
        "wrongType",
        join(field, name),
        `expected one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`,
      );
    }
    return value as T;
  }

  array(obj: Fields, name: string, field: string, max: number): unknown[] {
    const value = this.present(obj, name, field);
    if (!Array.isArray(value)) {
      throw new CommandError(
        "wrongType",
        join(field, name),
        `expected an array, got ${kind(value)}`,
      );
    }
    if (value.length > max) {
      throw new CommandError(
        "tooManyOps",
        join(field, name),
        `has ${value.length} items, more than the limit of ${max}`,
      );
    }
    return value;
  }
}

const MAX_ID = Number.MAX_SAFE_INTEGER;
const OPS: readonly CommandOp[] = [
  "put",
  "delete",
  "get",
  "range",
  "txn",
  "leaseGrant",
  "leaseRevoke",
  "leaseKeepAlive",
  "leaseExpire",
];
const TXN_OPS: readonly TxnOp["op"][] = ["put", "delete", "get"];
const COMPARE_TARGETS: readonly CompareTarget[] = [
  "version",
  "createRevision",
  "modRevision",
  "value",
];
const COMPARE_RESULTS: readonly CompareResult[] = ["equal", "notEqual", "less", "greater"];

function join(field: string, name: string): string {
  return field === "" ? name : `${field}.${name}`;
}

function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

function validatePut(v: Validator, obj: Fields, field: string): PutCommand {
  v.onlyFields(obj, ["op", "key", "value", "leaseId", "prevKv"], field);
  const key = v.key(obj, "key", field, false);
  const cmd: PutCommand = { op: "put", key, value: v.value(obj, "value", field) };
  if (obj.leaseId !== undefined) {
    const leaseId = v.integer(obj, "leaseId", field, 0, MAX_ID);
    if (leaseId !== 0) cmd.leaseId = leaseId;
  }
  if (v.flag(obj, "prevKv", field)) cmd.prevKv = true;
  return cmd;
}

function validateDelete(v: Validator, obj: Fields, field: string): DeleteCommand {
  v.onlyFields(obj, ["op", "key", "prefix", "prevKv"], field);
  const prefix = v.flag(obj, "prefix", field);
  const cmd: DeleteCommand = { op: "delete", key: v.key(obj, "key", field, prefix) };
  if (prefix) cmd.prefix = true;
  if (v.flag(obj, "prevKv", field)) cmd.prevKv = true;
  return cmd;
}

function validateGet(v: Validator, obj: Fields, field: string): GetCommand {
  v.onlyFields(obj, ["op", "key"], field);
  return { op: "get", key: v.key(obj, "key", field, false) };
}

function validateCompare(v: Validator, raw: unknown, field: string): Compare {
  const obj = v.object(raw, field);
  v.onlyFields(obj, ["key", "target", "result", "value"], field);
  const key = v.key(obj, "key", field, false);
  const target = v.oneOf(obj, "target", field, COMPARE_TARGETS);
  const result = v.oneOf(obj, "result", field, COMPARE_RESULTS);
  if (target === "value") return { key, target, result, value: v.value(obj, "value", field) };
  return { key, target, result, value: v.integer(obj, "value", field, 0, MAX_ID) };
}

function validateBranch(v: Validator, obj: Fields, name: string, field: string): TxnOp[] {
  const path = join(field, name);
  const ops = v.array(obj, name, field, v.limits.maxTxnOps).map((raw, i) => {
    const opField = `${path}[${i}]`;
    const opObj = v.object(raw, opField);
    const op = v.oneOf(opObj, "op", opField, TXN_OPS);
    if (op === "put") return validatePut(v, opObj, opField);
    if (op === "delete") return validateDelete(v, opObj, opField);
    return validateGet(v, opObj, opField);
  });
  // One revision per transaction: two writes to one key in a branch would
  // leave two records with the same modRevision, so etcd's rule applies.
  const putKeys = new Set<string>();
  ops.forEach((op, i) => {
    if (op.op !== "put") return;
    if (putKeys.has(op.key)) {
      throw new CommandError("duplicateKey", `${path}[${i}].key`, "is written twice in one branch");
    }
    putKeys.add(op.key);
  });
  ops.forEach((op, i) => {
    if (op.op !== "delete") return;
    for (const key of putKeys) {
      if (op.prefix ? key.startsWith(op.key) : key === op.key) {
        throw new CommandError(
          "duplicateKey",
          `${path}[${i}].key`,
          `deletes "${key}", which the same branch writes`,
        );
      }
    }
  });
  return ops;
}

function validateWith(v: Validator, raw: unknown): Command {
  const obj = v.object(raw, "");
  const op = obj.op;
  if (op === undefined) throw new CommandError("missingField", "op", "is required");
  if (typeof op !== "string" || !(OPS as readonly string[]).includes(op)) {
    throw new CommandError("unknownOp", "op", `unknown operation ${JSON.stringify(op)}`);
  }
  const limits = v.limits;
  switch (op as CommandOp) {
    case "put":
      return validatePut(v, obj, "");
    case "delete":
      return validateDelete(v, obj, "");
    case "get":
      return validateGet(v, obj, "");
    case "range": {
      v.onlyFields(obj, ["op", "prefix", "limit", "after"], "");
      const range: RangeCommand = {
        op: "range",
        prefix: v.key(obj, "prefix", "", true),
        limit: v.integer(obj, "limit", "", 1, limits.maxRangeLimit),
      };
      if (obj.after !== undefined) range.after = v.key(obj, "after", "", false);
      return range;
    }
    case "txn": {
      v.onlyFields(obj, ["op", "compare", "success", "failure"], "");
      const compare = v.array(obj, "compare", "", limits.maxCompares)
        .map((c, i) => validateCompare(v, c, `compare[${i}]`));
      return {
        op: "txn",
        compare,
        success: validateBranch(v, obj, "success", ""),
        failure: validateBranch(v, obj, "failure", ""),
      };
    }
    case "leaseGrant":
      v.onlyFields(obj, ["op", "leaseId", "ttlMs", "nowMs"], "");
      return {
        op: "leaseGrant",
        leaseId: v.integer(obj, "leaseId", "", 1, MAX_ID),
        ttlMs: v.integer(obj, "ttlMs", "", limits.minTtlMs, limits.maxTtlMs),
        nowMs: v.integer(obj, "nowMs", "", 0, MAX_ID),
      };
    case "leaseRevoke":
      v.onlyFields(obj, ["op", "leaseId"], "");
      return { op: "leaseRevoke", leaseId: v.integer(obj, "leaseId", "", 1, MAX_ID) };
    case "leaseKeepAlive":
      v.onlyFields(obj, ["op", "leaseId", "nowMs"], "");
      return {
        op: "leaseKeepAlive",
        leaseId: v.integer(obj, "leaseId", "", 1, MAX_ID),
        nowMs: v.integer(obj, "nowMs", "", 0, MAX_ID),
      };
    case "leaseExpire":
      v.onlyFields(obj, ["op", "leaseId", "term", "renewIndex"], "");
      return {
        op: "leaseExpire",
        leaseId: v.integer(obj, "leaseId", "", 1, MAX_ID),
        term: v.integer(obj, "term", "", 1, MAX_ID),
        renewIndex: v.integer(obj, "renewIndex", "", 1, MAX_ID),
      };
  }
}

/**
 * Checks that `raw` (e.g. parsed JSON from a client) is a well-formed command
 * within `limits`, and returns it in canonical form: a fresh object with
 * fields in a fixed order and default-valued optional fields omitted.
 *
 * @throws {CommandError} naming the first offending field.
 * @example
 * ```ts
 * import { validateCommand } from "@safla/core/state";
 * const cmd = validateCommand({ op: "put", key: "services/a", value: "{}", leaseId: 0 });
 * console.assert(cmd.op === "put" && !("leaseId" in cmd));
 * ```
 */
export function validateCommand(
  raw: unknown,
  limits: Readonly<CommandLimits> = DEFAULT_COMMAND_LIMITS,
): Command {
  return validateWith(new Validator(limits), raw);
}

/** First byte of an encoded command: JSON text in UTF-8, format version 1. */
const FORMAT_JSON_V1 = 1;

const encoder = new TextEncoder();

/**
 * Encodes a command for a Raft log entry: validates it, then writes a format
 * byte followed by its canonical JSON in UTF-8. Equal commands give equal
 * bytes.
 *
 * @throws {CommandError} if the command is invalid.
 * @example
 * ```ts
 * import { decodeCommand, encodeCommand } from "@safla/core/state";
 * const bytes = encodeCommand({ op: "get", key: "a" });
 * console.assert(decodeCommand(bytes).op === "get");
 * ```
 */
export function encodeCommand(
  cmd: Command,
  limits: Readonly<CommandLimits> = DEFAULT_COMMAND_LIMITS,
): Uint8Array {
  const text = JSON.stringify(validateCommand(cmd, limits));
  const out = new Uint8Array(1 + utf8ByteLength(text));
  out[0] = FORMAT_JSON_V1;
  encoder.encodeInto(text, out.subarray(1));
  return out;
}

/**
 * Decodes (and validates) a command written by {@link encodeCommand}.
 *
 * @throws {CommandError} with code `undecodable` if the bytes are not an
 * encoded command, or another code if the command is invalid.
 */
export function decodeCommand(
  bytes: Uint8Array,
  limits: Readonly<CommandLimits> = DEFAULT_COMMAND_LIMITS,
): Command {
  if (bytes.length === 0) throw new CommandError("undecodable", "", "no bytes");
  if (bytes[0] !== FORMAT_JSON_V1) {
    throw new CommandError("undecodable", "", `unknown format byte ${bytes[0]}`);
  }
  const canonical = readCanonicalCommand(bytes, limits, 1);
  if (canonical !== undefined) return canonical;
  const text = decodeUtf8(bytes, 1);
  if (text === undefined) {
    throw new CommandError("undecodable", "", "not UTF-8 JSON: invalid UTF-8");
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new CommandError("undecodable", "", `not UTF-8 JSON: ${detail}`);
  }
  return validateCommand(raw, limits);
}

/** Whether a command only reads (it never changes the store's revision or leases). */
export function isReadOnly(cmd: Command): boolean {
  if (cmd.op === "get" || cmd.op === "range") return true;
  if (cmd.op !== "txn") return false;
  return [...cmd.success, ...cmd.failure].every((op) => op.op === "get");
}
