/**
 * A fast, sound search for the commonest register anomalies (stale reads,
 * lost writes, reads of values never written, reads from the future, one
 * value seen at two versions) on one key whose written values are unique. It needs no search over orders, so it
 * finds these violations even in histories too large or too uncertain
 * (many timeouts) for the exhaustive checker to finish.
 *
 * The argument, in the style of Gibbons and Korach: with unique values, a
 * read of `v` is explained only by the one write `W` of `v`. Each operation
 * takes effect at some instant no later than its "effective completion":
 * its completion, or the completion of the first operation that observed
 * its effect (a read of its value). If a write `X` of another value is
 * invoked after `W` effectively completed and itself effectively completed
 * before the read was invoked, then `W < X < read` in every linearization,
 * and the read cannot return `v`.
 *
 * @module
 */

import type { KvOperation } from "./kv_model.ts";

/** A write that sets the key to a known value, or deletes it (`value` null). */
interface Write {
  /** Position in the key's sub-history. */
  at: number;
  value: string | null;
  invokeTime: number;
  /** Latest instant at which it had taken effect, or Infinity when it may never have. */
  effectiveCompleteTime: number;
  /** The operation whose completion gave `effectiveCompleteTime` (itself or a read). */
  witnessedBy: number;
}

/** Where a write is known to have taken effect, as positions in the key's sub-history. */
export interface CertainWrite {
  /** The write. */
  at: number;
  /** The operation whose completion shows the write had taken effect (the write or a read). */
  certainBy: number;
}

/** A read that no order can explain, and why (positions in the key's sub-history). */
export type ReadViolation =
  | { kind: "neverWritten"; read: number; witness: number[] }
  | { kind: "readFromFuture"; read: number; writer: number; witness: number[] }
  | {
    kind: "versionChanged";
    /** Two reads of one value that saw different versions. */
    reads: [number, number];
    writer: number;
    witness: number[];
  }
  | {
    kind: "staleRead";
    read: number;
    /** The one write of the value read. */
    writer: CertainWrite;
    /** A write of another value, certainly after `writer` and before the read. */
    overwriter: CertainWrite;
    witness: number[];
  };

/**
 * Finds a read that no order can explain on one key whose written values
 * are unique; undefined otherwise (which proves nothing either way). Keys
 * with appends, or with a value written twice, are left to the exhaustive
 * checker. `witness` lists the operations the argument uses, in order.
 */
export function findReadViolation(ops: readonly KvOperation[]): ReadViolation | undefined {
  if (ops.some((op) => op.input.op === "append")) return undefined;
  const writerOf = new Map<string, number>();
  for (let i = 0; i < ops.length; i++) {
    const input = ops[i].input;
    if (input.op !== "put" && input.op !== "cas") continue;
    if (writerOf.has(input.value)) return undefined;
    writerOf.set(input.value, i);
  }
  const reads: number[] = [];
  ops.forEach((op, i) => {
    if (op.input.op === "get" && op.output !== undefined) reads.push(i);
  });

  // A write's effect is certain by its completion or by the first read of its value.
  const firstReadOf = new Map<string, number>();
  for (const r of reads) {
    const value = ops[r].output?.value;
    if (typeof value !== "string") continue;
    const seen = firstReadOf.get(value);
    if (seen === undefined || completeOf(ops[r]) < completeOf(ops[seen])) firstReadOf.set(value, r);
  }
  const writes: Write[] = [];
  ops.forEach((op, i) => {
    const w = certainWrite(op, i, firstReadOf, ops);
    if (w !== undefined) writes.push(w);
  });
  writes.sort((a, b) => a.invokeTime - b.invokeTime);
  // suffixBest[k]: the write among writes[k..] that effectively completed first.
  const suffixBest = new Array<number>(writes.length + 1).fill(-1);
  for (let k = writes.length - 1; k >= 0; k--) {
    const later = suffixBest[k + 1];
    suffixBest[k] = later !== -1 &&
        writes[later].effectiveCompleteTime <= writes[k].effectiveCompleteTime
      ? later
      : k;
  }

  for (const r of reads) {
    const value = ops[r].output?.value;
    if (typeof value !== "string") continue;
    const w = writerOf.get(value);
    if (w === undefined) return { kind: "neverWritten", read: r, witness: [r] };
    if (ops[w].invokeTime > completeOf(ops[r])) {
      return { kind: "readFromFuture", read: r, writer: w, witness: [r, w].sort((a, b) => a - b) };
    }
  }
  // While the key holds `v`, its version cannot change: any write replaces the
  // value, and no other write can put `v` back.
  const versionRead = new Map<string, number>();
  for (const r of reads) {
    const { value, version } = ops[r].output ?? {};
    if (typeof value !== "string" || version === undefined) continue;
    const first = versionRead.get(value);
    if (first === undefined) {
      versionRead.set(value, r);
      continue;
    }
    if (ops[first].output?.version === version) continue;
    const writer = writerOf.get(value) as number;
    return {
      kind: "versionChanged",
      reads: [first, r],
      writer,
      witness: [writer, first, r].sort((a, b) => a - b),
    };
  }
  for (const r of reads) {
    const read = ops[r];
    const value = read.output?.value;
    if (typeof value !== "string") continue;
    const w = writerOf.get(value);
    if (w === undefined) continue;
    const written = certainWrite(ops[w], w, firstReadOf, ops) ??
      {
        at: w,
        value,
        invokeTime: ops[w].invokeTime,
        effectiveCompleteTime: completeOf(read),
        witnessedBy: r,
      };
    // The first write invoked after `written` took effect...
    let lo = 0;
    let hi = writes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (writes[mid].invokeTime > written.effectiveCompleteTime) hi = mid;
      else lo = mid + 1;
    }
    const best = suffixBest[lo];
    // ...and, of those, the one certain earliest: is it certain before the read began?
    if (best === -1 || writes[best].effectiveCompleteTime >= read.invokeTime) continue;
    const x = writes[best];
    const witness = new Set([written.at, written.witnessedBy, x.at, x.witnessedBy, r]);
    return {
      kind: "staleRead",
      read: r,
      writer: { at: written.at, certainBy: written.witnessedBy },
      overwriter: { at: x.at, certainBy: x.witnessedBy },
      witness: [...witness].sort((a, b) => a - b),
    };
  }
  return undefined;
}

function completeOf(op: KvOperation): number {
  return op.completeTime ?? Infinity;
}

/** The write `op` certainly made, if it certainly made one, with when it was certain. */
function certainWrite(
  op: KvOperation,
  at: number,
  firstReadOf: ReadonlyMap<string, number>,
  ops: readonly KvOperation[],
): Write | undefined {
  const input = op.input;
  let value: string | null;
  if (input.op === "delete") {
    if (op.output === undefined) return undefined;
    value = null;
  } else if (input.op === "put" || input.op === "cas") {
    value = input.value;
  } else {
    return undefined;
  }
  let effectiveCompleteTime = Infinity;
  let witnessedBy = at;
  const succeeded = input.op !== "cas" || op.output?.succeeded === true;
  if (op.output !== undefined && succeeded) effectiveCompleteTime = completeOf(op);
  if (value !== null) {
    const reader = firstReadOf.get(value);
    if (reader !== undefined && completeOf(ops[reader]) < effectiveCompleteTime) {
      effectiveCompleteTime = completeOf(ops[reader]);
      witnessedBy = reader;
    }
  }
  if (effectiveCompleteTime === Infinity) return undefined;
  return { at, value, invokeTime: op.invokeTime, effectiveCompleteTime, witnessedBy };
}
