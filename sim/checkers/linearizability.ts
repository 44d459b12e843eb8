/**
 * A linearizability checker in the style of Porcupine: the Wing & Gong
 * search with Lowe's optimisations (each explored configuration, a set of
 * linearized operations plus the model state, is memoised so it is never
 * explored twice), run on each key's sub-history separately (a KV store is
 * linearizable iff each key is, since operations touch one key).
 *
 * Indeterminate operations (a client timed out, so the outcome is unknown)
 * are treated as "may have taken effect at any time after the invocation,
 * or never": they have no return to wait for and their output is not
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
  /**
   * Whether `op` fits in no state reachable from `state` by the operations
   * not yet placed (`isPlaced` tells which are), so that the configuration
   * is dead while `op` is pending. Must never answer true wrongly; omitted:
   * never hopeless.
   */
  isHopeless?(
    state: S,
    op: Operation<I, O>,
    isPlaced: (other: Operation<I, O>) => boolean,
  ): boolean;
}

/** One client operation in a history. */
export interface Operation<I, O> {
  /** Client that issued it (clients are sequential, but the checker does not rely on it). */
  clientId: string | number;
  /** What was asked. */
  input: I;
  /**
   * What was answered; undefined when unknown. An operation with no output
   * but a `completeTime` is known to have taken effect by then (its output
   * is still unchecked).
   */
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
   * most this many operations (within another `maxSteps` steps in all).
   * Defaults to 200; 0 disables shrinking.
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
  /**
   * Operations with a known completion that could come next (invoked before
   * the earliest pending completion), none of which fits.
   */
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
 *   step: (s, i, o) =>
 *     i.write !== undefined ? i.write : (o === undefined || o === s ? s : undefined),
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
    // so a non-linearizable remainder is a sound, smaller witness. Shrinking
    // shares one more `maxSteps` budget across its attempts.
    let budget = maxSteps;
    for (let k = witness.length - 1; k >= 0 && budget > 0; k--) {
      const op = history[witness[k]];
      if (model.isReadOnly?.(op.input, op.output) !== true) continue;
      const candidate = witness.filter((_, j) => j !== k);
      const attempt = search(model, history, candidate, budget);
      steps += attempt.result.steps;
      budget -= attempt.result.steps;
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
      `completeTime ${op.completeTime} is not a finite time ` +
        `at or after invokeTime ${op.invokeTime}`,
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
 *   one is tried, and never where it would leave the state unchanged;
 * - a configuration where a pending operation is hopeless (the model says
 *   it can never fit again) is abandoned at once.
 */
function search<S, I, O>(
  model: Model<S, I, O>,
  history: readonly Operation<I, O>[],
  selected: readonly number[],
  maxSteps: number,
): SearchOutcome<S> {
  // Operations are numbered by invocation order (`rank`) and get a bit in the
  // determinate or the indeterminate set; numbered so, linearized sets are
  // mostly a prefix of ones, which the memo stores compactly.
  const order = [...selected].sort((a, b) =>
    history[a].invokeTime - history[b].invokeTime || a - b
  );
  const n = order.length;
  const byRank: number[] = order;
  const bitOf = new Int32Array(n);
  const indeterminate = new Uint8Array(n);
  let determinateCount = 0;
  let indeterminateCount = 0;
  for (let r = 0; r < n; r++) {
    if (history[byRank[r]].completeTime === undefined) {
      indeterminate[r] = 1;
      bitOf[r] = indeterminateCount++;
    } else {
      bitOf[r] = determinateCount++;
    }
  }

  // Indeterminate operations stay out of the event list (they have no
  // return to wait for). They are grouped in classes of interchangeable
  // ones, placed in invocation order: the placed members of a class are
  // always its first `classPlaced` ones.
  const classMembers: number[][] = [];
  const classIds = new Map<string, number>();
  for (let r = 0; r < n; r++) {
    if (indeterminate[r] === 0) continue;
    const key = model.interchangeKey?.(history[byRank[r]].input);
    const c = key === undefined ? undefined : classIds.get(key);
    if (c !== undefined) {
      classMembers[c].push(r);
      continue;
    }
    if (key !== undefined) classIds.set(key, classMembers.length);
    classMembers.push([r]);
  }
  const classPlaced = new Int32Array(classMembers.length);

  // The determinate calls and returns, sorted by time, in a doubly linked
  // list; node 2 * determinateCount is the head sentinel.
  const events = buildEvents(history, byRank, indeterminate);
  const head = events.length;
  const next = new Int32Array(events.length + 1);
  const prev = new Int32Array(events.length + 1);
  const matchOf = new Int32Array(events.length);
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
  for (let k = 0; k < events.length; k++) {
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
  // The furthest partial linearization, kept up to date incrementally: only
  // the part of the stack that changed since the last record is copied.
  const best: number[] = [];
  let bestState = state;
  let unchangedBelow = 0;
  let steps = 0;
  // Pass 1 walks the determinate candidates from `node`; when it reaches the
  // earliest pending return (at `boundaryTime`), pass 2 walks the classes of
  // indeterminate operations invoked by then, from `classCursor`.
  let pass: 1 | 2 = 1;
  let node = next[head];
  let classCursor = 0;
  let boundaryTime = -Infinity;

  const rankOfOperation = new Map<Operation<I, O>, number>();
  byRank.forEach((h, r) => rankOfOperation.set(history[h], r));
  const isPlaced = (other: Operation<I, O>): boolean => {
    const r = rankOfOperation.get(other);
    return r !== undefined && hasBit(bitsOf(r), bitOf[r]);
  };
  /** Whether a pending determinate candidate can never fit again (then this branch is dead). */
  const hasHopelessCandidate = (): boolean => {
    for (let k = next[head]; k !== -1 && events[k].isCall; k = next[k]) {
      if (model.isHopeless?.(state, history[byRank[events[k].op]], isPlaced) === true) return true;
    }
    return false;
  };

  /** Undoes placements back to the newest open choice; false when none is left. */
  const backtrack = (): boolean => {
    while (stack.length > 0) {
      const top = stack.pop() as Frame<S>;
      unchangedBelow = Math.min(unchangedBelow, stack.length);
      const r = top.rank;
      clearBit(bitsOf(r), bitOf[r]);
      top.memo.open = false;
      state = top.state;
      stateKey = top.stateKey;
      if (top.node >= 0) {
        determinateLeft++;
        relink(matchOf[top.node]);
        relink(top.node);
        pass = 1;
        node = next[top.node];
      } else {
        classPlaced[top.classIndex]--;
        pass = 2;
        classCursor = top.classIndex + 1;
        boundaryTime = top.boundaryTime;
      }
      if (!top.forced) return true;
    }
    return false;
  };

  /**
   * Tries to place operation `r` next. Returns "placed", "skipped" (try the
   * next candidate) or "dead" (this configuration fails as a whole).
   */
  const tryPlace = (
    r: number,
    callNode: number,
    classIndex: number,
    placedBoundaryTime: number,
  ): "placed" | "skipped" | "dead" => {
    const op = history[byRank[r]];
    const nextState = model.step(state, op.input, op.output);
    if (nextState === undefined) return "skipped";
    const nextKey = model.stateKey(nextState);
    // Placing an indeterminate operation that changes nothing only uses it
    // up: the configuration without it has every option this one has.
    if (indeterminate[r] === 1 && nextKey === stateKey) return "skipped";
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
    if (entry === undefined) {
      clearBit(bitsOf(r), bitOf[r]);
      return forced ? "dead" : "skipped";
    }
    stack.push({
      rank: r,
      node: callNode,
      classIndex,
      boundaryTime: placedBoundaryTime,
      state,
      stateKey,
      forced,
      memo: entry,
    });
    state = nextState;
    stateKey = nextKey;
    if (stack.length > best.length) {
      for (let i = unchangedBelow; i < stack.length; i++) best[i] = byRank[stack[i].rank];
      unchangedBelow = stack.length;
      bestState = state;
    }
    return "placed";
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
    let outcome: "placed" | "skipped" | "dead";
    if (pass === 1) {
      const e = events[node];
      if (!e.isCall) {
        pass = 2;
        classCursor = 0;
        boundaryTime = e.time;
        continue;
      }
      outcome = tryPlace(e.op, node, -1, -Infinity);
      if (outcome === "placed") {
        determinateLeft--;
        unlink(matchOf[node]);
        unlink(node);
      } else if (outcome === "skipped") {
        node = next[node];
        continue;
      }
    } else {
      if (classCursor >= classMembers.length) {
        if (!backtrack()) return failure();
        continue;
      }
      const c = classCursor;
      const r = classMembers[c][classPlaced[c]];
      // At equal times calls come before returns (see buildEvents).
      if (r === undefined || history[byRank[r]].invokeTime > boundaryTime) {
        classCursor++;
        continue;
      }
      outcome = tryPlace(r, -1, c, boundaryTime);
      if (outcome === "placed") {
        classPlaced[c]++;
      } else if (outcome === "skipped") {
        classCursor++;
        continue;
      }
    }
    if (outcome === "dead") {
      if (!backtrack()) return failure();
      continue;
    }
    pass = 1;
    node = next[head];
    if (model.isHopeless !== undefined && hasHopelessCandidate() && !backtrack()) {
      return failure();
    }
  }
  return { status: "linearizable", result: { status: "linearizable", steps } };
}

/** One placed operation on the search stack, with what is needed to undo it. */
interface Frame<S> {
  /** Rank of the placed operation. */
  rank: number;
  /** Its call node when determinate, else -1. */
  node: number;
  /** Its class when indeterminate, else -1. */
  classIndex: number;
  /** The pass-2 boundary in force when it was placed. */
  boundaryTime: number;
  state: S;
  stateKey: string;
  forced: boolean;
  memo: MemoEntry;
}

function setBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] |= 1 << (i & 31);
}

function hasBit(bits: Uint32Array, i: number): boolean {
  return (bits[i >>> 5] & (1 << (i & 31))) !== 0;
}

function clearBit(bits: Uint32Array, i: number): void {
  bits[i >>> 5] &= ~(1 << (i & 31));
}

/** A configuration seen by the search, under its determinate set and state. */
interface MemoEntry {
  /** The indeterminate operations placed, as bitset words. */
  indeterminate: number[];
  /** Still on the search stack (not yet known to fail). */
  open: boolean;
}

/** Lowe's memo of configurations, with subsumption on indeterminate operations. */
class Memo {
  readonly determinateBits: Uint32Array;
  readonly indeterminateBits: Uint32Array;
  readonly #entries = new Map<string, MemoEntry[]>();

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
    // The determinate set is keyed as its count of leading all-ones words plus
    // the words after them: exact, and short while few operations overlap.
    const bits = this.determinateBits;
    let onesWords = 0;
    while (onesWords < bits.length && bits[onesWords] === 0xffffffff) onesWords++;
    let end = bits.length;
    while (end > onesWords && bits[end - 1] === 0) end--;
    let key = `${onesWords}`;
    for (let i = onesWords; i < end; i++) key += `,${bits[i]}`;
    key += `|${stateKey}`;
    const ind = this.indeterminateBits;
    const bucket = this.#entries.get(key);
    for (const entry of bucket ?? []) {
      if (sameWords(entry.indeterminate, ind)) return undefined;
      if (!entry.open && isSubset(entry.indeterminate, ind)) return undefined;
    }
    const entry: MemoEntry = { indeterminate: Array.from(ind), open: true };
    if (bucket === undefined) this.#entries.set(key, [entry]);
    else bucket.push(entry);
    return entry;
  }
}

function sameWords(a: readonly number[], b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isSubset(a: readonly number[], b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if ((a[i] & ~b[i]) !== 0) return false;
  return true;
}

interface HistoryEvent {
  /** Rank of the operation. */
  op: number;
  isCall: boolean;
  time: number;
}

/**
 * Calls and returns of the determinate operations, sorted by time. At equal
 * times calls come first, so operations whose intervals merely touch count
 * as concurrent: the checker never claims an order the timestamps cannot
 * prove.
 */
function buildEvents<I, O>(
  history: readonly Operation<I, O>[],
  byRank: readonly number[],
  indeterminate: Uint8Array,
): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  byRank.forEach((h, r) => {
    const o = history[h];
    if (indeterminate[r] === 1 || o.completeTime === undefined) return;
    events.push({ op: r, isCall: true, time: o.invokeTime });
    events.push({ op: r, isCall: false, time: o.completeTime });
  });
  events.sort((a, b) => {
    if (a.time !== b.time) return a.time < b.time ? -1 : 1;
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return a.op - b.op;
  });
  return events;
}

/** Renders an operation as explanations do: client, operation, output and time interval. */
export function formatOperation<S, I, O>(model: Model<S, I, O>, op: Operation<I, O>): string {
  const interval = op.completeTime === undefined
    ? `[t=${op.invokeTime}.., indeterminate]`
    : op.output === undefined
    ? `[t=${op.invokeTime}.., indeterminate, in effect by t=${op.completeTime}]`
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
      description: formatOperation(model, op),
      stateAfter: model.describeState(state),
    };
  });
  const placed = new Set(failure.best);
  const remaining = witness.filter((h) => !placed.has(h));
  let earliestCompletion = Infinity;
  for (const h of remaining) {
    earliestCompletion = Math.min(earliestCompletion, history[h].completeTime ?? Infinity);
  }
  // Indeterminate operations are left out: they never had to be placed.
  const couldNotPlace = remaining
    .filter((h) =>
      history[h].completeTime !== undefined && history[h].invokeTime <= earliestCompletion
    )
    .sort((a, b) => history[a].invokeTime - history[b].invokeTime || a - b)
    .map((h) => ({ historyIndex: h, description: formatOperation(model, history[h]) }));
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
