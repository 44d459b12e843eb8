import assert from "node:assert/strict";
import fc from "fast-check";
import type { RaftRole } from "@safla/core/raft";
import { logViewFromEntries, RaftSafetyChecker, type Violation } from "./raft_safety.ts";

/**
 * An abstract Raft cluster where every message is delivered at once: the
 * rules of the paper (election restriction, commit only entries of the
 * current term, followers truncate conflicts), log compaction with snapshots
 * sent to followers that lag behind it, and crashes that keep the durable
 * state. Any run of it is correct, so the checker must stay silent.
 */
interface AbstractNode {
  id: string;
  /** Entries after the snapshot. */
  log: { term: number; data: string }[];
  snapshotIndex: number;
  snapshotTerm: number;
  /** Terms of the entries under the snapshot: the model's memory, never shown to the checker. */
  compactedTerms: number[];
  term: number;
  role: RaftRole;
  lead: string | null;
  vote: string | null;
  commit: number;
  applied: number;
  newlyApplied: { index: number; term: number; dataHash: string }[];
  appliedSnapshotIndex: number | undefined;
  writtenFrom: number | undefined;
}

type Action =
  | { type: "elect"; node: number; ignoreLogs?: boolean }
  | { type: "propose"; node: number }
  | { type: "replicate"; from: number; to: number }
  | { type: "commit"; node: number }
  | { type: "apply"; node: number }
  | { type: "compact"; node: number }
  | { type: "restart"; node: number };

const lastIndex = (x: AbstractNode): number => x.snapshotIndex + x.log.length;
const lastTerm = (x: AbstractNode): number => x.log.at(-1)?.term ?? x.snapshotTerm;
/** Term of the entry at `i`; undefined when compacted away or absent. */
function termAt(x: AbstractNode, i: number): number | undefined {
  if (i === x.snapshotIndex) return x.snapshotTerm;
  return i < x.snapshotIndex ? undefined : x.log[i - x.snapshotIndex - 1]?.term;
}
/** Term of the entry at `i`, compacted or not. */
function fullTermAt(x: AbstractNode, i: number): number | undefined {
  return i <= x.snapshotIndex ? x.compactedTerms[i - 1] : termAt(x, i);
}
function entryAt(x: AbstractNode, i: number): { term: number; data: string } {
  const e = x.log[i - x.snapshotIndex - 1];
  if (e === undefined) throw new Error(`model bug: ${x.id} has no entry ${i}`);
  return e;
}

class AbstractCluster {
  readonly nodes: AbstractNode[];
  readonly checker = new RaftSafetyChecker();
  /** Terms of the committed entries, as the committing leaders held them. */
  readonly committed: number[] = [];
  /** Snapshots installed on lagging followers. */
  snapshotsSent = 0;
  #proposals = 0;

  /**
   * `countsOldTermReplicas` injects the bug of Figure 8 of the Raft paper:
   * committing an entry of an earlier term once a majority holds it.
   */
  constructor(size: number, readonly countsOldTermReplicas = false) {
    this.nodes = Array.from({ length: size }, (_, i) => ({
      id: `n${i}`,
      log: [],
      snapshotIndex: 0,
      snapshotTerm: 0,
      compactedTerms: [],
      term: 0,
      role: "follower",
      lead: null,
      vote: null,
      commit: 0,
      applied: 0,
      newlyApplied: [],
      appliedSnapshotIndex: undefined,
      writtenFrom: undefined,
    }));
  }

  /** Runs `action` (if it is possible now) and returns what the checker says of every node. */
  run(action: Action): Violation[] {
    const n = this.nodes;
    const size = n.length;
    switch (action.type) {
      case "elect":
        this.#elect(n[action.node % size], action.ignoreLogs === true);
        break;
      case "propose": {
        const leader = this.#leader(action.node);
        if (leader === undefined) break;
        leader.log.push({ term: leader.term, data: `p${++this.#proposals}` });
        leader.writtenFrom ??= lastIndex(leader);
        break;
      }
      case "replicate": {
        const leader = this.#leader(action.from);
        if (leader !== undefined) this.#replicate(leader, n[action.to % size]);
        break;
      }
      case "commit": {
        const leader = this.#leader(action.node);
        if (leader !== undefined) this.#advanceCommit(leader);
        break;
      }
      case "apply":
        this.#apply(n[action.node % size]);
        break;
      case "compact": {
        // Compaction follows applying, as a state machine snapshot does.
        const node = n[action.node % size];
        this.#apply(node);
        if (node.applied <= node.snapshotIndex) break;
        node.snapshotTerm = entryAt(node, node.applied).term;
        const compacted = node.log.slice(0, node.applied - node.snapshotIndex);
        node.compactedTerms.push(...compacted.map((e) => e.term));
        node.log = node.log.slice(node.applied - node.snapshotIndex);
        node.snapshotIndex = node.applied;
        break;
      }
      case "restart": {
        const node = n[action.node % size];
        node.role = "follower";
        node.lead = null;
        node.applied = node.snapshotIndex;
        this.checker.restarted(node.id, {
          hardState: { term: node.term, vote: node.vote, commit: node.commit },
          snapshotIndex: node.snapshotIndex,
        });
        break;
      }
    }
    return this.observeAll();
  }

  observeAll(): Violation[] {
    return this.nodes.flatMap((node) => {
      const view = {
        term: node.term,
        role: node.role,
        lead: node.lead,
        vote: node.vote,
        commitIndex: node.commit,
        appliedIndex: node.applied,
        log: logViewFromEntries(
          node.log.map((e, k) => ({
            index: node.snapshotIndex + k + 1,
            term: e.term,
            dataHash: e.data,
          })),
          node.snapshotIndex,
          node.snapshotTerm,
        ),
        newlyApplied: node.newlyApplied,
        appliedSnapshotIndex: node.appliedSnapshotIndex,
        writtenFrom: node.writtenFrom,
      };
      node.newlyApplied = [];
      node.appliedSnapshotIndex = undefined;
      node.writtenFrom = undefined;
      return this.checker.observe(node.id, view);
    });
  }

  #apply(node: AbstractNode): void {
    while (node.applied < node.commit) {
      node.applied++;
      const e = entryAt(node, node.applied);
      node.newlyApplied.push({ index: node.applied, term: e.term, dataHash: e.data });
    }
  }

  /** Whether `x` holds every committed entry (in its log or under its snapshot). */
  holdsCommitted(x: AbstractNode): boolean {
    return this.committed.every((term, k) => fullTermAt(x, k + 1) === term);
  }

  /**
   * One of the nodes that believe they lead, picked by `pick`: mostly the
   * newest leader (so that runs make progress), sometimes a stale one.
   */
  #leader(pick: number): AbstractNode | undefined {
    const leaders = this.nodes.filter((x) => x.role === "leader")
      .sort((a, b) => b.term - a.term);
    if (leaders.length === 0) return undefined;
    return pick % 4 === 0 ? leaders[(pick >> 2) % leaders.length] : leaders[0];
  }

  #elect(candidate: AbstractNode, ignoreLogs: boolean): void {
    const term = Math.max(...this.nodes.map((x) => x.term)) + 1;
    const upToDate = (voter: AbstractNode) =>
      lastTerm(candidate) > lastTerm(voter) ||
      (lastTerm(candidate) === lastTerm(voter) && lastIndex(candidate) >= lastIndex(voter));
    const voters = this.nodes.filter((v) => v === candidate || ignoreLogs || upToDate(v));
    if (voters.length <= this.nodes.length / 2) return;
    for (const v of voters) {
      v.term = term;
      v.role = "follower";
      v.lead = null;
      v.vote = candidate.id;
    }
    candidate.role = "leader";
    candidate.lead = candidate.id;
  }

  #replicate(leader: AbstractNode, follower: AbstractNode): void {
    if (leader.role !== "leader" || leader === follower || follower.term > leader.term) return;
    if (follower.term < leader.term) follower.vote = null;
    follower.term = leader.term;
    follower.role = "follower";
    follower.lead = leader.id;
    let from = Math.max(leader.snapshotIndex, follower.snapshotIndex) + 1;
    if (
      follower.snapshotIndex < leader.snapshotIndex &&
      termAt(follower, leader.snapshotIndex) !== leader.snapshotTerm
    ) {
      // The follower lacks entries the leader compacted away: send the snapshot.
      this.snapshotsSent++;
      follower.snapshotIndex = leader.snapshotIndex;
      follower.snapshotTerm = leader.snapshotTerm;
      follower.compactedTerms = leader.compactedTerms.slice();
      follower.log = [];
      follower.writtenFrom = Math.min(follower.writtenFrom ?? Infinity, leader.snapshotIndex);
      follower.commit = Math.max(follower.commit, leader.snapshotIndex);
      if (follower.applied < leader.snapshotIndex) {
        follower.applied = leader.snapshotIndex;
        follower.appliedSnapshotIndex = leader.snapshotIndex;
      }
      from = leader.snapshotIndex + 1;
    }
    for (let i = from; i <= lastIndex(leader); i++) {
      if (termAt(follower, i) === termAt(leader, i)) continue;
      follower.log.length = i - follower.snapshotIndex - 1;
      for (let j = i; j <= lastIndex(leader); j++) follower.log.push({ ...entryAt(leader, j) });
      follower.writtenFrom = Math.min(follower.writtenFrom ?? Infinity, i);
      break;
    }
    follower.commit = Math.max(follower.commit, Math.min(leader.commit, lastIndex(leader)));
  }

  #advanceCommit(leader: AbstractNode): void {
    if (leader.role !== "leader") return;
    for (let index = lastIndex(leader); index > leader.commit; index--) {
      // Only an entry of the leader's own term is committed by counting replicas.
      const term = termAt(leader, index);
      if (term !== leader.term && !this.countsOldTermReplicas) break;
      const holders = this.nodes.filter((x) => fullTermAt(x, index) === term).length;
      if (holders > this.nodes.length / 2) {
        leader.commit = index;
        for (let i = this.committed.length + 1; i <= index; i++) {
          this.committed.push(entryAt(leader, i).term);
        }
        return;
      }
    }
  }
}

const actionArb = (size: number): fc.Arbitrary<Action> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.nat(size - 1).map((node): Action => ({ type: "elect", node })) },
    { weight: 4, arbitrary: fc.nat(size - 1).map((node): Action => ({ type: "propose", node })) },
    {
      weight: 6,
      arbitrary: fc.tuple(fc.nat(size - 1), fc.nat(size - 1)).map(([from, to]): Action => ({
        type: "replicate",
        from,
        to,
      })),
    },
    { weight: 3, arbitrary: fc.nat(size - 1).map((node): Action => ({ type: "commit", node })) },
    { weight: 3, arbitrary: fc.nat(size - 1).map((node): Action => ({ type: "apply", node })) },
    { weight: 3, arbitrary: fc.nat(size - 1).map((node): Action => ({ type: "compact", node })) },
    { weight: 1, arbitrary: fc.nat(size - 1).map((node): Action => ({ type: "restart", node })) },
  );

const runArb = fc.constantFrom(3, 5).chain((size) =>
  fc.record({
    size: fc.constant(size),
    actions: fc.array(actionArb(size), { minLength: 20, maxLength: 120, size: "max" }),
  })
);

Deno.test("property: correct Raft runs raise no violation", () => {
  let commits = 0;
  let snapshots = 0;
  fc.assert(
    fc.property(runArb, ({ size, actions }) => {
      const cluster = new AbstractCluster(size);
      for (const action of actions) {
        assert.deepEqual(cluster.run(action), [], JSON.stringify(action));
      }
      commits += cluster.checker.highestCommitted;
      snapshots += cluster.snapshotsSent;
    }),
    { numRuns: 200 },
  );
  assert.ok(commits > 200, `runs commit too little (${commits}) to exercise the checker`);
  assert.ok(snapshots > 20, `too few snapshots sent (${snapshots}) to exercise compaction`);
});

Deno.test("property: electing a node lacking committed entries breaks leader completeness", () => {
  let caught = 0;
  fc.assert(
    fc.property(runArb, fc.nat(), ({ size, actions }, pick) => {
      const cluster = new AbstractCluster(size);
      for (const action of actions) cluster.run(action);
      const candidate = cluster.nodes[pick % size];
      const complete = cluster.holdsCommitted(candidate);
      const found = cluster.run({ type: "elect", node: pick, ignoreLogs: true });
      if (complete) {
        assert.deepEqual(found, []);
      } else {
        caught++;
        assert.ok(
          found.some((v) => v.rule === "leaderCompleteness" && v.nodeId === candidate.id),
          JSON.stringify(found),
        );
      }
    }),
    { numRuns: 400 },
  );
  assert.ok(caught > 15, `too few incomplete candidates (${caught})`);
});

Deno.test("property: rewriting a committed entry on any node is caught", () => {
  fc.assert(
    fc.property(runArb, fc.nat(), fc.nat(), ({ size, actions }, pickNode, pickIndex) => {
      const cluster = new AbstractCluster(size);
      for (const action of actions) cluster.run(action);
      // Committed entries still in a log (not compacted into a snapshot).
      const holders = cluster.nodes.filter((x) => x.commit > x.snapshotIndex);
      fc.pre(holders.length > 0);
      const node = holders[pickNode % holders.length];
      const index = node.snapshotIndex + 1 + (pickIndex % (node.commit - node.snapshotIndex));
      const k = index - node.snapshotIndex - 1;
      node.log[k] = { ...node.log[k], data: "corrupted" };
      node.writtenFrom = index;
      const found = cluster.observeAll();
      assert.ok(
        found.some((v) => v.rule === "logMatching" && v.nodeId === node.id),
        JSON.stringify(found),
      );
    }),
    { numRuns: 200 },
  );
});

/** Five nodes and long runs: the schedules of Figure 8 need both. */
const longRunArb = fc.record({
  size: fc.constant(5),
  actions: fc.array(actionArb(5), { minLength: 60, maxLength: 200, size: "max" }),
});

Deno.test("committing an earlier term's entry by counting replicas (Figure 8) is caught", () => {
  const details = fc.check(
    fc.property(longRunArb, ({ size, actions }) => {
      const cluster = new AbstractCluster(size, true);
      return actions.every((action) => cluster.run(action).length === 0);
    }),
    { numRuns: 3_000, seed: 8 },
  );
  const counterexample = details.counterexample?.[0];
  if (counterexample === undefined) throw new Error("no run of 3,000 exposed the bug");
  const { size, actions } = counterexample;
  const cluster = new AbstractCluster(size, true);
  const found = actions.flatMap((action) => cluster.run(action));
  assert.ok(
    found.some((v) => ["leaderCompleteness", "logMatching", "stateMachineSafety"].includes(v.rule)),
    JSON.stringify(found),
  );
});
