/**
 * The sequential specification of one key of the replicated KV store
 * (`core/state/`), and the per-key linearizability check of a client history.
 *
 * Per key, the store behaves as a versioned register, in etcd's terms:
 * - `get` returns the value, or absent (`null`), and the key's version;
 * - `put` writes a value; the version becomes 1 on creation, +1 on each later write;
 * - `delete` removes the key (version back to 0);
 * - `cas` is the store's one-comparison transaction `txn(compare equal, success [put])`:
 *   it writes only if the key's version (0 when absent) equals `expect.version`,
 *   or its value equals `expect.value` (false when the key is absent);
 * - `append` concatenates to the value (absent counts as empty).
 *
 * Revisions are global to the store, so they cannot be checked key by key;
 * outputs carry only per-key facts.
 *
 * @module
 */

import {
  checkOperations,
  type CheckOptions,
  type CheckResult,
  formatExplanation,
  formatOperation,
  HistoryError,
  type Model,
  type NonLinearizableExplanation,
  type Operation,
  type PlacedOperation,
  validateOperation,
} from "./linearizability.ts";
import { type CertainWrite, findReadViolation, type ReadViolation } from "./kv_read_witness.ts";

/** What a client asked of one key. */
export type KvInput =
  | { op: "get" }
  | { op: "put"; value: string }
  | { op: "delete" }
  | { op: "cas"; expect: { version: number } | { value: string }; value: string }
  | { op: "append"; value: string };

/**
 * What the store answered. Fields that were not observed may be left out
 * and are then not checked, except `value` for `get` and `succeeded` for
 * `cas`, which are required.
 */
export interface KvOutput {
  /** `get`: the value read, `null` when absent. `append`: the value after appending. */
  value?: string | null;
  /** `get`: the key's version (0 when absent). */
  version?: number;
  /** `cas`: whether the comparison held and the write happened. */
  succeeded?: boolean;
  /** `delete`: whether the key existed. */
  deleted?: boolean;
}

/** One client operation on one key. */
export interface KvOperation extends Operation<KvInput, KvOutput> {
  /** The key it touched. */
  key: string;
}

/** One key's state: its value (null when absent) and version (0 when absent). */
export interface KvRegister {
  /** Current value, or null. */
  readonly value: string | null;
  /** Writes since creation; 0 iff absent. */
  readonly version: number;
}

const ABSENT: KvRegister = Object.freeze({ value: null, version: 0 });
/** Search budget to confirm a read witness (at most five operations, so never reached). */
const WITNESS_CONFIRMATION_STEPS = 100_000;

/**
 * The register model. With `trackVersion` false, versions are neither
 * checked nor part of the memoised state, which lets the search merge
 * states that differ only by version when no operation could observe it.
 *
 * `observable`, when given, holds every value some operation of the
 * history can observe (values read, values compared by a compare-and-swap);
 * other values are indistinguishable to the rest of the history, so the
 * memo and the interchangeability of indeterminate writes treat them as one.
 * Leave it undefined when the history has appends (they build new values).
 *
 * `writerOf`, when given, maps each value to the one operation that writes
 * it (values must be unique and there must be no appends): a read of a
 * value whose writer is already placed, while the key holds something
 * else, can then never fit again.
 */
export function kvRegisterModel(
  trackVersion: boolean,
  observable?: ReadonlySet<string>,
  writerOf?: ReadonlyMap<string, Operation<KvInput, KvOutput>>,
): Model<KvRegister, KvInput, KvOutput> {
  // Keys for memoisation: "=" and the value, or "?" for every value nobody observes.
  const canonical = (v: string): string =>
    observable === undefined || observable.has(v) ? `=${v}` : "?";
  const written = (s: KvRegister, value: string): KvRegister => ({
    value,
    version: trackVersion ? s.version + 1 : 0,
  });
  return {
    init: () => ABSENT,
    step(s: KvRegister, input: KvInput, out: KvOutput | undefined): KvRegister | undefined {
      switch (input.op) {
        case "get":
          if (out === undefined) return s;
          if (out.value !== s.value) return undefined;
          if (trackVersion && out.version !== undefined && out.version !== s.version) {
            return undefined;
          }
          return s;
        case "put":
          return written(s, input.value);
        case "delete":
          if (out?.deleted !== undefined && out.deleted !== (s.value !== null)) return undefined;
          return ABSENT;
        case "cas": {
          const holds = "version" in input.expect
            ? s.version === input.expect.version
            : s.value !== null && s.value === input.expect.value;
          if (out !== undefined && out.succeeded !== holds) return undefined;
          return holds ? written(s, input.value) : s;
        }
        case "append": {
          const next = written(s, (s.value ?? "") + input.value);
          if (out?.value !== undefined && out.value !== next.value) return undefined;
          return next;
        }
      }
    },
    stateKey: (s) => s.value === null ? "-" : `${s.version}:${canonical(s.value)}`,
    describeState: (s) =>
      s.value === null
        ? "absent"
        : trackVersion
        ? `${JSON.stringify(s.value)} (version ${s.version})`
        : JSON.stringify(s.value),
    describeOperation: describeKv,
    isReadOnly: isReadOnlyKv,
    isHopeless(s, op, isPlaced): boolean {
      if (writerOf === undefined) return false;
      const input = op.input;
      let needed: string | null | undefined;
      if (input.op === "get") needed = op.output?.value;
      else if (input.op === "cas" && op.output?.succeeded && "value" in input.expect) {
        needed = input.expect.value;
      }
      if (typeof needed !== "string" || needed === s.value) return false;
      const writer = writerOf.get(needed);
      return writer !== undefined && isPlaced(writer);
    },
    interchangeKey(input: KvInput): string {
      switch (input.op) {
        case "get":
        case "delete":
          return input.op;
        case "put":
        case "append":
          return `${input.op}:${canonical(input.value)}`;
        case "cas":
          return `cas:${JSON.stringify(input.expect)}:${canonical(input.value)}`;
      }
    },
  };
}

function describeKv(input: KvInput, out: KvOutput | undefined): string {
  const shown = (v: string | null | undefined): string => v === null ? "absent" : JSON.stringify(v);
  switch (input.op) {
    case "get": {
      if (out === undefined) return "get() -> ?";
      const version = out.version === undefined ? "" : ` (version ${out.version})`;
      return `get() -> ${shown(out.value)}${version}`;
    }
    case "put":
      return `put(${JSON.stringify(input.value)})${out === undefined ? " -> ?" : ""}`;
    case "delete":
      return `delete()${
        out === undefined
          ? " -> ?"
          : out.deleted === undefined
          ? ""
          : out.deleted
          ? " -> deleted"
          : " -> was absent"
      }`;
    case "cas": {
      const expect = "version" in input.expect
        ? `version=${input.expect.version}`
        : `value=${JSON.stringify(input.expect.value)}`;
      const result = out === undefined ? "?" : out.succeeded ? "ok" : "failed";
      return `cas(${expect} => ${JSON.stringify(input.value)}) -> ${result}`;
    }
    case "append": {
      const result = out === undefined
        ? " -> ?"
        : out.value === undefined
        ? ""
        : ` -> ${shown(out.value)}`;
      return `append(${JSON.stringify(input.value)})${result}`;
    }
  }
}

/**
 * Whether an operation leaves the key as it is wherever its output is
 * possible: a read, a compare-and-swap that failed, a delete of an absent key.
 */
function isReadOnlyKv(input: KvInput, out: KvOutput | undefined): boolean {
  if (input.op === "get") return true;
  if (out === undefined) return false;
  return (input.op === "cas" && out.succeeded === false) ||
    (input.op === "delete" && out.deleted === false);
}

/** Verdict over a whole multi-key history. */
export type KvCheckResult =
  | { status: "linearizable"; keysChecked: number; steps: number }
  | {
    status: "notLinearizable";
    key: string;
    steps: number;
    /** Explanation; `historyIndex` values point into the full history given to the checker. */
    explanation: NonLinearizableExplanation;
  }
  | { status: "unknown"; key: string; steps: number; reason: string };

/**
 * Checks a KV history key by key. Each key gets the full step budget. A
 * violation on any key wins over an "unknown" on another.
 *
 * @example
 * ```ts
 * import { checkKvHistory } from "./kv_model.ts";
 * const result = checkKvHistory([
 *   { clientId: 1, key: "k", input: { op: "put", value: "a" }, output: {},
 *     invokeTime: 0, completeTime: 5 },
 *   { clientId: 2, key: "k", input: { op: "get" }, output: { value: null },
 *     invokeTime: 6, completeTime: 8 },
 * ]);
 * console.assert(result.status === "notLinearizable");
 * ```
 */
export function checkKvHistory(
  history: readonly KvOperation[],
  options: CheckOptions = {},
): KvCheckResult {
  if (options.maxSteps !== undefined && !(options.maxSteps >= 1)) {
    throw new RangeError(`maxSteps must be >= 1, got ${options.maxSteps}`);
  }
  const byKey = new Map<string, number[]>();
  history.forEach((op, i) => {
    validateKvOperation(op, i);
    // A read with unknown output constrains nothing: dropping it is exact.
    if (op.output === undefined && op.input.op === "get") return;
    const list = byKey.get(op.key);
    if (list === undefined) byKey.set(op.key, [i]);
    else list.push(i);
  });
  const keys = [...byKey.keys()].sort();
  for (const key of keys) {
    const positions = byKey.get(key) ?? [];
    const ops = positions.map((i) => history[i]);
    const violation = findReadViolation(ops);
    if (violation === undefined) continue;
    const model = kvRegisterModel(tracksVersion(ops), observableValues(ops), uniqueWriters(ops));
    // The argument is its own proof; the search confirms it on the few operations it uses.
    const confirmed = checkOperations(model, violation.witness.map((k) => ops[k]), {
      maxSteps: WITNESS_CONFIRMATION_STEPS,
      minimizeUpToOps: 0,
    });
    if (confirmed.status !== "notLinearizable") {
      throw new Error(
        `checker bug: read witness ${violation.witness.join(",")} on key ${key} ` +
          `is ${confirmed.status}`,
      );
    }
    return {
      status: "notLinearizable",
      key,
      steps: confirmed.steps,
      explanation: explainReadViolation(violation, ops, positions, key, model),
    };
  }
  let steps = 0;
  let unknown: KvCheckResult | undefined;
  for (const key of keys) {
    const positions = byKey.get(key) ?? [];
    const ops = pinObservedWrites(positions.map((i) => history[i]));
    const result: CheckResult = checkOperations(
      kvRegisterModel(tracksVersion(ops), observableValues(ops), uniqueWriters(ops)),
      ops,
      options,
    );
    steps += result.steps;
    if (result.status === "notLinearizable") {
      return {
        status: "notLinearizable",
        key,
        steps,
        explanation: toHistoryPositions(result.explanation, positions, key),
      };
    }
    if (result.status === "unknown" && unknown === undefined) {
      unknown = { status: "unknown", key, steps: 0, reason: result.reason };
    }
  }
  if (unknown !== undefined) return { ...unknown, steps };
  return { status: "linearizable", keysChecked: keys.length, steps };
}

/**
 * With unique values, a timed-out write whose value some completed read
 * returned certainly took effect, and before that read completed: giving it
 * that completion (output still unknown) leaves the set of valid orders as
 * it is, and spares the search from trying to place it anywhere later.
 */
function pinObservedWrites(ops: readonly KvOperation[]): KvOperation[] {
  if (uniqueWriters(ops) === undefined) return [...ops];
  const firstReadAt = new Map<string, number>();
  for (const op of ops) {
    const value = op.input.op === "get" ? op.output?.value : undefined;
    if (typeof value !== "string" || op.completeTime === undefined) continue;
    firstReadAt.set(value, Math.min(firstReadAt.get(value) ?? Infinity, op.completeTime));
  }
  return ops.map((op) => {
    if (op.completeTime !== undefined || (op.input.op !== "put" && op.input.op !== "cas")) {
      return op;
    }
    const readAt = firstReadAt.get(op.input.value);
    if (readAt === undefined) return op;
    return { ...op, completeTime: Math.max(readAt, op.invokeTime) };
  });
}

/** The writer of each value; undefined unless written values are unique and nothing appends. */
function uniqueWriters(ops: readonly KvOperation[]): Map<string, KvOperation> | undefined {
  const writers = new Map<string, KvOperation>();
  for (const op of ops) {
    if (op.input.op === "append") return undefined;
    if (op.input.op !== "put" && op.input.op !== "cas") continue;
    if (writers.has(op.input.value)) return undefined;
    writers.set(op.input.value, op);
  }
  return writers;
}

/** Whether some operation observes versions (otherwise the model leaves them out). */
function tracksVersion(ops: readonly KvOperation[]): boolean {
  return ops.some((op) =>
    (op.input.op === "get" && op.output?.version !== undefined) ||
    (op.input.op === "cas" && "version" in op.input.expect)
  );
}

/** Values some operation could tell apart; undefined when appends make every value observable. */
function observableValues(ops: readonly KvOperation[]): Set<string> | undefined {
  const seen = new Set<string>();
  for (const op of ops) {
    if (op.input.op === "append") return undefined;
    if (op.input.op === "get" && typeof op.output?.value === "string") seen.add(op.output.value);
    if (op.input.op === "cas" && "value" in op.input.expect) seen.add(op.input.expect.value);
  }
  return seen;
}

function validateKvOperation(op: KvOperation, i: number): void {
  validateOperation(op, i);
  if (op.output === undefined) return;
  if (op.input.op === "get" && op.output.value === undefined) {
    throw new HistoryError(i, "a completed get must carry output.value (null when absent)");
  }
  if (op.input.op === "cas" && typeof op.output.succeeded !== "boolean") {
    throw new HistoryError(i, "a completed cas must carry output.succeeded");
  }
}

/** States the unique-value argument in words, with positions in the full history. */
function explainReadViolation(
  v: ReadViolation,
  ops: readonly KvOperation[],
  positions: readonly number[],
  key: string,
  model: Model<KvRegister, KvInput, KvOutput>,
): NonLinearizableExplanation {
  const ref = (k: number): string => `#${positions[k]} ${formatOperation(model, ops[k])}`;
  const written = (k: number): string => {
    const input = ops[k].input;
    return input.op === "put" || input.op === "cas" ? JSON.stringify(input.value) : "absent";
  };
  const certainAt = (w: CertainWrite): string =>
    w.certainBy === w.at
      ? `by t=${ops[w.at].completeTime}`
      : `by t=${ops[w.certainBy].completeTime}, when #${positions[w.certainBy]} read it`;
  const readValueOf = (k: number): string => JSON.stringify(ops[k].output?.value);
  const read = ops[v.kind === "versionChanged" ? v.reads[1] : v.read];
  const readValue = JSON.stringify(read.output?.value);
  let reason: string;
  const furthest: PlacedOperation[] = [];
  let stuckState = "any";
  switch (v.kind) {
    case "neverWritten":
      reason = `a read of a value that no operation writes:\n  ${ref(v.read)}`;
      break;
    case "readFromFuture":
      reason = `a read from the future:\n  ${ref(v.read)}\nreturned ${readValue}, ` +
        `which only\n  ${ref(v.writer)}\nwrites, invoked after the read completed`;
      break;
    case "versionChanged": {
      const [first, second] = v.reads;
      reason = `one value read at two versions:\n  ${ref(first)}\n  ${ref(second)}\n` +
        `but only\n  ${ref(v.writer)}\nwrites ${readValueOf(first)}, and any later write ` +
        `would replace the value`;
      break;
    }
    case "staleRead": {
      const w = v.writer.at;
      const x = v.overwriter.at;
      reason = `a stale read:\n  ${ref(v.read)}\nreturned ${readValue}, which only\n` +
        `  ${ref(w)}\nwrites (in effect ${certainAt(v.writer)}), but\n  ${ref(x)}\n` +
        `was invoked after that and wrote ${written(x)} ` +
        `(in effect ${certainAt(v.overwriter)}, before the read was invoked)`;
      stuckState = written(x);
      for (const k of [w, x]) {
        furthest.push({
          historyIndex: positions[k],
          description: formatOperation(model, ops[k]),
          stateAfter: written(k),
        });
      }
      break;
    }
  }
  return {
    initialState: "absent",
    furthestLinearization: furthest,
    stuckState,
    couldNotPlace: [{
      historyIndex: positions[v.kind === "versionChanged" ? v.reads[1] : v.read],
      description: formatOperation(model, read),
    }],
    witness: v.witness.map((k) => positions[k]),
    text: `key ${JSON.stringify(key)}: not linearizable: ${reason}`,
  };
}

function toHistoryPositions(
  e: NonLinearizableExplanation,
  positions: readonly number[],
  key: string,
): NonLinearizableExplanation {
  const at = (k: number): number => positions[k];
  const renumbered = {
    initialState: e.initialState,
    furthestLinearization: e.furthestLinearization.map((p) => ({
      ...p,
      historyIndex: at(p.historyIndex),
    })),
    stuckState: e.stuckState,
    couldNotPlace: e.couldNotPlace.map((c) => ({ ...c, historyIndex: at(c.historyIndex) })),
    witness: e.witness.map(at),
  };
  return { ...renumbered, text: `key ${JSON.stringify(key)}: ${formatExplanation(renumbered)}` };
}
