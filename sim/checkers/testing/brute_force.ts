/**
 * A reference for tests: decides linearizability of tiny KV histories by
 * trying every order, with none of the search's optimisations.
 *
 * @module
 */

import fc from "fast-check";
import {
  type KvInput,
  type KvOperation,
  type KvOutput,
  type KvRegister,
  kvRegisterModel,
} from "../kv_model.ts";

/**
 * Tries every order that respects real time; indeterminate operations may
 * also never happen. Versions are checked when some operation observes them.
 */
export function bruteForceLinearizable(history: readonly KvOperation[]): boolean {
  const trackVersion = history.some((op) =>
    (op.input.op === "get" && op.output?.version !== undefined) ||
    (op.input.op === "cas" && "version" in op.input.expect)
  );
  const model = kvRegisterModel(trackVersion);
  const explore = (remaining: readonly KvOperation[], state: KvRegister): boolean => {
    if (remaining.every((op) => op.completeTime === undefined)) return true;
    return remaining.some((op, i) => {
      const blocked = remaining.some((other) =>
        other.completeTime !== undefined && other.completeTime < op.invokeTime
      );
      if (blocked) return false;
      const next = model.step(state, op.input, op.output);
      return next !== undefined && explore(remaining.filter((_, j) => j !== i), next);
    });
  };
  return explore(history, model.init());
}

/**
 * Small histories over unique values: each put or cas writes the next fresh
 * value; reads sometimes report a version.
 */
export const uniqueValueHistoryArb: fc.Arbitrary<KvOperation[]> = fc.array(
  fc.record({
    kind: fc.constantFrom("put", "get", "delete", "cas"),
    readPick: fc.nat(6),
    version: fc.nat(2),
    withVersion: fc.boolean(),
    succeeded: fc.boolean(),
    invokeTime: fc.nat(40),
    durationTime: fc.option(fc.nat(30), { freq: 6, nil: undefined }),
  }),
  { maxLength: 7 },
).map((plans) =>
  plans.map((p, i): KvOperation => {
    const fresh = `v${i}`;
    const readValue = p.readPick === 0 ? null : `v${p.readPick - 1}`;
    const [input, output]: [KvInput, KvOutput] = p.kind === "put"
      ? [{ op: "put", value: fresh }, {}]
      : p.kind === "get"
      ? [
        { op: "get" },
        p.withVersion ? { value: readValue, version: p.version } : { value: readValue },
      ]
      : p.kind === "delete"
      ? [{ op: "delete" }, { deleted: p.succeeded }]
      : [{ op: "cas", expect: { version: p.version }, value: fresh }, { succeeded: p.succeeded }];
    const indeterminate = p.durationTime === undefined && p.kind !== "get";
    return {
      clientId: i,
      key: "k",
      input,
      output: indeterminate ? undefined : output,
      invokeTime: p.invokeTime,
      completeTime: indeterminate ? undefined : p.invokeTime + (p.durationTime ?? 0),
    };
  })
);
