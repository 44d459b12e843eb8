/**
 * Membership changes during the chaos: at drawn times a client asks the
 * current leader for one change through Raft's joint consensus: add a spare
 * as a learner, promote a learner, add a voter, remove a voter, replace one
 * voter by another (one joint change), several changes at once, remove the
 * leader itself, or move leadership to another voter. Faults keep running
 * meanwhile; each request is simply abandoned if it does not make it.
 *
 * Spares are processes that start empty and never bootstrap: they join only
 * when a change adds them, catching up from the leader's log or snapshot.
 * A node once removed is never added back (its old log would rejoin).
 *
 * @module
 */

import type { SeededRng } from "@safla/core";
import type { ConfChangeSingle, ConfState, NodeId } from "@safla/core/raft";
import type { SimCluster } from "./cluster.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Trace } from "./trace.ts";

/** Request ids of the membership nemesis, apart from the workload's and the leader removal's. */
export const MEMBERSHIP_NEMESIS_REQUEST_BASE = 2_000_000_000;

/** Counters of requested membership changes, by kind. */
export type MembershipStats = Record<MembershipChangeKind, number>;

/** The kinds of change the nemesis asks for. */
export type MembershipChangeKind =
  | "addLearner"
  | "promoteLearner"
  | "addVoter"
  | "removeVoter"
  | "replaceVoter"
  | "several"
  | "removeLeader"
  | "transferLeader"
  | "leaveJoint";

const KINDS: readonly Exclude<MembershipChangeKind, "leaveJoint">[] = [
  "addLearner",
  "promoteLearner",
  "addVoter",
  "removeVoter",
  "replaceVoter",
  "several",
  "removeLeader",
  "transferLeader",
];

/** Changes the membership of `cluster` at `changesPerSec` until the end of the chaos. */
export class MembershipNemesis<Q, R> {
  readonly #scheduler: Scheduler;
  readonly #rng: SeededRng;
  readonly #cluster: SimCluster<Q, R>;
  readonly #trace: Trace;
  readonly #minVoters: number;
  /** Nodes that were ever in the configuration (never added again once removed). */
  readonly #everMember: Set<NodeId>;
  #nextRequestId = MEMBERSHIP_NEMESIS_REQUEST_BASE;
  readonly stats: MembershipStats = Object.fromEntries(
    [...KINDS, "leaveJoint"].map((k) => [k, 0]),
  ) as MembershipStats;

  /** A nemesis over `cluster`, whose first `initialVoters` bootstrap the cluster. */
  constructor(
    scheduler: Scheduler,
    rng: SeededRng,
    cluster: SimCluster<Q, R>,
    trace: Trace,
    initialVoters: readonly NodeId[],
  ) {
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.#cluster = cluster;
    this.#trace = trace;
    this.#everMember = new Set(initialVoters);
    // Removals never leave fewer voters than a quorum that survives one fault needs.
    this.#minVoters = Math.min(3, initialVoters.length);
  }

  /** Requests changes at exponential intervals of mean `1 / changesPerSec` until `endUs`. */
  start(changesPerSec: number, endUs: number): void {
    if (changesPerSec <= 0) return;
    const next = (): void => {
      const gapUs = -Math.log(1 - this.#rng.next()) * 1e6 / changesPerSec;
      if (this.#scheduler.nowUs + gapUs >= endUs) return;
      this.#scheduler.after(gapUs, () => {
        this.#change();
        next();
      });
    };
    next();
  }

  #leader(): { id: NodeId; confState: ConfState } | undefined {
    let best: { id: NodeId; term: number; confState: ConfState } | undefined;
    for (const id of this.#cluster.ids) {
      const node = this.#cluster.process(id).node;
      if (this.#cluster.process(id).status !== "up" || node?.softState.role !== "leader") continue;
      if (best === undefined || node.term > best.term) {
        best = { id, term: node.term, confState: node.confState };
      }
    }
    return best;
  }

  #change(): void {
    const leader = this.#leader();
    if (leader === undefined) return;
    const cs = leader.confState;
    if (cs.votersOutgoing.length > 0) {
      // Raft refuses another change until the joint configuration is left; an explicit
      // one is left by an empty change, asked for here (after a while in it).
      if (!cs.autoLeave && this.#rng.next() < 0.5) this.#request(leader.id, "leaveJoint", []);
      return;
    }
    const voters = cs.voters;
    const learners = cs.learners;
    const spares = this.#cluster.ids.filter((id) => !this.#everMember.has(id));
    const canRemove = voters.length > this.#minVoters;
    const pick = <T>(xs: readonly T[]): T => xs[this.#rng.int(xs.length)];
    const kind = pick(KINDS);
    let changes: ConfChangeSingle[] = [];
    const otherVoters = voters.filter((v) => v !== leader.id);
    switch (kind) {
      case "addLearner":
        if (spares.length > 0) changes = [{ type: "addLearner", nodeId: pick(spares) }];
        break;
      case "promoteLearner":
        if (learners.length > 0) changes = [{ type: "addNode", nodeId: pick(learners) }];
        break;
      case "addVoter":
        if (spares.length > 0) changes = [{ type: "addNode", nodeId: pick(spares) }];
        break;
      case "removeVoter":
        if (canRemove && otherVoters.length > 0) {
          changes = [{ type: "removeNode", nodeId: pick(otherVoters) }];
        }
        break;
      case "replaceVoter":
        if (spares.length > 0 && otherVoters.length > 0) {
          changes = [
            { type: "removeNode", nodeId: pick(otherVoters) },
            { type: "addNode", nodeId: pick(spares) },
          ];
        }
        break;
      case "several": {
        // Every spare in at once (as voters or learners), a learner promoted, maybe a removal.
        for (const id of spares) {
          changes.push({ type: this.#rng.next() < 0.5 ? "addNode" : "addLearner", nodeId: id });
        }
        for (const id of learners) changes.push({ type: "addNode", nodeId: id });
        if (canRemove && otherVoters.length > 0 && this.#rng.next() < 0.5) {
          changes.push({ type: "removeNode", nodeId: pick(otherVoters) });
        }
        if (changes.length < 2) changes = [];
        break;
      }
      case "removeLeader":
        if (canRemove) changes = [{ type: "removeNode", nodeId: leader.id }];
        break;
      case "transferLeader":
        if (otherVoters.length > 0) {
          const to = pick(otherVoters);
          this.stats.transferLeader++;
          this.#trace.record(this.#scheduler.nowUs, leader.id, "transferLeader", to);
          this.#cluster.deliver(leader.id, { type: "transferLeader", to });
        }
        return;
    }
    if (changes.length === 0) return;
    for (const c of changes) if (c.type !== "removeNode") this.#everMember.add(c.nodeId);
    this.#request(leader.id, kind, changes);
  }

  #request(leader: NodeId, kind: MembershipChangeKind, changes: ConfChangeSingle[]): void {
    this.stats[kind]++;
    const requestId = this.#nextRequestId++;
    // Several changes always go through a joint configuration, left automatically or
    // (explicit) by a later empty change.
    const transition = changes.length > 1
      ? (["auto", "implicit", "explicit"] as const)[this.#rng.int(3)]
      : "auto";
    this.#trace.record(
      this.#scheduler.nowUs,
      leader,
      "confChange",
      `#${requestId} ${kind} ${changes.map((c) => `${c.type} ${c.nodeId}`).join(", ")}`,
    );
    this.#cluster.deliver(leader, {
      type: "request",
      requestId,
      request: { kind: "confChange", change: { transition, changes } },
    });
  }
}
