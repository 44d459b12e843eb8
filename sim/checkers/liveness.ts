/**
 * Liveness after the faults heal: within a bound of ticks the cluster must
 * have exactly one live leader, acknowledged by a quorum of voters, and every
 * live node must hold the same log end and commit index.
 *
 * Logs can only be identical at one instant if the workload stops proposing
 * during this phase (or runs slower than replication); the driver is
 * expected to quiesce clients before healing.
 *
 * @module
 */

import type { NodeId, RaftRole } from "@safla/core/raft";

/** What the liveness check needs to know of one node. */
export interface LivenessNodeView {
  /** The node. */
  nodeId: NodeId;
  /**
   * Whether the node is up and a member: crashed, paused or removed nodes
   * are not expected to converge.
   */
  live: boolean;
  /** Current term. */
  term: number;
  /** Current role. */
  role: RaftRole;
  /** Leader the node believes in, or null. */
  lead: NodeId | null;
  /** Commit index. */
  commitIndex: number;
  /** Last log index. */
  lastIndex: number;
  /** Term of the entry at `lastIndex`. */
  lastTerm: number;
}

/** Who votes: the incoming voters and, in a joint configuration, the outgoing ones too. */
export interface Membership {
  /** Voters of the incoming (or only) configuration. */
  voters: readonly NodeId[];
  /** Voters of the outgoing configuration while joint; omitted or empty otherwise. */
  votersOutgoing?: readonly NodeId[];
}

/** Whether the cluster has converged at one instant, and if not, why. */
export type Convergence =
  | {
    converged: true;
    /** The one leader. */
    leader: NodeId;
    /** Its term. */
    term: number;
    /** The common last index of every live node. */
    lastIndex: number;
    /** The common commit index of every live node. */
    commitIndex: number;
  }
  | { converged: false; reason: string };

/**
 * Checks convergence of the live nodes at one instant.
 *
 * @example
 * ```ts
 * import { assessConvergence } from "./liveness.ts";
 * const node = (nodeId: string, role: "leader" | "follower") =>
 *   ({ nodeId, live: true, term: 2, role, lead: "a", commitIndex: 5, lastIndex: 5, lastTerm: 2 });
 * const views = [node("a", "leader"), node("b", "follower"), node("c", "follower")];
 * const c = assessConvergence(views, { voters: ["a", "b", "c"] });
 * console.assert(c.converged);
 * ```
 */
export function assessConvergence(
  views: readonly LivenessNodeView[],
  membership: Membership,
): Convergence {
  const live = views.filter((v) => v.live);
  if (live.length === 0) return { converged: false, reason: "no live node" };
  const leaders = live.filter((v) => v.role === "leader");
  if (leaders.length === 0) {
    return { converged: false, reason: `no live leader; ${live.map(brief).join(", ")}` };
  }
  if (leaders.length > 1) {
    return {
      converged: false,
      reason: `${leaders.length} live leaders: ${leaders.map(brief).join(", ")}`,
    };
  }
  const leader = leaders[0];
  const acknowledges = (id: NodeId): boolean =>
    live.some((v) =>
      v.nodeId === id && v.term === leader.term &&
      (id === leader.nodeId || v.lead === leader.nodeId)
    );
  for (const [name, voters] of configurations(membership)) {
    const acked = voters.filter(acknowledges);
    const quorum = Math.floor(voters.length / 2) + 1;
    if (acked.length < quorum) {
      return {
        converged: false,
        reason:
          `leader ${leader.nodeId} (term ${leader.term}) is acknowledged by ${acked.length} ` +
          `of the ${voters.length} ${name}voters [${acked.join(", ")}]; a quorum is ${quorum}`,
      };
    }
  }
  const differing = live.filter((v) =>
    v.term !== leader.term || v.lastIndex !== leader.lastIndex || v.lastTerm !== leader.lastTerm ||
    v.commitIndex !== leader.commitIndex
  );
  if (differing.length > 0) {
    return {
      converged: false,
      reason: `logs not converged: leader ${brief(leader)}; differing: ${
        differing.map(brief).join(", ")
      }`,
    };
  }
  return {
    converged: true,
    leader: leader.nodeId,
    term: leader.term,
    lastIndex: leader.lastIndex,
    commitIndex: leader.commitIndex,
  };
}

function configurations(m: Membership): [string, readonly NodeId[]][] {
  const out: [string, readonly NodeId[]][] = [["", m.voters]];
  if (m.votersOutgoing !== undefined && m.votersOutgoing.length > 0) {
    out[0][0] = "incoming ";
    out.push(["outgoing ", m.votersOutgoing]);
  }
  return out;
}

function brief(v: LivenessNodeView): string {
  return `${v.nodeId} ${v.role} term ${v.term} ` +
    `last ${v.lastIndex}@${v.lastTerm} commit ${v.commitIndex}`;
}

/** The verdict of the liveness phase so far. */
export type LivenessVerdict =
  | { status: "pending"; reason: string; ticksLeft: number }
  | { status: "converged"; leader: NodeId; term: number; afterTicks: number }
  | { status: "violated"; reason: string; boundTicks: number };

/** When the liveness phase starts and how long it may take. */
export interface LivenessOptions {
  /** Tick at which the last fault healed. */
  healTick: number;
  /** Ticks after `healTick` by which the cluster must converge. */
  boundTicks: number;
  /** Voting membership after the heal. */
  membership: Membership;
}

/**
 * Follows the cluster after the heal: "converged" at the first instant the
 * cluster converges within the bound (then stays so), "violated" once the
 * bound passes without it.
 *
 * @example
 * ```ts
 * import { LivenessChecker } from "./liveness.ts";
 * const membership = { voters: ["a"] };
 * const checker = new LivenessChecker({ healTick: 100, boundTicks: 50, membership });
 * const a = { nodeId: "a", live: true, term: 1, role: "follower" as const, lead: null,
 *   commitIndex: 0, lastIndex: 0, lastTerm: 0 };
 * console.assert(checker.observe(120, [a]).status === "pending");
 * console.assert(checker.observe(151, [a]).status === "violated");
 * ```
 */
export class LivenessChecker {
  readonly #options: LivenessOptions;
  #verdict: LivenessVerdict;
  #lastTick: number;

  /** Starts the phase at `options.healTick`. */
  constructor(options: LivenessOptions) {
    if (!Number.isSafeInteger(options.boundTicks) || options.boundTicks < 0) {
      throw new RangeError(`boundTicks must be a non-negative integer, got ${options.boundTicks}`);
    }
    this.#options = options;
    this.#lastTick = options.healTick;
    this.#verdict = {
      status: "pending",
      reason: "not observed yet",
      ticksLeft: options.boundTicks,
    };
  }

  /** The current verdict. */
  get verdict(): LivenessVerdict {
    return this.#verdict;
  }

  /**
   * Observes the cluster at `tick` (never going back) and returns the verdict.
   * `membership`, when given, replaces the one of the options (a change
   * requested during the chaos may take effect after the heal).
   */
  observe(
    tick: number,
    views: readonly LivenessNodeView[],
    membership: Membership = this.#options.membership,
  ): LivenessVerdict {
    if (tick < this.#lastTick) {
      throw new RangeError(`ticks must not go back: ${tick} after ${this.#lastTick}`);
    }
    this.#lastTick = tick;
    if (this.#verdict.status !== "pending") return this.#verdict;
    const { healTick, boundTicks } = this.#options;
    const elapsed = tick - healTick;
    const c = assessConvergence(views, membership);
    if (elapsed > boundTicks) {
      const state = c.converged
        ? `it converged only now, ${elapsed} ticks after`
        : `still ${elapsed} ticks after: ${c.reason}`;
      this.#verdict = {
        status: "violated",
        reason:
          `no convergence within ${boundTicks} ticks of the heal at tick ${healTick}; ${state}`,
        boundTicks,
      };
      return this.#verdict;
    }
    this.#verdict = c.converged
      ? { status: "converged", leader: c.leader, term: c.term, afterTicks: elapsed }
      : { status: "pending", reason: c.reason, ticksLeft: boundTicks - elapsed };
    return this.#verdict;
  }
}
