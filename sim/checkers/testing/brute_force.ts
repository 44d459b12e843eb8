/**
 * A reference for tests: decides linearizability of tiny KV histories by
 * trying every order, with none of the search's optimisations.
 *
 * @module
 */

import { type KvOperation, type KvRegister, kvRegisterModel } from "../kv_model.ts";

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
