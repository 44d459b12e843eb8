/**
 * Committed and applied state never go backwards, on any node, across
 * snapshots and restarts:
 *
 * - within one incarnation a node's state machine never returns to an
 *   older state (its revision never decreases), whether it applies entries
 *   or installs a snapshot;
 * - the state after applying index `i` is one state: every node that has
 *   applied exactly `i` holds the same revision and key count (a snapshot
 *   installed with the wrong content, or an older one, shows here even when
 *   the applied index it reports looks right);
 * - a restart recovers everything the node had reported durable: its term,
 *   its vote in that term, and every log entry it had persisted.
 *
 * @example
 * ```ts
 * import { StateProgressChecker } from "./state_progress.ts";
 * const checker = new StateProgressChecker();
 * checker.observe("n1", 1, { appliedIndex: 5, revision: 3, keys: 2 });
 * const problems = checker.observe("n2", 1, { appliedIndex: 5, revision: 2, keys: 2 });
 * console.assert(problems.length === 1);
 * ```
 *
 * @module
 */

/** A node's state machine as of its applied index. */
export interface AppliedState {
  /** Highest index applied (including via snapshot). */
  appliedIndex: number;
  /** The store's revision. */
  revision: number;
  /** Keys held. */
  keys: number;
}

/** What a node holds on disk, as it reported it durable or as recovered from disk. */
export interface DurableLog {
  /** Persisted term. */
  term: number;
  /** Persisted vote in that term. */
  vote: string | null;
  /** First index held as an entry. */
  firstIndex: number;
  /** Last index held. */
  lastIndex: number;
  /** Term of the entry at `index` (firstIndex ≤ index ≤ lastIndex). */
  termAt(index: number): number;
}

interface Track {
  incarnation: number;
  revision: number;
  appliedIndex: number;
}

/** Bound on the per-index states remembered (older indices are forgotten). */
const MAX_STATES = 100_000;

/** Checks that no node's state goes backwards (see the module doc). */
export class StateProgressChecker {
  readonly #nodes = new Map<string, Track>();
  readonly #stateAt = new Map<number, { revision: number; keys: number; node: string }>();
  #highestIndex = 0;

  /** Checks one node's applied state; returns what is wrong (empty when all is well). */
  observe(node: string, incarnation: number, state: AppliedState): string[] {
    const problems: string[] = [];
    const track = this.#nodes.get(node);
    if (track !== undefined && track.incarnation === incarnation) {
      if (state.revision < track.revision) {
        problems.push(
          `state went back: revision ${track.revision} at applied index ${track.appliedIndex} ` +
            `became revision ${state.revision} at applied index ${state.appliedIndex}`,
        );
      }
    }
    this.#nodes.set(node, {
      incarnation,
      revision: state.revision,
      appliedIndex: state.appliedIndex,
    });
    const known = this.#stateAt.get(state.appliedIndex);
    if (known === undefined) {
      this.#remember(node, state);
    } else if (known.revision !== state.revision || known.keys !== state.keys) {
      problems.push(
        `after applying index ${state.appliedIndex} it holds revision ${state.revision} with ` +
          `${state.keys} keys, but ${known.node} held revision ${known.revision} with ` +
          `${known.keys} keys after that index`,
      );
    }
    return problems;
  }

  /** Compares what a node recovered at a restart with what it had reported durable before. */
  restarted(before: DurableLog, after: DurableLog): string[] {
    const problems: string[] = [];
    if (after.term < before.term) {
      problems.push(`restart lost the durable term: ${before.term} became ${after.term}`);
    } else if (after.term === before.term && before.vote !== null && after.vote !== before.vote) {
      problems.push(
        `restart lost the durable vote of term ${before.term}: ${before.vote} became ${after.vote}`,
      );
    }
    if (after.lastIndex < before.lastIndex) {
      problems.push(
        `restart lost durable entries: the log ended at ${before.lastIndex}, ` +
          `it ends at ${after.lastIndex}`,
      );
    }
    const from = Math.max(before.firstIndex, after.firstIndex);
    const to = Math.min(before.lastIndex, after.lastIndex);
    for (let i = from; i <= to; i++) {
      if (before.termAt(i) !== after.termAt(i)) {
        problems.push(
          `restart changed durable entry ${i}: term ${before.termAt(i)} became ${after.termAt(i)}`,
        );
        break;
      }
    }
    return problems;
  }

  #remember(node: string, state: AppliedState): void {
    this.#stateAt.set(state.appliedIndex, { revision: state.revision, keys: state.keys, node });
    this.#highestIndex = Math.max(this.#highestIndex, state.appliedIndex);
    if (this.#stateAt.size <= MAX_STATES) return;
    const floor = this.#highestIndex - MAX_STATES / 2;
    for (const index of this.#stateAt.keys()) {
      if (index < floor) this.#stateAt.delete(index);
    }
  }
}
