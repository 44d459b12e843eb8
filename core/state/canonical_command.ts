/**
 * A fast reader for the exact bytes {@link encodeCommand} writes for the most
 * frequent commands, puts and deletes: `{"op":"put","key":…,"value":…}` with
 * its optional fields in canonical order, in UTF-8. Every node decodes every
 * committed command, and decoding the text, `JSON.parse` and validation were
 * most of the cost of applying a put.
 *
 * The reader accepts only that canonical form with plain strings (no escapes,
 * no control characters, valid UTF-8) within the limits, and returns
 * undefined for anything else, which then takes the general path
 * (`JSON.parse` and validation). For everything it accepts it returns exactly
 * what the general path returns, so the two paths cannot make nodes disagree.
 *
 * @module
 */
import { decodeUtf8 } from "../utf8.ts";
import type { CommandLimits, DeleteCommand, PutCommand } from "./commands.ts";

const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));
const PUT_HEAD = ascii('{"op":"put","key":"');
const DELETE_HEAD = ascii('{"op":"delete","key":"');
const VALUE_FIELD = ascii(',"value":"');
const LEASE_FIELD = ascii(',"leaseId":');
const PREFIX_FIELD = ascii(',"prefix":true');
const PREV_KV_FIELD = ascii(',"prevKv":true');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const CLOSE_BRACE = 0x7d;
/** Digits of the largest safe integer: longer numbers go the general way. */
const MAX_SAFE_DIGITS = 16;

/** Whether `bytes` holds `literal` at `at`. */
function has(bytes: Uint8Array, at: number, literal: Uint8Array): boolean {
  if (at + literal.length > bytes.length) return false;
  for (let i = 0; i < literal.length; i++) if (bytes[at + i] !== literal[i]) return false;
  return true;
}

/**
 * Reads the end of a canonical command from `at`: the optional prevKv flag and
 * the closing brace. Whether the flag is set, or undefined if anything else
 * follows.
 */
function closingPrevKv(json: Uint8Array, at: number): boolean | undefined {
  const prevKv = has(json, at, PREV_KV_FIELD);
  const end = prevKv ? at + PREV_KV_FIELD.length : at;
  return end === json.length - 1 && json[end] === CLOSE_BRACE ? prevKv : undefined;
}

/**
 * Index of the closing quote of the plain JSON string whose content starts
 * at `from`, or -1 if it holds an escape or a control character (which
 * JSON.parse would unescape or reject) or never closes. A quote byte never
 * occurs inside a multi-byte UTF-8 sequence.
 */
function plainStringEnd(bytes: Uint8Array, from: number): number {
  for (let i = from; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === QUOTE) return i;
    if (b === BACKSLASH || b < 0x20) return -1;
  }
  return -1;
}

/**
 * Reads a canonical put or delete from the JSON text in `json` from byte
 * `from` to the end; undefined when it is anything else or breaks a limit
 * (the general path then decides, and names the error).
 */
export function readCanonicalCommand(
  json: Uint8Array,
  limits: Readonly<CommandLimits>,
  from = 0,
): PutCommand | DeleteCommand | undefined {
  if (has(json, from, PUT_HEAD)) return readPut(json, limits, from);
  if (has(json, from, DELETE_HEAD)) return readDelete(json, limits, from);
  return undefined;
}

function readPut(
  json: Uint8Array,
  limits: Readonly<CommandLimits>,
  from: number,
): PutCommand | undefined {
  const keyStart = from + PUT_HEAD.length;
  const keyEnd = plainStringEnd(json, keyStart);
  if (keyEnd <= keyStart || !has(json, keyEnd + 1, VALUE_FIELD)) return undefined;
  const valueStart = keyEnd + 1 + VALUE_FIELD.length;
  const valueEnd = plainStringEnd(json, valueStart);
  if (valueEnd < 0) return undefined;
  let at = valueEnd + 1;
  let leaseId = 0;
  if (has(json, at, LEASE_FIELD)) {
    at += LEASE_FIELD.length;
    const digitsStart = at;
    // Canonical integers have no sign, no leading zero and no fraction; a lease id of 0 is omitted.
    if (!(json[at] >= 0x31 && json[at] <= 0x39)) return undefined;
    for (; at < json.length && json[at] >= 0x30 && json[at] <= 0x39; at++) {
      leaseId = leaseId * 10 + (json[at] - 0x30);
    }
    if (at - digitsStart > MAX_SAFE_DIGITS || !Number.isSafeInteger(leaseId)) return undefined;
  }
  const prevKv = closingPrevKv(json, at);
  if (prevKv === undefined) return undefined;
  const keyBytes = keyEnd - keyStart;
  const valueBytes = valueEnd - valueStart;
  if (
    keyBytes > limits.maxKeyBytes || valueBytes > limits.maxValueBytes ||
    keyBytes + valueBytes > limits.maxCommandBytes
  ) return undefined;
  const key = decodeUtf8(json, keyStart, keyEnd);
  const value = decodeUtf8(json, valueStart, valueEnd);
  if (key === undefined || value === undefined) return undefined;
  const cmd: PutCommand = { op: "put", key, value };
  if (leaseId !== 0) cmd.leaseId = leaseId;
  if (prevKv) cmd.prevKv = true;
  return cmd;
}

function readDelete(
  json: Uint8Array,
  limits: Readonly<CommandLimits>,
  from: number,
): DeleteCommand | undefined {
  const keyStart = from + DELETE_HEAD.length;
  const keyEnd = plainStringEnd(json, keyStart);
  if (keyEnd < 0) return undefined;
  let at = keyEnd + 1;
  let prefix = false;
  if (has(json, at, PREFIX_FIELD)) {
    at += PREFIX_FIELD.length;
    prefix = true;
  }
  const prevKv = closingPrevKv(json, at);
  if (prevKv === undefined) return undefined;
  const keyBytes = keyEnd - keyStart;
  // Only a prefix may be empty.
  if (keyBytes === 0 && !prefix) return undefined;
  if (keyBytes > limits.maxKeyBytes || keyBytes > limits.maxCommandBytes) return undefined;
  const key = decodeUtf8(json, keyStart, keyEnd);
  if (key === undefined) return undefined;
  const cmd: DeleteCommand = { op: "delete", key };
  if (prefix) cmd.prefix = true;
  if (prevKv) cmd.prevKv = true;
  return cmd;
}
