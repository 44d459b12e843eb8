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
  /**
   * Indeterminate operations with equal keys have the same effect in every
   * state (for instance, equal inputs), so once invoked they are
   * interchangeable and the search only tries the earliest unplaced one.
   * Omitted or undefined: the operation is interchangeable with none.
   */
  interchangeKey?(input: I): string | undefined;
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
 *
 * Beyond Lowe's memo, three refinements keep histories with timeouts and
 * many reads tractable:
 * - the search stops as soon as every determinate operation is placed
 *   (pending indeterminate ones are taken never to have happened);
 * - among the candidates, determinate operations are tried before
 *   indeterminate ones, and a configuration is pruned when an explored one
 *   with the same determinate set and state had a subset of its
 *   indeterminate operations (it had every option this one has, and failed);
 * - a read-only operation that fits is placed without trying siblings
 *   (it can move to the front of any valid continuation);
 * - of interchangeable indeterminate operations only the earliest unplaced
 *   one is tried, and never where it would leave the state unchanged.
 */
function search<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  selected: readonly number[],
  maxSteps: number,
): SearchOutcome<S> {
  const n = selected.length;
  const events = buildEvents(history, selected);
  // Operations are numbered by invocation order (`rank`) and get a bit in the
  // determinate or the indeterminate set; numbered so, linearized sets are
  // mostly a prefix of ones, which the memo stores compactly.
  const byRank: number[] = [];
  const rankOf = new Int32Array(n);
  const bitOf = new Int32Array(n);
  const indeterminate = new Uint8Array(n);
  let determinateCount = 0;
  let indeterminateCount = 0;
  for (const e of events) {
    if (!e.isCall) continue;
    const r = byRank.length;
    rankOf[e.op] = r;
    byRank.push(selected[e.op]);
    if (history[selected[e.op]].completeTime === undefined) {
      indeterminate[r] = 1;
      bitOf[r] = indeterminateCount++;
    } else {
      bitOf[r] = determinateCount++;
    }
  }
  for (const e of events) e.op = rankOf[e.op];
  // Interchangeable indeterminate operations are placed in invocation order:
  // the placed ones of a class are always its first `classPlaced` members.
  const classOf = new Int32Array(n).fill(-1);
  const indexInClass = new Int32Array(n);
  const classIds = new Map<string, number>();
  const classSizes: number[] = [];
  for (let r = 0; r < n; r++) {
    if (indeterminate[r] === 0) continue;
    const key = model.interchangeKey?.(history[byRank[r]].input);
    if (key === undefined) continue;
    let c = classIds.get(key);
    if (c === undefined) {
      c = classSizes.length;
      classIds.set(key, c);
      classSizes.push(0);
    }
    classOf[r] = c;
    indexInClass[r] = classSizes[c]++;
  }
  const classPlaced = new Int32Array(classSizes.length);

  // Node k in [0, 2n) is events[k]; node 2n is the head sentinel.
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  const matchOf = new Int32Array(2 * n);
  const callNodeOf = new Int32Array(n);
  const returnNodeOf = new Int32Array(n);
  events.forEach((e, k) => {
    if (e.isCall) callNodeOf[e.op] = k;
    else returnNodeOf[e.op] = k;
  });
  events.forEach((e, k) => {
    matchOf[k] = e.isCall ? returnNodeOf[e.op] : callNodeOf[e.op];
  });
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

  const memo = new Memo(determinateCount, indeterminateCount);
  const bitsOf = (r: number): Uint32Array =>
    indeterminate[r] === 1 ? memo.indeterminateBits : memo.determinateBits;
  const stack: Frame<S>[] = [];
  let state = model.init();
  let stateKey = model.stateKey(state);
  let determinateLeft = determinateCount;
  let best: number[] = [];
  let bestState = state;
  let steps = 0;
  let node = next[head];
  // Pass 1 tries the determinate candidates, pass 2 the indeterminate ones.
  let pass: 1 | 2 = 1;

  /** Undoes placements back to the newest open choice; false when none is left. */
  const backtrack = (): boolean => {
    for (;;) {
      const top = stack.pop();
      if (top === undefined) return false;
      const r = events[top.node].op;
      clearBit(bitsOf(r), bitOf[r]);
      if (indeterminate[r] === 0) determinateLeft++;
      if (classOf[r] >= 0) classPlaced[classOf[r]]--;
      top.memo.open = false;
      state = top.state;
      stateKey = top.stateKey;
      relink(matchOf[top.node]);
      relink(top.node);
      node = next[top.node];
      pass = top.pass;
      if (!top.forced) return true;
    }
  };
  const failure = (): SearchFailure<S> => ({
    status: "notLinearizable",
    result: { status: "notLinearizable", steps },
    best,
    bestState,
  });

  while (determinateLeft > 0) {
    if (++steps > maxSteps) {
      return {
        status: "unknown",
        result: {
          status: "unknown",
          steps: maxSteps,
          reason: `search budget of ${maxSteps} steps exhausted after placing at most ` +
            `${best.length} of ${n} operations`,
        },
      };
    }
    const e = events[node];
    if (!e.isCall) {
      // The earliest pending return ends the window of candidates.
      if (pass === 1) {
        pass = 2;
        node = next[head];
        continue;
      }
      if (!backtrack()) return failure();
      continue;
    }
    const r = e.op;
    if (
      (indeterminate[r] === 1) !== (pass === 2) ||
      (classOf[r] >= 0 && indexInClass[r] !== classPlaced[classOf[r]])
    ) {
      node = next[node];
      continue;
    }
    const op = history[byRank[r]];
    const nextState = model.step(state, op.input, op.output);
    if (nextState === undefined) {
      node = next[node];
      continue;
    }
    const nextKey = model.stateKey(nextState);
    if (pass === 2 && nextKey === stateKey) {
      // Placing an indeterminate operation that changes nothing only uses it
      // up: the configuration without it has every option this one has.
      node = next[node];
      continue;
    }
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
    setBit(bitsOf(r), bitOf[r]);
    const entry = memo.enter(nextKey);
    if (entry !== undefined) {
      stack.push({ node, state, stateKey, forced, pass, memo: entry });
      if (indeterminate[r] === 0) determinateLeft--;
      if (classOf[r] >= 0) classPlaced[classOf[r]]++;
      state = nextState;
      stateKey = nextKey;
      unlink(node);
      unlink(matchOf[node]);
      if (stack.length > best.length) {
        best = stack.map((f) => byRank[events[f.node].op]);
        bestState = state;
      }
      node = next[head];
      pass = 1;
      continue;
    }
    clearBit(bitsOf(r), bitOf[r]);
    if (!forced) {
      node = next[node];
      continue;
    }
    if (!backtrack()) return failure();
  }
  return { status: "linearizable", result: { status: "linearizable", steps } };
}

/** One placed operation on the search stack, with what is needed to undo it. */
interface Frame<S> {
  node: number;
  state: S;
  stateKey: string;
  forced: boolean;
  pass: 1 | 2;
  memo: MemoEntry;
}

function setBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] |= 1 << (i & 31);
}

function clearBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] &= ~(1 << (i & 31));
}

/**
 * A configuration seen by the search. The determinate set is stored as the
 * number of leading all-ones words plus the words after them up to the last
 * non-zero one: exact, and a few words long while few operations overlap.
 */
interface MemoEntry {
  onesWords: number;
  tail: Uint32Array;
  stateKey: string;
  indeterminate: Uint32Array;
  /** Still on the search stack (not yet known to fail). */
  open: boolean;
}

/** Lowe's memo of configurations, with subsumption on indeterminate operations. */
class Memo {
  readonly determinateBits: Uint32Array;
  readonly indeterminateBits: Uint32Array;
  readonly #buckets = new Map<number, MemoEntry[]>();

  constructor(determinateCount: number, indeterminateCount: number) {
    this.determinateBits = new Uint32Array(Math.ceil(determinateCount / 32));
    this.indeterminateBits = new Uint32Array(Math.ceil(indeterminateCount / 32));
  }

  /**
   * Records the current configuration with state `stateKey` and returns its
   * entry, or undefined when it was seen before or is subsumed by a failed
   * configuration that had fewer indeterminate operations placed.
   */
  enter(stateKey: string): MemoEntry | undefined {
    const bits = this.determinateBits;
    let onesWords = 0;
    while (onesWords < bits.length && bits[onesWords] === 0xffffffff) onesWords++;
    let end = bits.length;
    while (end > onesWords && bits[end - 1] === 0) end--;
    let h = Math.imul(0x811c9dc5 ^ onesWords, 0x01000193);
    for (let i = onesWords; i < end; i++) h = Math.imul(h ^ bits[i], 0x01000193);
    for (let i = 0; i < stateKey.length; i++) {
      h = Math.imul(h ^ stateKey.charCodeAt(i), 0x01000193);
    }
    const bucket = this.#buckets.get(h);
    for (const entry of bucket ?? []) {
      if (
        entry.onesWords !== onesWords || entry.stateKey !== stateKey ||
        !sameWords(entry.tail, bits, onesWords, end)
      ) continue;
      if (
        sameWords(entry.indeterminate, this.indeterminateBits, 0, this.indeterminateBits.length)
      ) {
        return undefined;
      }
      if (!entry.open && isSubset(entry.indeterminate, this.indeterminateBits)) return undefined;
    }
    const entry: MemoEntry = {
      onesWords,
      tail: bits.slice(onesWords, end),
      stateKey,
      indeterminate: this.indeterminateBits.slice(),
      open: true,
    };
    if (bucket === undefined) this.#buckets.set(h, [entry]);
    else bucket.push(entry);
    return entry;
  }
}

function sameWords(tail: Uint32Array, bits: Uint32Array, from: number, end: number): boolean {
  if (tail.length !== end - from) return false;
  for (let i = 0; i < tail.length; i++) if (tail[i] !== bits[from + i]) return false;
  return true;
}

function isSubset(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if ((a[i] & ~b[i]) !== 0) return false;
  return true;
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
