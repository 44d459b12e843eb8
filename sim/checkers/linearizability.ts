/**
 * A linearizability checker in the style of Porcupine: the Wing & Gong
 * search with Lowe's optimisations (each explored configuration, a set of
 * linearized operations plus the model state, is memoised so it is never
 * explored twice), run on each key's sub-history separately (a KV store is
 * linearizable iff each key is, since operations touch one key).
 *
 * Indeterminate operations (a client timed out, so the outcome is unknown)
 * are treated as "may have taken effect at any time after the invocation,
 * or never": their return is placed at +infinity and their output is not
 * checked. A search budget bounds the work; when it runs out the verdict is
 * "unknown", never a hang.
 *
 * @module
 */

/**
 * A sequential specification. `step` is deterministic: given a state and an
 * input it either accepts the observed output (returning the next state) or
 * rejects it. `output` is undefined for indeterminate operations, which
 * must then be accepted with whatever effect the input has.
 */
export interface Model<S, I, O> {
  /** The state before any operation. */
  init(): S;
  /** The state after `input` if `output` is what the specification allows, else undefined. */
  step(state: S, input: I, output: O | undefined): S | undefined;
  /** A string equal for equal states and different for different ones (used for memoisation). */
  stateKey(state: S): string;
  /** Short rendering of a state for explanations. */
  describeState(state: S): string;
  /** Short rendering of an operation's input and output for explanations. */
  describeOperation(input: I, output: O | undefined): string;
  /**
   * Whether the operation leaves the state unchanged in every state where
   * `step` accepts it (a read, a failed compare-and-swap). The search places
   * such operations greedily and the explanation drops them when it can.
   * Omitted: nothing is read-only.
   */
  isReadOnly?(input: I, output: O | undefined): boolean;
}

/** One client operation in a history. */
export interface Operation<I, O> {
  /** Client that issued it (clients are sequential, but the checker does not rely on it). */
  clientId: string | number;
  /** What was asked. */
  input: I;
  /** What was answered; undefined when indeterminate. */
  output: O | undefined;
  /** When the client invoked it (any monotonic clock, e.g. virtual microseconds). */
  invokeTime: number;
  /** When the client got the answer; undefined when indeterminate (timed out, crashed). */
  completeTime: number | undefined;
}

/** Bounds on the search. */
export interface CheckOptions {
  /**
   * Most search steps per key before giving up with "unknown". Each step may
   * memoise one configuration, so this also bounds memory. Defaults to 1,000,000.
   */
  maxSteps?: number;
  /**
   * On a violation, shrink the witness by dropping read-only operations
   * while the rest stays non-linearizable, when the key's history has at
   * most this many operations. Defaults to 200; 0 disables shrinking.
   */
  minimizeUpToOps?: number;
}

/** One placed operation of the furthest partial linearization. */
export interface PlacedOperation {
  /** Position of the operation in the history given to the checker. */
  historyIndex: number;
  /** Rendering: client, operation, output and time interval. */
  description: string;
  /** Model state right after it. */
  stateAfter: string;
}

/** Why a history is not linearizable, in terms a reader can follow. */
export interface NonLinearizableExplanation {
  /** The model state before any operation. */
  initialState: string;
  /** The longest order found that respects real time and the specification. */
  furthestLinearization: PlacedOperation[];
  /** The model state after that order. */
  stuckState: string;
  /** Operations that had to come next (their invocation precedes the earliest pending completion) but none fit. */
  couldNotPlace: { historyIndex: number; description: string }[];
  /** Positions (in the given history) of a smaller sub-history that is still not linearizable. */
  witness: number[];
  /** The whole explanation as text. */
  text: string;
}

/** Outcome of checking one sub-history. */
export type CheckResult =
  | { status: "linearizable"; steps: number }
  | { status: "notLinearizable"; steps: number; explanation: NonLinearizableExplanation }
  | { status: "unknown"; steps: number; reason: string };

/** A malformed history: the caller recorded something impossible. */
export class HistoryError extends Error {
  /** Position of the offending operation. */
  readonly historyIndex: number;

  /** Builds the error for operation `historyIndex`. */
  constructor(historyIndex: number, detail: string) {
    super(`malformed history at operation ${historyIndex}: ${detail}`);
    this.name = "HistoryError";
    this.historyIndex = historyIndex;
  }
}

const DEFAULT_MAX_STEPS = 1_000_000;
const DEFAULT_MINIMIZE_UP_TO_OPS = 200;

/**
 * Checks one sub-history against `model`.
 *
 * @example
 * ```ts
 * import { checkOperations, type Model } from "./linearizability.ts";
 * const register: Model<number, { write?: number }, number> = {
 *   init: () => 0,
 *   step: (s, i, o) => i.write !== undefined ? i.write : (o === undefined || o === s ? s : undefined),
 *   stateKey: String,
 *   describeState: String,
 *   describeOperation: (i, o) => i.write !== undefined ? `write(${i.write})` : `read() -> ${o}`,
 * };
 * const result = checkOperations(register, [
 *   { clientId: 1, input: { write: 1 }, output: 0, invokeTime: 0, completeTime: 10 },
 *   { clientId: 2, input: {}, output: 0, invokeTime: 20, completeTime: 30 },
 * ]);
 * console.assert(result.status === "notLinearizable");
 * ```
 */
export function checkOperations<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult {
  const maxSteps = options.maxSteps ?? DEFAULT_MAX_STEPS;
  if (!(maxSteps >= 1)) throw new RangeError(`maxSteps must be >= 1, got ${maxSteps}`);
  history.forEach(validateOperation);
  const all = history.map((_, i) => i);
  const first = search(model, history, all, maxSteps);
  if (first.status !== "notLinearizable") return first.result;
  let steps = first.result.steps;
  let witness = all;
  let failure = first;
  const minimizeUpTo = options.minimizeUpToOps ?? DEFAULT_MINIMIZE_UP_TO_OPS;
  if (history.length <= minimizeUpTo) {
    // Dropping a read-only operation keeps a linearizable history linearizable,
    // so a non-linearizable remainder is a sound, smaller witness.
    for (let k = witness.length - 1; k >= 0; k--) {
      const op = history[witness[k]];
      if (model.isReadOnly?.(op.input, op.output) !== true) continue;
      const candidate = witness.filter((_, j) => j !== k);
      const attempt = search(model, history, candidate, maxSteps);
      steps += attempt.result.steps;
      if (attempt.status === "notLinearizable") {
        witness = candidate;
        failure = attempt;
      }
    }
  }
  return {
    status: "notLinearizable",
    steps,
    explanation: explain(model, history, witness, failure),
  };
}

/** Throws {@link HistoryError} unless `op` (at position `i`) has a sane time interval. */
export function validateOperation<I, O>(op: Operation<I, O>, i: number): void {
  if (!Number.isFinite(op.invokeTime)) {
    throw new HistoryError(i, `invokeTime ${op.invokeTime} is not a finite number`);
  }
  if (op.completeTime === undefined) {
    if (op.output !== undefined) {
      throw new HistoryError(i, "an indeterminate operation (no completeTime) has an output");
    }
    return;
  }
  if (!Number.isFinite(op.completeTime) || op.completeTime < op.invokeTime) {
    throw new HistoryError(
      i,
      `completeTime ${op.completeTime} is not a finite time at or after invokeTime ${op.invokeTime}`,
    );
  }
}

interface SearchFailure<S> {
  status: "notLinearizable";
  result: { status: "notLinearizable"; steps: number };
  /** Positions (in `history`) of the furthest partial linearization, in order. */
  best: number[];
  bestState: S;
}

type SearchOutcome<S> =
  | { status: "linearizable" | "unknown"; result: CheckResult }
  | SearchFailure<S>;

/**
 * The Wing & Gong / Lowe search over the operations `selected` (positions in
 * `history`). Events live in a doubly linked list; linearizing an operation
 * lifts its call and return out of the list, backtracking puts them back.
 */
function search<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  selected: readonly number[],
  maxSteps: number,
): SearchOutcome<S> {
  const n = selected.length;
  const events = buildEvents(history, selected);
  // Number operations by invocation order: linearized sets are then mostly a
  // prefix of ones, which the memo stores compactly.
  const byRank: number[] = [];
  const rankOf = new Int32Array(n);
  for (const e of events) {
    if (!e.isCall) continue;
    rankOf[e.op] = byRank.length;
    byRank.push(selected[e.op]);
  }
  for (const e of events) e.op = rankOf[e.op];
  // Node k in [0, 2n) is events[k]; node 2n is the head sentinel.
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  const matchOf = new Int32Array(2 * n);
  const callNodeOf = new Int32Array(n);
  const returnNodeOf = new Int32Array(n);
  for (let k = 0; k < 2 * n; k++) {
    const e = events[k];
    if (e.isCall) callNodeOf[e.op] = k;
    else returnNodeOf[e.op] = k;
  }
  for (let k = 0; k < 2 * n; k++) {
    const e = events[k];
    matchOf[k] = e.isCall ? returnNodeOf[e.op] : callNodeOf[e.op];
  }
  let last = head;
  for (let k = 0; k < 2 * n; k++) {
    next[last] = k;
    prev[k] = last;
    last = k;
  }
  next[last] = -1;

  const unlink = (k: number): void => {
    next[prev[k]] = next[k];
    if (next[k] !== -1) prev[next[k]] = prev[k];
  };
  const relink = (k: number): void => {
    next[prev[k]] = k;
    if (next[k] !== -1) prev[next[k]] = k;
  };

  const linearized = new Uint32Array(Math.ceil(n / 32));
  const seen = new Map<number, MemoEntry[]>();
  const stack: { node: number; state: S; stateKey: string; forced: boolean }[] = [];
  let state = model.init();
  let stateKey = model.stateKey(state);
  let best: number[] = [];
  let bestState = state;
  let steps = 0;
  let node = next[head];

  /** Undoes placements back to the newest open choice; false when none is left. */
  const backtrack = (): boolean => {
    for (;;) {
      const top = stack.pop();
      if (top === undefined) return false;
      const op = events[top.node].op;
      linearized[op >>> 5] &= ~(1 << (op & 31));
      state = top.state;
      stateKey = top.stateKey;
      relink(matchOf[top.node]);
      relink(top.node);
      node = next[top.node];
      if (!top.forced) return true;
    }
  };

  while (next[head] !== -1) {
    if (++steps > maxSteps) {
      return {
        status: "unknown",
        result: {
          status: "unknown",
          steps: maxSteps,
          reason:
            `search budget of ${maxSteps} steps exhausted after placing at most ${best.length} of ${n} operations`,
        },
      };
    }
    const e = events[node];
    if (!e.isCall) {
      // A return reached before its call was linearized: this branch is dead.
      if (!backtrack()) {
        return {
          status: "notLinearizable",
          result: { status: "notLinearizable", steps },
          best,
          bestState,
        };
      }
      continue;
    }
    const op = history[byRank[e.op]];
    const nextState = model.step(state, op.input, op.output);
    if (nextState === undefined) {
      node = next[node];
      continue;
    }
    const nextKey = model.stateKey(nextState);
    // A read-only operation can be moved to the front of any valid
    // continuation, so placing it now loses nothing: if that fails, the
    // configuration before it fails too and no sibling needs a try.
    const forced = model.isReadOnly?.(op.input, op.output) === true;
    if (forced && nextKey !== stateKey) {
      throw new Error(
        `model bug: ${model.describeOperation(op.input, op.output)} is declared read-only ` +
          `but changed the state from ${model.describeState(state)} to ${
            model.describeState(nextState)
          }`,
      );
    }
    const word = e.op >>> 5;
    const bit = 1 << (e.op & 31);
    linearized[word] |= bit;
    if (remember(seen, linearized, nextKey)) {
      stack.push({ node, state, stateKey, forced });
      state = nextState;
      stateKey = nextKey;
      unlink(node);
      unlink(matchOf[node]);
      if (stack.length > best.length) {
        best = stack.map((s) => byRank[events[s.node].op]);
        bestState = state;
      }
      node = next[head];
      continue;
    }
    linearized[word] &= ~bit;
    if (!forced) {
      node = next[node];
      continue;
    }
    if (!backtrack()) {
      return {
        status: "notLinearizable",
        result: { status: "notLinearizable", steps },
        best,
        bestState,
      };
    }
  }
  return { status: "linearizable", result: { status: "linearizable", steps } };
}

interface HistoryEvent {
  /** Index into `selected`; the search then renumbers it by invocation order. */
  op: number;
  isCall: boolean;
  time: number;
}

/**
 * Calls and returns sorted by time. At equal times calls come first, so
 * operations whose intervals merely touch count as concurrent: the checker
 * never claims an order the timestamps cannot prove.
 */
function buildEvents<I, O>(
  history: readonly Operation<I, O>[],
  selected: readonly number[],
): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  selected.forEach((h, op) => {
    const o = history[h];
    events.push({ op, isCall: true, time: o.invokeTime });
    events.push({ op, isCall: false, time: o.completeTime ?? Infinity });
  });
  events.sort((a, b) => {
    if (a.time !== b.time) return a.time < b.time ? -1 : 1;
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return a.op - b.op;
  });
  return events;
}

/**
 * A memoised configuration. The linearized set is stored as the number of
 * leading all-ones words plus the words after them up to the last non-zero
 * one: exact, and a few words long while few operations overlap.
 */
interface MemoEntry {
  onesWords: number;
  tail: Uint32Array;
  stateKey: string;
}

/** Records (bits, stateKey) in `seen`; false if it was already there. */
function remember(seen: Map<number, MemoEntry[]>, bits: Uint32Array, stateKey: string): boolean {
  let onesWords = 0;
  while (onesWords < bits.length && bits[onesWords] === 0xffffffff) onesWords++;
  let end = bits.length;
  while (end > onesWords && bits[end - 1] === 0) end--;
  let h = Math.imul(0x811c9dc5 ^ onesWords, 0x01000193);
  for (let i = onesWords; i < end; i++) h = Math.imul(h ^ bits[i], 0x01000193);
  for (let i = 0; i < stateKey.length; i++) h = Math.imul(h ^ stateKey.charCodeAt(i), 0x01000193);
  const bucket = seen.get(h);
  for (const entry of bucket ?? []) {
    if (
      entry.onesWords === onesWords && entry.stateKey === stateKey &&
      sameWords(entry.tail, bits, onesWords, end)
    ) return false;
  }
  const entry = { onesWords, tail: bits.slice(onesWords, end), stateKey };
  if (bucket === undefined) seen.set(h, [entry]);
  else bucket.push(entry);
  return true;
}

function sameWords(tail: Uint32Array, bits: Uint32Array, from: number, end: number): boolean {
  if (tail.length !== end - from) return false;
  for (let i = 0; i < tail.length; i++) if (tail[i] !== bits[from + i]) return false;
  return true;
}

function describe<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  const interval = op.completeTime === undefined
    ? `[t=${op.invokeTime}.., indeterminate]`
    : `[t=${op.invokeTime}..${op.completeTime}]`;
  return `client ${op.clientId}: ${model.describeOperation(op.input, op.output)} ${interval}`;
}

function explain<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  witness: readonly number[],
  failure: SearchFailure<S>,
): NonLinearizableExplanation {
  let state = model.init();
  const furthest: PlacedOperation[] = failure.best.map((h) => {
    const op = history[h];
    const after = model.step(state, op.input, op.output);
    if (after === undefined) throw new Error(`checker bug: replay of operation ${h} rejected`);
    state = after;
    return {
      historyIndex: h,
      description: describe(model, op),
      stateAfter: model.describeState(state),
    };
  });
  const placed = new Set(failure.best);
  const remaining = witness.filter((h) => !placed.has(h));
  let earliestCompletion = Infinity;
  for (const h of remaining) {
    earliestCompletion = Math.min(earliestCompletion, history[h].completeTime ?? Infinity);
  }
  const couldNotPlace = remaining
    .filter((h) => history[h].invokeTime <= earliestCompletion)
    .sort((a, b) => history[a].invokeTime - history[b].invokeTime || a - b)
    .map((h) => ({ historyIndex: h, description: describe(model, history[h]) }));
  const partial = {
    initialState: model.describeState(model.init()),
    furthestLinearization: furthest,
    stuckState: model.describeState(failure.bestState),
    couldNotPlace,
    witness: [...witness],
  };
  return { ...partial, text: formatExplanation(partial) };
}

/**
 * Renders an explanation as text (operations are numbered `#k` by their
 * position in the history).
 */
export function formatExplanation(e: Omit<NonLinearizableExplanation, "text">): string {
  const lines = [
    `not linearizable: no valid order for these ${e.witness.length} operation(s): ` +
    e.witness.map((h) => `#${h}`).join(" "),
    `furthest linearization from ${e.initialState}:`,
    ...e.furthestLinearization.map((p, k) =>
      `  ${k + 1}. #${p.historyIndex} ${p.description}  => ${p.stateAfter}`
    ),
    `then, in state ${e.stuckState}, none of these fits next:`,
    ...e.couldNotPlace.map((c) => `  - #${c.historyIndex} ${c.description}`),
  ];
  return lines.join("\n");
}
