/**
 * A majority quorum over a set of voters: the building block of both simple
 * and joint configurations.
 *
 * @module
 */
import type { NodeId } from "../types.ts";
import type { AckedIndexer, VoteResult } from "./types.ts";

/**
 * A set of voters in which any strict majority forms a quorum.
 *
 * Instances are immutable, so configurations can share them freely.
 *
 * @example
 * ```ts
 * import { MajorityConfig } from "@safla/core/raft";
 * const cfg = new MajorityConfig(["a", "b", "c"]);
 * const acked = new Map([["a", 7], ["b", 5], ["c", 2]]);
 * console.assert(cfg.committedIndex((id) => acked.get(id)) === 5);
 * console.assert(cfg.voteResult(new Map([["a", true], ["b", true]])) === "won");
 * ```
 */
export class MajorityConfig {
  readonly #ids: Set<NodeId>;
  readonly #scratch: number[] = [];

  /** Creates a configuration of the given voters (duplicates are ignored). */
  constructor(ids: Iterable<NodeId> = []) {
    this.#ids = new Set(ids);
    for (const id of this.#ids) {
      if (typeof id !== "string" || id === "") {
        throw new TypeError(`a voter id must be a non-empty string, got ${JSON.stringify(id)}`);
      }
    }
  }

  /** The voters. */
  get ids(): ReadonlySet<NodeId> {
    return this.#ids;
  }

  /** Number of voters. */
  get size(): number {
    return this.#ids.size;
  }

  /** Whether `id` is a voter of this configuration. */
  has(id: NodeId): boolean {
    return this.#ids.has(id);
  }

  /** The voters in sorted order. */
  slice(): NodeId[] {
    return [...this.#ids].sort();
  }

  /**
   * The largest index that a majority of voters has acknowledged.
   *
   * An empty configuration returns `Number.MAX_SAFE_INTEGER`: it places no
   * constraint, so that the minimum over the two halves of a joint
   * configuration is decided by the non-empty half alone.
   */
  committedIndex(ackedIndex: AckedIndexer): number {
    const n = this.#ids.size;
    if (n === 0) return Number.MAX_SAFE_INTEGER;
    // The leader asks on every acknowledgement: a scratch array kept per
    // configuration and an insertion sort (configurations are small) avoid
    // an allocation and a comparator call per element each time.
    const acked = this.#scratch;
    let count = 0;
    for (const id of this.#ids) {
      const index = ackedIndex(id) ?? 0;
      if (!Number.isSafeInteger(index) || index < 0) {
        throw new RangeError(`acked index of ${id} must be a non-negative safe integer: ${index}`);
      }
      let j = count++;
      for (; j > 0 && acked[j - 1] < index; j--) acked[j] = acked[j - 1];
      acked[j] = index;
    }
    // Sorted descending, position quorum-1 is the largest index that at least
    // a quorum of voters has reached.
    return acked[quorumSize(n) - 1];
  }

  /**
   * Tallies `votes` (voters missing from the map have not answered yet;
   * entries for non-voters are ignored). An empty configuration wins, again so
   * that joint configurations are decided by their non-empty half.
   */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const n = this.#ids.size;
    if (n === 0) return "won";
    let granted = 0;
    let missing = 0;
    for (const id of this.#ids) {
      const vote = votes.get(id);
      if (vote === undefined) missing++;
      else if (vote) granted++;
    }
    const quorum = quorumSize(n);
    if (granted >= quorum) return "won";
    if (granted + missing >= quorum) return "pending";
    return "lost";
  }

  /** The voters, sorted, as `(a b c)`. */
  toString(): string {
    return `(${this.slice().join(" ")})`;
  }
}

/** The number of voters that form a strict majority of `voterCount`. */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}
