/**
 * Canonical JSON and a pure 64-bit content hash (FNV-1a), so that two
 * replicas announcing the same catalog get the same fingerprint on every
 * gateway node, whatever order their keys arrived in.
 *
 * @module
 */

/** A JSON value as it travels in MCP messages. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

/** A JSON object. */
export interface JsonObject {
  /** Any member. */
  [key: string]: JsonValue;
}

/** Thrown when a value cannot be written as canonical JSON. */
export class CanonicalJsonError extends Error {
  /** Dotted path to the offending value, e.g. `"tools.0.inputSchema"`. */
  readonly path: string;

  /** Creates the error for the value at `path`. */
  constructor(path: string, reason: string) {
    super(`canonical JSON: value at "${path || "(root)"}" ${reason}`);
    this.name = "CanonicalJsonError";
    this.path = path;
  }
}

/** Deepest nesting accepted; bounds the recursion on hostile catalogs. */
export const MAX_JSON_DEPTH = 64;

/**
 * Writes `value` as JSON with object keys sorted by code unit and no
 * whitespace. Object properties whose value is `undefined` are left out (as
 * `JSON.stringify` does); non-finite numbers, functions, symbols, bigints and
 * nesting deeper than {@link MAX_JSON_DEPTH} throw {@link CanonicalJsonError}.
 *
 * @example
 * ```ts
 * import { canonicalJson } from "./content_hash.ts";
 * console.assert(canonicalJson({ b: 1, a: [true, null] }) === '{"a":[true,null],"b":1}');
 * ```
 */
export function canonicalJson(value: unknown): string {
  // The path is kept as a stack and joined only for an error message.
  const path: string[] = [];
  return write(value, path);
}

function write(value: unknown, path: string[]): string {
  if (path.length > MAX_JSON_DEPTH) fail(path, `nests deeper than ${MAX_JSON_DEPTH}`);
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value)) fail(path, `is not finite (${value})`);
      return JSON.stringify(value);
    case "string":
      return JSON.stringify(value);
    case "object":
      break;
    default:
      fail(path, `has type ${typeof value}, not JSON`);
  }
  let out: string;
  if (Array.isArray(value)) {
    out = "[";
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (i > 0) out += ",";
      path.push(String(i));
      // JSON.stringify writes holes and undefined array items as null.
      out += item === undefined ? "null" : write(item, path);
      path.pop();
    }
    return out + "]";
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort(compareCodeUnits);
  out = "{";
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) continue;
    if (out.length > 1) out += ",";
    path.push(key);
    out += JSON.stringify(key) + ":" + write(item, path);
    path.pop();
  }
  return out + "}";
}

function fail(path: string[], reason: string): never {
  throw new CanonicalJsonError(path.join("."), reason);
}

/** Orders strings by UTF-16 code units, independent of locale. */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const FNV_OFFSET_HI = 0xcbf29ce4;
const FNV_OFFSET_LO = 0x84222325;
// The 64-bit FNV prime is 2^40 + 0x1b3; multiplying by it is a shift plus a small product.
const FNV_PRIME_LOW = 0x1b3;

const encoder = new TextEncoder();

/**
 * FNV-1a 64 of the UTF-8 bytes of `text` (or of `bytes`), as 16 lowercase hex
 * digits. Not cryptographic: it detects change, it does not resist forgery.
 *
 * @example
 * ```ts
 * import { fnv1a64 } from "./content_hash.ts";
 * console.assert(fnv1a64("a") === "af63dc4c8601ec8c");
 * ```
 */
export function fnv1a64(input: string | Uint8Array): string {
  const bytes = typeof input === "string" ? encoder.encode(input) : input;
  let hi = FNV_OFFSET_HI;
  let lo = FNV_OFFSET_LO;
  for (let i = 0; i < bytes.length; i++) {
    lo = (lo ^ bytes[i]) >>> 0;
    // (hi:lo) * (2^40 + 0x1b3) mod 2^64, in 32-bit halves; every product stays below 2^53.
    const loProduct = lo * FNV_PRIME_LOW;
    const carry = Math.floor(loProduct / 0x100000000);
    const hiProduct = hi * FNV_PRIME_LOW + carry + (lo & 0xffffff) * 0x100;
    lo = loProduct >>> 0;
    hi = hiProduct >>> 0;
  }
  return hex32(hi) + hex32(lo);
}

function hex32(n: number): string {
  return n.toString(16).padStart(8, "0");
}

/**
 * The content hash of a JSON value: {@link fnv1a64} of its {@link canonicalJson}.
 *
 * @example
 * ```ts
 * import { contentHash } from "./content_hash.ts";
 * console.assert(contentHash({ a: 1, b: 2 }) === contentHash({ b: 2, a: 1 }));
 * ```
 */
export function contentHash(value: unknown): string {
  return fnv1a64(canonicalJson(value));
}
