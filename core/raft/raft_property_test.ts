// Randomized safety properties over small in-memory clusters: message drops,
// duplicates and reordering, partitions, restarts, compaction, membership
// changes, elections and proposals must never break Election Safety, Leader
// Append-Only, Log Matching or State Machine Safety, nor the persistence
// contract (asserted by the test network), and once the faults heal the
// cluster must converge.
import assert from "node:assert/strict";
import fc from "fast-check";
import { ProposalDroppedError } from "./errors.ts";
import { TestNetwork } from "./network_test.ts";
import type { ConfState, Entry } from "./types.ts";

type Action =
  | { kind: "tick"; node: number; times: number }
  | { kind: "tickAll" }
  | { kind: "propose"; node: number }
  | { kind: "campaign"; node: number }
  | { kind: "isolate"; node: number }
  | { kind: "heal" }
  | { kind: "restart"; node: number }
  | { kind: "faults"; drop: number; dup: number; reorder: number }
  | { kind: "compact"; node: number }
  | { kind: "confChange"; op: "addLearner" | "addNode" | "removeNode" }
  | { kind: "membership"; op: "add" | "remove"; node: number };

const IDS = ["a", "b", "c"];
const FIVE_IDS = ["a", "b", "c", "e", "f"];

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("tickAll" as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("tick" as const),
      node: fc.nat(4),
      times: fc.integer({ min: 1, max: 12 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("propose" as const), node: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("campaign" as const), node: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("isolate" as const), node: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("heal" as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("restart" as const), node: fc.nat(4) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("compact" as const), node: fc.nat(4) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("confChange" as const),
      op: fc.constantFrom("addLearner" as const, "addNode" as const, "removeNode" as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("membership" as const),
      op: fc.constantFrom("add" as const, "remove" as const),
      node: fc.nat(4),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("faults" as const),
      drop: fc.double({ min: 0, max: 0.4, noNaN: true }),
      dup: fc.double({ min: 0, max: 0.2, noNaN: true }),
      reorder: fc.double({ min: 0, max: 0.5, noNaN: true }),
    }),
  },
);

function key(e: Entry): string {
  return `${e.index}/${e.term}/${e.type}/${Array.from(e.data).join(",")}`;
}

class SafetyChecker {
  readonly leaderOfTerm = new Map<number, string>();
  readonly leaderLogOfTerm = new Map<number, Map<number, string>>();
  readonly commitOf = new Map<string, number>();

  check(net: TestNetwork): void {
    for (const [id, node] of net.nodes) {
      const r = node.rn.raft;
      // Election Safety: at most one leader per term.
      if (r.role === "leader") {
        const prior = this.leaderOfTerm.get(r.term);
        assert.ok(
          prior === undefined || prior === id,
          `two leaders in term ${r.term}: ${prior}, ${id}`,
        );
        this.leaderOfTerm.set(r.term, id);
        // Leader Append-Only: a leader never overwrites or deletes its entries.
        const seen = this.leaderLogOfTerm.get(r.term) ?? new Map<number, string>();
        const first = r.raftLog.firstIndex();
        for (const [index, k] of seen) {
          if (index < first) continue;
          assert.ok(index <= r.raftLog.lastIndex(), `leader ${id} deleted entry ${index}`);
          assert.equal(key(r.raftLog.slice(index, index + 1, Infinity)[0]), k, "leader rewrote");
        }
        for (const e of r.raftLog.slice(first, r.raftLog.lastIndex() + 1, Infinity)) {
          seen.set(e.index, key(e));
        }
        this.leaderLogOfTerm.set(r.term, seen);
      }
      // The commit index never goes backwards (it is persisted).
      const prevCommit = this.commitOf.get(id) ?? 0;
      assert.ok(r.raftLog.committed >= prevCommit, `${id} commit went backwards`);
      this.commitOf.set(id, r.raftLog.committed);
    }
    const nodes = [...net.nodes.values()];
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const li = nodes[i].rn.raft.raftLog;
        const lj = nodes[j].rn.raft.raftLog;
        // Log Matching: the highest index where both logs have the same term
        // is preceded by identical entries.
        const lo = Math.max(li.firstIndex(), lj.firstIndex());
        const hi = Math.min(li.lastIndex(), lj.lastIndex());
        for (let k = hi; k >= lo; k--) {
          if (li.termOrZero(k) !== lj.termOrZero(k)) continue;
          const a = li.slice(lo, k + 1, Infinity).map(key);
          const b = lj.slice(lo, k + 1, Infinity).map(key);
          assert.deepEqual(a, b, "log matching violated");
          break;
        }
        // State Machine Safety: no two nodes apply different entries at one
        // index (a node restored from a snapshot skips the entries it covers).
        const applied = new Map(nodes[i].applied.map((e) => [e.index, key(e)]));
        for (const e of nodes[j].applied) {
          const other = applied.get(e.index);
          assert.ok(other === undefined || other === key(e), `applied entry ${e.index} differs`);
        }
      }
    }
  }
}

function describe(net: TestNetwork): string {
  return [...net.nodes.values()].map((n) => {
    const r = n.rn.raft;
    return `${n.id}:${r.role}/term ${r.term}/lead ${r.lead}/commit ${r.raftLog.committed}/` +
      `last ${r.raftLog.lastIndex()}/applied ${n.rn.status().applied}`;
  }).join("; ");
}

function members(cs: ConfState): string[] {
  return [...new Set([...cs.voters, ...cs.votersOutgoing, ...cs.learners])];
}

interface ClusterOptions {
  size: 3 | 5;
  preVote: boolean;
  checkQuorum: boolean;
  maxInflightMsgs: number;
  maxSizePerMsgBytes: number;
}

const clusterOptionsArb: fc.Arbitrary<ClusterOptions> = fc.record({
  size: fc.constantFrom(3 as const, 5 as const),
  preVote: fc.boolean(),
  checkQuorum: fc.boolean(),
  maxInflightMsgs: fc.integer({ min: 1, max: 4 }),
  maxSizePerMsgBytes: fc.constantFrom(0, 40, 1024 * 1024),
});

function run(seed: number, actions: Action[], options: ClusterOptions): void {
  const { size, ...config } = options;
  const ids = size === 3 ? IDS : FIVE_IDS;
  const at = (n: number): string => ids[n % ids.length];
  const net = new TestNetwork(ids, { bootstrap: true, seed, config });
  // "d" starts outside the cluster; conf changes add and remove it.
  net.addEmptyNode("d");
  const checker = new SafetyChecker();
  let proposals = 0;
  for (const action of actions) {
    switch (action.kind) {
      case "tickAll":
        net.tickAll();
        break;
      case "tick": {
        const node = net.node(at(action.node));
        for (let i = 0; i < action.times; i++) node.rn.tick();
        net.deliver(node.drain());
        break;
      }
      case "propose":
        try {
          net.propose(at(action.node), `p${proposals++}`);
        } catch (e) {
          if (!(e instanceof ProposalDroppedError)) throw e;
        }
        break;
      case "campaign":
        net.campaign(at(action.node));
        break;
      case "isolate":
        net.isolate(at(action.node));
        break;
      case "heal":
        net.heal();
        break;
      case "restart":
        net.restart(at(action.node));
        break;
      case "compact": {
        const node = net.node(at(action.node));
        const applied = node.rn.status().applied;
        if (
          applied > node.storage.snapshot().metadata.index && applied >= node.storage.firstIndex()
        ) {
          node.storage.createSnapshot(applied, node.rn.status().config, new Uint8Array([applied]));
          node.storage.compact(applied);
        }
        break;
      }
      case "confChange": {
        const leader = net.leaders()[0];
        if (leader === undefined) break;
        try {
          net.node(leader).rn.proposeConfChange({
            transition: "auto",
            changes: [{ type: action.op, nodeId: "d" }],
          });
          net.deliver(net.node(leader).drain());
        } catch (e) {
          if (!(e instanceof ProposalDroppedError)) throw e;
        }
        break;
      }
      case "membership": {
        // Add or remove one of the original members, the leader included,
        // never leaving fewer than two voters.
        const leader = net.leaders()[0];
        if (leader === undefined) break;
        const target = at(action.node);
        const voters = net.node(leader).rn.status().config.voters;
        const isVoter = voters.includes(target);
        if (action.op === "remove" ? !isVoter || voters.length < 3 : isVoter) break;
        try {
          net.node(leader).rn.proposeConfChange({
            transition: "auto",
            changes: [{ type: action.op === "add" ? "addNode" : "removeNode", nodeId: target }],
          });
          net.deliver(net.node(leader).drain());
        } catch (e) {
          if (!(e instanceof ProposalDroppedError)) throw e;
        }
        break;
      }
      case "faults":
        net.dropRate = action.drop;
        net.duplicateRate = action.dup;
        net.reorderRate = action.reorder;
        break;
    }
    checker.check(net);
  }
  // Liveness once the faults heal: every member follows one leader of one
  // term, and a new proposal is committed and applied everywhere. A proposal
  // may legitimately be lost if leadership changes right after it (a timer
  // that ran during the faults can still fire), so a few attempts are allowed.
  net.heal();
  // A node removed from the configuration while it was a cut-off leader never
  // hears of its removal (nobody sends to a non-member) and, without
  // CheckQuorum, stays leader of its old term: harmless, since it can commit
  // nothing. Liveness is about the members of the newest leader's configuration.
  const currentLeaders = (): string[] => {
    const leaders = net.leaders();
    if (leaders.length === 0) return [];
    const newest = leaders.reduce((a, b) =>
      net.node(a).rn.raft.term >= net.node(b).rn.raft.term ? a : b
    );
    const config = members(net.node(newest).rn.status().config);
    return leaders.filter((id) => config.includes(id));
  };
  const settled = (): boolean => {
    const leaders = currentLeaders();
    if (leaders.length !== 1) return false;
    const leader = net.node(leaders[0]).rn;
    return members(leader.status().config).every((id) =>
      net.node(id).rn.raft.term === leader.raft.term && net.node(id).rn.raft.lead === leaders[0]
    );
  };
  const appliedEverywhere = (data: string): boolean => {
    const leaders = currentLeaders();
    if (leaders.length !== 1) return false;
    const cs = net.node(leaders[0]).rn.status().config;
    return members(cs).every((id) => net.appliedData(id).includes(data));
  };
  let done = false;
  for (let attempt = 0; attempt < 5 && !done; attempt++) {
    for (let i = 0; i < 400 && !settled(); i++) {
      net.tickAll();
      checker.check(net);
    }
    assert.ok(settled(), `no stable leader within 400 ticks after healing: ${describe(net)}`);
    const data = `final${attempt}`;
    net.propose(currentLeaders()[0], data);
    for (let i = 0; i < 50 && !appliedEverywhere(data); i++) {
      net.tickAll();
      checker.check(net);
    }
    done = appliedEverywhere(data);
  }
  assert.ok(done, `a proposal was not applied by every member: ${describe(net)}`);
}

Deno.test("property: faults never break Raft's safety and the cluster converges after healing", () => {
  fc.assert(
    fc.property(
      fc.nat(1_000_000),
      fc.array(actionArb, { minLength: 20, maxLength: 150 }),
      clusterOptionsArb,
      (seed, actions, config) => run(seed, actions, config),
    ),
    { numRuns: 300 },
  );
});

Deno.test("property: the same seed and actions replay to the same logs (determinism)", () => {
  fc.assert(
    fc.property(fc.nat(1_000_000), fc.array(actionArb, { maxLength: 60 }), (seed, actions) => {
      const logs = (): string[][] => {
        const net = new TestNetwork(IDS, { bootstrap: true, seed, config: { preVote: true } });
        for (const a of actions) {
          if (a.kind === "tickAll") net.tickAll();
          else if (a.kind === "propose") {
            try {
              net.propose(IDS[a.node % IDS.length], "x");
            } catch (e) {
              if (!(e instanceof ProposalDroppedError)) throw e;
            }
          } else if (a.kind === "faults") net.dropRate = a.drop;
        }
        return [...net.nodes.values()].map((n) => n.rn.raft.raftLog.allEntries().map(key));
      };
      assert.deepEqual(logs(), logs());
    }),
    { numRuns: 20 },
  );
});
