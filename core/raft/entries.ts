/**
 * Small helpers over log entries shared by the log, storage and the state
 * machine: size accounting for flow control and the safe-integer bound on
 * indices and terms.
 *
 * @module
 */
import type { Entry } from "./types.ts";

/**
 * Fixed per-entry overhead counted in addition to the payload, so that a flood
 * of empty entries still consumes the message and uncommitted-size budgets.
 */
export const ENTRY_OVERHEAD_BYTES = 16;

/**
 * Size of one entry as counted against `maxSizePerMsgBytes` and storage limits.
 *
 * @example
 * ```ts
 * import { entrySizeBytes } from "@safla/core/raft";
 * const size = entrySizeBytes({ term: 1, index: 1, type: "normal", data: new Uint8Array(10) });
 * console.assert(size === 26);
 * ```
 */
export function entrySizeBytes(entry: Entry): number {
  return entry.data.byteLength + ENTRY_OVERHEAD_BYTES;
}

/** Payload size of entries, as counted against `maxUncommittedEntriesSizeBytes`. */
export function payloadSizeBytes(entries: readonly Entry[]): number {
  let size = 0;
  for (const e of entries) size += e.data.byteLength;
  return size;
}

/**
 * Returns the longest prefix of `entries` whose total size stays within
 * `maxSizeBytes`, but always at least the first entry so that progress is made
 * even when one entry alone exceeds the limit.
 */
export function limitSize(entries: Entry[], maxSizeBytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = entrySizeBytes(entries[0]);
  let n = 1;
  for (; n < entries.length; n++) {
    size += entrySizeBytes(entries[n]);
    if (size > maxSizeBytes) break;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}

/**
 * Thrown when a log index or term leaves the range where JS numbers are exact.
 * Raft would silently break past 2^53, so the core stops instead.
 */
export class UnsafeIntegerError extends RangeError {
  /** What the number is (for example "entry index"). */
  readonly what: string;
  /** The offending value. */
  readonly value: number;
  /** Creates the error for `what` = `value`. */
  constructor(what: string, value: number) {
    super(`${what} must be a non-negative safe integer, got ${value}`);
    this.name = "UnsafeIntegerError";
    this.what = what;
    this.value = value;
  }
}

/** Throws {@link UnsafeIntegerError} unless `value` is a non-negative safe integer. */
export function assertSafeIndex(what: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new UnsafeIntegerError(what, value);
}

/** Thrown when an internal invariant of the Raft core does not hold: a bug, never a user error. */
export class RaftInvariantError extends Error {
  /** Creates the error with a description of the broken invariant. */
  constructor(message: string) {
    super(message);
    this.name = "RaftInvariantError";
  }
}

/** Throws {@link RaftInvariantError} with `message` unless `condition` holds. */
export function invariant(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new RaftInvariantError(typeof message === "string" ? message : message());
  }
}
