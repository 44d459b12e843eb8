import assert from "node:assert/strict";
import fc from "fast-check";
import type { RaftRole } from "../../core/raft/types.ts";
import { logViewFromEntries, RaftSafetyChecker, type Violation } from "./raft_safety.ts";

/**
 * An abstract Raft cluster where every message is delivered at once: the
 * rules of the paper (election restriction, commit only entries of the
 * current term, followers truncate conflicts) with crashes that keep the
 * durable state. Any run of it is correct, so the checker must stay silent.
 */
interface AbstractNode {
  id: string;
  log: { term: number; data: string }[];
  term: number;
  role: RaftRole;
  lead: string | null;
  vote: string | null;
  commit: number;
  applied: number;
  newlyApplied: { index: number; term: number; dataHash: string }[];
  writtenFrom: number | undefined;
}

type Action =
  | { type: "elect"; node: number; ignoreLogs?: boolean }
  | { type: "propose"; node: number }
  | { type: "replicate"; from: number; to: number }
  | { type: "commit"; node: number }
  | { type: "apply"; node: number }
  | { type: "restart"; node: number };

class AbstractCluster {
  readonly nodes: AbstractNode[];
  readonly checker = new RaftSafetyChecker();
  #proposals = 0;

  /**
   * `countsOldTermReplicas` injects the bug of Figure 8 of the Raft paper:
   * committing an entry of an earlier term once a majority holds it.
   */
  constructor(size: number, readonly countsOldTermReplicas = false) {
    this.nodes = Array.from({ length: size }, (_, i) => ({
      id: `n${i}`,
      log: [],
      term: 0,
      role: "follower",
      lead: null,
      vote: null,
      commit: 0,
      applied: 0,
      newlyApplied: [],
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
        leader.writtenFrom ??= leader.log.length;
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
      case "apply": {
        const node = n[action.node % size];
        while (node.applied < node.commit) {
          node.applied++;
          const e = node.log[node.applied - 1];
          node.newlyApplied.push({ index: node.applied, term: e.term, dataHash: e.data });
        }
        break;
      }
      case "restart": {
        const node = n[action.node % size];
        node.role = "follower";
        node.lead = null;
        node.applied = 0;
        this.checker.restarted(node.id, {
          hardState: { term: node.term, vote: node.vote, commit: node.commit },
          snapshotIndex: 0,
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
          node.log.map((e, i) => ({ index: i + 1, term: e.term, dataHash: e.data })),
        ),
        newlyApplied: node.newlyApplied,
        writtenFrom: node.writtenFrom,
      };
      node.newlyApplied = [];
      node.writtenFrom = undefined;
      return this.checker.observe(node.id, view);
    });
  }

  /** The committed prefix as the node that committed furthest holds it. */
  committedTerms(): number[] {
    const furthest = this.nodes.reduce((a, b) => (b.commit > a.commit ? b : a));
    return furthest.log.slice(0, furthest.commit).map((e) => e.term);
  }

  /** One of the nodes that believe they lead (stale leaders included), picked by `pick`. */
  #leader(pick: number): AbstractNode | undefined {
    const leaders = this.nodes.filter((x) => x.role === "leader");
    return leaders.length === 0 ? undefined : leaders[pick % leaders.length];
  }

  #elect(candidate: AbstractNode, ignoreLogs: boolean): void {
    const term = Math.max(...this.nodes.map((x) => x.term)) + 1;
    const lastTerm = (x: AbstractNode) => x.log.at(-1)?.term ?? 0;
    const upToDate = (voter: AbstractNode) =>
      lastTerm(candidate) > lastTerm(voter) ||
      (lastTerm(candidate) === lastTerm(voter) && candidate.log.length >= voter.log.length);
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
    for (let i = 0; i < leader.log.length; i++) {
      if (follower.log[i]?.term === leader.log[i].term) continue;
      follower.log.length = i;
      follower.log.push(...leader.log.slice(i).map((e) => ({ ...e })));
      follower.writtenFrom = Math.min(follower.writtenFrom ?? Infinity, i + 1);
      break;
    }
    follower.commit = Math.max(follower.commit, Math.min(leader.commit, leader.log.length));
  }

  #advanceCommit(leader: AbstractNode): void {
    if (leader.role !== "leader") return;
    for (let index = leader.log.length; index > leader.commit; index--) {
      // Only an entry of the leader's own term is committed by counting replicas.
      const term = leader.log[index - 1].term;
      if (term !== leader.term && !this.countsOldTermReplicas) break;
      const holders = this.nodes.filter((x) => x.log[index - 1]?.term === term).length;
      if (holders > this.nodes.length / 2) {
        leader.commit = index;
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
    { weight: 2, arbitrary: fc.nat(size - 1).map((node): Action => ({ type: "apply", node })) },
    { weight: 1, arbitrary: fc.nat(size - 1).map((node): Action => ({ type: "restart", node })) },
  );

const runArb = fc.constantFrom(3, 5).chain((size) =>
  fc.record({
    size: fc.constant(size),
    actions: fc.array(actionArb(size), { minLength: 20, maxLength: 120 }),
  })
);

Deno.test("property: correct Raft runs raise no violation", () => {
  let commits = 0;
  fc.assert(
    fc.property(runArb, ({ size, actions }) => {
      const cluster = new AbstractCluster(size);
      for (const action of actions) {
        assert.deepEqual(cluster.run(action), [], JSON.stringify(action));
      }
      commits += cluster.checker.highestCommitted;
    }),
    { numRuns: 200 },
  );
  assert.ok(commits > 200, `runs commit too little (${commits}) to exercise the checker`);
});

Deno.test("property: electing a node lacking committed entries breaks leader completeness", () => {
  let caught = 0;
  fc.assert(
    fc.property(runArb, fc.nat(), ({ size, actions }, pick) => {
      const cluster = new AbstractCluster(size);
      for (const action of actions) cluster.run(action);
      const candidate = cluster.nodes[pick % size];
      const committed = cluster.committedTerms();
      const complete = committed.every((term, i) => candidate.log[i]?.term === term);
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
      const holders = cluster.nodes.filter((x) => x.commit > 0);
      fc.pre(holders.length > 0);
      const node = holders[pickNode % holders.length];
      const index = 1 + (pickIndex % node.commit);
      node.log[index - 1] = { ...node.log[index - 1], data: "corrupted" };
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
  actions: fc.array(actionArb(5), { minLength: 60, maxLength: 200 }),
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
