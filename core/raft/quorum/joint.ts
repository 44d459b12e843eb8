/**
 * Joint consensus: two majority configurations that must both agree while
 * membership moves from the outgoing to the incoming set of voters.
 *
 * @module
 */
import type { NodeId } from "../types.ts";
import { MajorityConfig } from "./majority.ts";
import type { AckedIndexer, VoteResult } from "./types.ts";

/**
 * A pair of majority configurations. Outside a membership change the outgoing
 * half is empty, and the pair behaves exactly like its incoming half.
 *
 * Instances are immutable.
 *
 * @example
 * ```ts
 * import { JointConfig, MajorityConfig } from "@safla/core/raft";
 * const cfg = new JointConfig(new MajorityConfig(["a", "b", "c"]), new MajorityConfig(["c", "d"]));
 * const acked = new Map([["a", 9], ["b", 9], ["c", 4], ["d", 6]]);
 * console.assert(cfg.committedIndex((id) => acked.get(id)) === 4);
 * ```
 */
export class JointConfig {
  /** The configuration being entered (the only one when not joint). */
  readonly incoming: MajorityConfig;
  /** The configuration being left; empty when not joint. */
  readonly outgoing: MajorityConfig;

  /** Pairs `incoming` with `outgoing` (empty by default). */
  constructor(
    incoming: MajorityConfig = new MajorityConfig(),
    outgoing: MajorityConfig = new MajorityConfig(),
  ) {
    this.incoming = incoming;
    this.outgoing = outgoing;
  }

  /** Whether a membership change is in progress (the outgoing half is not empty). */
  get isJoint(): boolean {
    return this.outgoing.size > 0;
  }

  /** All voters of either half. */
  ids(): Set<NodeId> {
    const all = new Set(this.incoming.ids);
    for (const id of this.outgoing.ids) all.add(id);
    return all;
  }

  /** Whether `id` votes in either half. */
  has(id: NodeId): boolean {
    return this.incoming.has(id) || this.outgoing.has(id);
  }

  /** The largest index committed in both halves: the minimum of the two. */
  committedIndex(ackedIndex: AckedIndexer): number {
    return Math.min(
      this.incoming.committedIndex(ackedIndex),
      this.outgoing.committedIndex(ackedIndex),
    );
  }

  /** Won only if both halves win; lost as soon as either half loses. */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const incoming = this.incoming.voteResult(votes);
    const outgoing = this.outgoing.voteResult(votes);
    if (incoming === outgoing) return incoming;
    if (incoming === "lost" || outgoing === "lost") return "lost";
    return "pending";
  }

  /** `(a b c)` when simple, `(a b c)&&(a b d)` when joint. */
  toString(): string {
    return this.isJoint
      ? `${this.incoming.toString()}&&${this.outgoing.toString()}`
      : this.incoming.toString();
  }
}
