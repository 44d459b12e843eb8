/**
 * One slice request as a store transaction: compare the bucket record's
 * revision with the one read, write the record minus the slice if it still
 * matches, read the record back if it does not (so the next attempt starts
 * from the current one without another read). The simulator and the gateway
 * both build their grants here.
 *
 * @example
 * ```ts
 * import { sliceTxn } from "./grant_txn.ts";
 * const t = sliceTxn("/gateway/quota/0/a", undefined, { ratePerSec: 1, burst: 5 }, 0, 2);
 * console.assert(t.count === 2 && t.compare[0].value === 0);
 * ```
 *
 * @module
 */
import type { Compare, KeyValue, TxnOp } from "../state/mod.ts";
import {
  decodeBucket,
  encodeBucket,
  grantSlice,
  minimumSliceTokens,
  msUntilTokens,
  type QuotaRate,
} from "./bucket.ts";

/** The transaction for one slice and what it grants if it succeeds. */
export interface SliceTxn {
  /** Tokens granted when the transaction succeeds (0: the bucket is empty, send nothing). */
  readonly count: number;
  /** When `count` is 0: how long until a token is due, ms. */
  readonly retryInMs: number;
  /** The record the transaction writes. */
  readonly value: string;
  /** The record must be unchanged since it was read. */
  readonly compare: Compare[];
  /** Writes the record minus the slice. */
  readonly success: TxnOp[];
  /** Reads the record, for the next attempt. */
  readonly failure: TxnOp[];
}

/**
 * Builds the transaction granting up to `wanted` tokens (none below
 * {@link minimumSliceTokens}) of the record `current` (undefined: none yet).
 */
export function sliceTxn(
  key: string,
  current: Pick<KeyValue, "value" | "modRevision"> | undefined,
  rate: QuotaRate,
  nowMs: number,
  wanted: number,
): SliceTxn {
  const state = current === undefined ? undefined : decodeBucket(current.value);
  const minimum = minimumSliceTokens(wanted);
  const grant = grantSlice(state, rate, nowMs, wanted, minimum);
  const value = encodeBucket(grant.state);
  return {
    count: grant.count,
    retryInMs: grant.count > 0 ? 0 : msUntilTokens(grant.state, rate, nowMs, minimum),
    value,
    compare: [{ key, target: "modRevision", result: "equal", value: current?.modRevision ?? 0 }],
    success: [{ op: "put", key, value }],
    failure: [{ op: "get", key }],
  };
}
