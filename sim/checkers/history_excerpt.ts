/**
 * The client operations around a linearizability violation: every operation
 * on the violating key whose interval overlaps the span of the witness, so a
 * reader sees what else ran concurrently, not only the few operations the
 * checker kept.
 *
 * @example
 * ```ts
 * import { operationsAround } from "./history_excerpt.ts";
 * const lines = operationsAround([
 *   { clientId: 1, key: "k", input: { op: "put", value: "a" }, output: {},
 *     invokeTime: 0, completeTime: 5 },
 * ], "k", [0]);
 * console.assert(lines[0].includes("put"));
 * ```
 *
 * @module
 */

import { type KvOperation, kvRegisterModel } from "./kv_model.ts";
import { formatOperation } from "./linearizability.ts";

/** Operations an excerpt shows at most (the nearest to the witness first). */
export const MAX_EXCERPT_OPERATIONS = 30;

/**
 * Renders the operations on `key` that overlap `[first witness invoke, last
 * witness completion]`, in invocation order, each marked `*` when it is part
 * of the witness. `witness` holds positions in `history`.
 */
export function operationsAround(
  history: readonly KvOperation[],
  key: string,
  witness: readonly number[],
  maxOperations = MAX_EXCERPT_OPERATIONS,
): string[] {
  if (witness.length === 0) return [];
  const inWitness = new Set(witness);
  let fromTime = Infinity;
  let toTime = -Infinity;
  for (const h of witness) {
    const op = history[h];
    fromTime = Math.min(fromTime, op.invokeTime);
    toTime = Math.max(toTime, op.completeTime ?? op.invokeTime);
  }
  const witnessTimes = witness.map((h) => history[h].invokeTime);
  const distance = (t: number): number => Math.min(...witnessTimes.map((w) => Math.abs(t - w)));
  const near = history
    .map((op, h) => ({ op, h }))
    .filter(({ op, h }) =>
      op.key === key &&
      (inWitness.has(h) || (op.invokeTime <= toTime && (op.completeTime ?? Infinity) >= fromTime))
    )
    // Past the bound, keep the witness and the operations closest in time to one of its own.
    .sort((a, b) =>
      Number(inWitness.has(b.h)) - Number(inWitness.has(a.h)) ||
      distance(a.op.invokeTime) - distance(b.op.invokeTime)
    )
    .slice(0, maxOperations)
    .sort((a, b) => a.op.invokeTime - b.op.invokeTime || a.h - b.h);
  const model = kvRegisterModel(true);
  return near.map(({ op, h }) =>
    `${inWitness.has(h) ? "*" : " "} #${h} ${formatOperation(model, op)}`
  );
}
