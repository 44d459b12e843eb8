// Feature tests beyond the paper: PreVote, CheckQuorum, flow control, fast
// backtracking, snapshots, joint consensus, learners, leadership transfer,
// ReadIndex, proposal limits and config validation.
import assert from "node:assert/strict";
import { SeededRng } from "../rng.ts";
import { ConfigError, validateConfig } from "./config.ts";
import { entrySizeBytes, UnsafeIntegerError } from "./entries.ts";
import { encodeConfChange } from "./confchange/conf_change.ts";
import { ProposalDroppedError } from "./errors.ts";
import { newMessage, type Raft } from "./raft.ts";
import { MemoryStorage, SnapshotTemporarilyUnavailableError } from "./storage.ts";
import { RawNode } from "./rawnode.ts";
import {
  commitNoopEntry,
  ent,
  newTestRaft,
  readMessages,
  TestNetwork,
  type TestOptions,
} from "./network_test.ts";
import type { Message } from "./types.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function propose(r: Raft, data: string | Uint8Array): void {
  const bytes = typeof data === "string" ? enc(data) : data;
  r.step(newMessage({ type: "prop", from: r.id, entries: [{ ...ent(0, 0), data: bytes }] }));
}

/** A proposal forwarded by `from`, stamped with the term of the leader it is sent to. */
function forwardedProp(from: string, logTerm: number, data: string): Message {
  return newMessage({ type: "prop", from, logTerm, entries: [{ ...ent(0, 0), data: enc(data) }] });
}

function leaderOf(voters: string[], opts: TestOptions = {}): Raft {
  const r = newTestRaft(voters[0], voters, opts);
  r.becomeCandidate();
  r.becomeLeader();
  return r;
}

function electedNet(ids: string[], config: TestOptions = {}, seed = 1): TestNetwork {
  const net = new TestNetwork(ids, { bootstrap: true, config, seed });
  net.campaign(ids[0]);
  assert.deepEqual(net.leaders(), [ids[0]]);
  return net;
}

Deno.test("PreVote", async (t) => {
  await t.step(
    "a partitioned node does not raise its term and does not disrupt the leader on rejoin",
    () => {
      const net = electedNet(["a", "b", "c"], { preVote: true });
      const term = net.node("a").rn.raft.term;
      net.isolate("c");
      for (let i = 0; i < 100; i++) net.tickAll();
      assert.equal(net.node("c").rn.raft.term, term);
      assert.equal(net.node("c").rn.raft.role, "preCandidate");
      net.heal();
      net.tickAll(3);
      assert.deepEqual(net.leaders(), ["a"]);
      assert.equal(net.node("a").rn.raft.term, term);
      assert.equal(net.node("c").rn.raft.lead, "a");
    },
  );

  await t.step(
    "without PreVote the same partition forces a new election (the disruption PreVote prevents)",
    () => {
      const net = electedNet(["a", "b", "c"]);
      const term = net.node("a").rn.raft.term;
      net.isolate("c");
      for (let i = 0; i < 100; i++) net.tickAll();
      assert.ok(net.node("c").rn.raft.term > term);
      net.heal();
      // c times out again and its higher-term vote requests depose the leader.
      for (let i = 0; i < 40 && net.node("a").rn.raft.term === term; i++) net.tickAll();
      assert.ok(net.node("a").rn.raft.term > term, "the leader was deposed by the higher term");
    },
  );

  await t.step("a pre-candidate that wins the pre-election campaigns for real in term + 1", () => {
    const net = new TestNetwork(["a", "b", "c"], { bootstrap: true, config: { preVote: true } });
    const before = net.node("a").rn.raft.term;
    net.campaign("a");
    assert.equal(net.node("a").rn.raft.role, "leader");
    assert.equal(net.node("a").rn.raft.term, before + 1);
    const types = net.delivered.map((m) => m.type);
    assert.ok(types.indexOf("preVote") < types.indexOf("vote"));
  });

  await t.step("a pre-vote is granted even by a node that voted in its current term", () => {
    const r = newTestRaft("a", ["a", "b", "c"], { preVote: true }, {
      hardState: { term: 1, vote: "b", commit: 0 },
    });
    r.step(newMessage({ type: "preVote", from: "c", to: "a", term: 2 }));
    const [m] = readMessages(r);
    assert.equal(m.type, "preVoteResp");
    assert.equal(m.reject, false);
    assert.equal(m.term, 2);
    assert.equal(r.term, 1, "a pre-vote never changes the voter's term");
    assert.equal(r.vote, "b");
  });

  await t.step("a stale pre-vote is rejected with the voter's term", () => {
    const r = newTestRaft("a", ["a", "b"], { preVote: true }, {
      hardState: { term: 5, vote: null, commit: 0 },
    });
    r.step(newMessage({ type: "preVote", from: "b", to: "a", term: 3 }));
    const [m] = readMessages(r);
    assert.equal(m.reject, true);
    assert.equal(m.term, 5);
  });
});

Deno.test("CheckQuorum", async (t) => {
  await t.step(
    "a leader that has not heard from a quorum within an election timeout steps down",
    () => {
      const net = electedNet(["a", "b", "c"], { checkQuorum: true });
      net.isolate("a");
      for (let i = 0; i < 25; i++) net.tickAll();
      assert.notEqual(net.node("a").rn.raft.role, "leader");
    },
  );

  await t.step("a leader in contact with a quorum keeps leading", () => {
    const net = electedNet(["a", "b", "c"], { checkQuorum: true });
    net.isolate("c");
    for (let i = 0; i < 50; i++) net.tickAll();
    assert.equal(net.node("a").rn.raft.role, "leader");
  });

  await t.step(
    "with checkQuorumTicks past electionTicks, a leader rides out followers that all stall at once",
    () => {
      const stalled = (opts: TestOptions): Raft => {
        const r = leaderOf(["a", "b", "c"], { checkQuorum: true, ...opts });
        // Both followers busy (say, applying one huge command) for electionTicks + 1 ticks.
        for (let i = 0; i <= r.config.electionTicks; i++) r.tick();
        return r;
      };
      assert.equal(stalled({}).role, "follower");
      const r = stalled({ checkQuorumTicks: 20 });
      assert.equal(r.role, "leader");
      r.step(newMessage({ type: "heartbeatResp", from: "b", to: "a", term: r.term }));
      for (let i = 0; i < 20; i++) r.tick();
      assert.equal(r.role, "leader");
      // Silent for a whole window: stepping down still happens, just later.
      for (let i = 0; i < 20; i++) r.tick();
      assert.equal(r.role, "follower");
    },
  );

  await t.step("within the leader lease, a follower ignores a PreVote of a higher term", () => {
    const r = newTestRaft("b", ["a", "b", "c"], { checkQuorum: true, preVote: true });
    r.becomeFollower(1, "a");
    for (let i = 0; i < r.config.electionTicks - 1; i++) r.tick();
    r.step(newMessage({ type: "preVote", from: "c", to: "b", term: 2, index: 9, logTerm: 9 }));
    assert.equal(r.term, 1);
    assert.deepEqual(readMessages(r), []);
    r.tick();
    // The lease is over: the same PreVote is granted, still without changing term.
    r.step(newMessage({ type: "preVote", from: "c", to: "b", term: 2, index: 9, logTerm: 9 }));
    assert.equal(r.term, 1);
    assert.equal(readMessages(r).at(-1)?.reject, false);
  });

  await t.step("within the leader lease, a follower ignores vote requests of a higher term", () => {
    const r = newTestRaft("b", ["a", "b", "c"], { checkQuorum: true });
    r.becomeFollower(1, "a");
    r.step(newMessage({ type: "vote", from: "c", to: "b", term: 2, index: 9, logTerm: 9 }));
    assert.equal(r.term, 1);
    assert.deepEqual(readMessages(r), []);
    for (let i = 0; i < r.config.electionTicks; i++) r.tick();
    // Lease expired (and "b" campaigned or not); a vote request is considered now.
    r.becomeFollower(r.term, null);
    r.step(
      newMessage({ type: "vote", from: "c", to: "b", term: r.term + 1, index: 9, logTerm: 9 }),
    );
    assert.equal(readMessages(r).at(-1)?.reject, false);
  });

  await t.step(
    "a candidate stuck in a higher term rejoins: the lease ignores its votes, the leader's heartbeat response frees it",
    () => {
      const net = electedNet(["a", "b", "c"], { checkQuorum: true });
      net.isolate("c");
      for (let i = 0; i < 60; i++) net.tickAll();
      const stuckTerm = net.node("c").rn.raft.term;
      assert.ok(stuckTerm > net.node("a").rn.raft.term);
      net.heal();
      for (let i = 0; i < 100; i++) {
        net.tickAll();
        const leaders = net.leaders();
        if (leaders.length === 1 && net.node("c").rn.raft.lead === leaders[0]) break;
      }
      const leaders = net.leaders();
      assert.equal(leaders.length, 1);
      assert.equal(net.node("c").rn.raft.lead, leaders[0]);
      assert.ok(net.node(leaders[0]).rn.raft.term >= stuckTerm);
    },
  );

  await t.step("a stale leader learns the new term from the append response of a follower", () => {
    const r = newTestRaft("b", ["a", "b", "c"], { checkQuorum: true }, {
      hardState: { term: 3, vote: null, commit: 0 },
    });
    r.step(newMessage({ type: "heartbeat", from: "a", to: "b", term: 2 }));
    const [m] = readMessages(r);
    assert.deepEqual([m.type, m.to, m.term], ["appResp", "a", 3]);
  });
});

Deno.test("Flow control", async (t) => {
  await t.step("a replicating leader keeps at most maxInflightMsgs appends in flight", () => {
    const r = leaderOf(["a", "b"], { maxInflightMsgs: 3, maxSizePerMsgBytes: 0 });
    commitNoopEntry(r);
    assert.equal(r.trk.progress.get("b")?.state, "replicate");
    for (let i = 0; i < 10; i++) propose(r, `p${i}`);
    const apps = readMessages(r).filter((m) => m.type === "app" && m.entries.length > 0);
    assert.equal(apps.length, 3);
    // Acknowledging the first frees one slot; exactly one more goes out.
    r.step(
      newMessage({ type: "appResp", from: "b", to: "a", term: r.term, index: apps[0].index + 1 }),
    );
    const more = readMessages(r).filter((m) => m.type === "app" && m.entries.length > 0);
    assert.equal(more.length, 1);
  });

  await t.step(
    "a full window still answers a heartbeat response with an empty append (recovers lost acks)",
    () => {
      const r = leaderOf(["a", "b"], { maxInflightMsgs: 1, maxSizePerMsgBytes: 0 });
      commitNoopEntry(r);
      propose(r, "x");
      propose(r, "y");
      readMessages(r);
      r.step(newMessage({ type: "heartbeatResp", from: "b", to: "a", term: r.term }));
      const apps = readMessages(r).filter((m) => m.type === "app");
      assert.equal(apps.length, 1);
      assert.equal(apps[0].entries.length, 0);
    },
  );

  await t.step("maxSizePerMsgBytes batches entries into messages of bounded size", () => {
    const size = entrySizeBytes(ent(1, 1, "0123456789"));
    const r = leaderOf(["a", "b"], { maxSizePerMsgBytes: size * 3 });
    commitNoopEntry(r);
    const pr = r.trk.progress.get("b");
    assert.ok(pr);
    // Pause sending so the proposals accumulate, then probe once.
    pr.becomeProbe();
    pr.msgAppFlowPaused = true;
    for (let i = 0; i < 7; i++) propose(r, "0123456789");
    readMessages(r);
    pr.msgAppFlowPaused = false;
    r.sendAppend("b");
    const [m] = readMessages(r);
    assert.equal(m.entries.length, 3);
  });

  await t.step(
    "maxInflightBytes pauses a follower once the bytes in flight reach the limit",
    () => {
      const r = leaderOf(["a", "b"], {
        maxInflightMsgs: 100,
        maxInflightBytes: 2048,
        maxSizePerMsgBytes: 1024,
      });
      commitNoopEntry(r);
      for (let i = 0; i < 10; i++) propose(r, new Uint8Array(1000));
      const apps = readMessages(r).filter((m) => m.type === "app" && m.entries.length > 0);
      assert.equal(apps.length, 3, "1000 + 1000 < 2048, the third send fills the window");
      assert.equal(r.trk.progress.get("b")?.isPaused(), true);
    },
  );

  await t.step("reportUnreachable moves a replicating follower back to probing", () => {
    const net = electedNet(["a", "b", "c"]);
    const a = net.node("a").rn;
    assert.equal(a.status().progress?.get("b")?.state, "replicate");
    a.reportUnreachable("b");
    assert.equal(a.status().progress?.get("b")?.state, "probe");
  });
});

Deno.test("Fast log backtracking skips a whole divergent term per round trip", () => {
  const n = 50;
  const leaderTerms = [1, 1, ...Array(n).fill(3)];
  const followerTerms = [1, 1, ...Array(n).fill(2)];
  const net = new TestNetwork([], {});
  const ids = ["l", "f", "x"];
  const storageFor = (terms: number[], term: number) => {
    const s = new MemoryStorage({
      voters: ids,
      votersOutgoing: [],
      learners: [],
      learnersNext: [],
      autoLeave: false,
    });
    s.append(terms.map((t, i) => ent(i + 1, t)));
    s.setHardState({ term, vote: null, commit: 2 });
    return s;
  };
  const l = net.addNodeFromStorage("l", storageFor(leaderTerms, 3));
  net.addNodeFromStorage("f", storageFor(followerTerms, 2));
  l.rn.campaign();
  net.deliver(l.drain());
  l.rn.step(newMessage({ type: "voteResp", from: "x", to: "l", term: l.rn.raft.term }));
  net.deliver(l.drain());
  assert.equal(l.rn.raft.role, "leader");
  const rejects = net.delivered.filter((m) => m.type === "appResp" && m.reject).length;
  assert.ok(rejects <= 2, `expected at most 2 rejections, got ${rejects}`);
  assert.deepEqual(
    net.node("f").rn.raft.raftLog.allEntries().map((e) => e.term),
    l.rn.raft.raftLog.allEntries().map((e) => e.term),
  );
});

Deno.test("Snapshots", async (t) => {
  const compactLeader = (net: TestNetwork, id: string): void => {
    const node = net.node(id);
    const applied = node.rn.status().applied;
    node.storage.createSnapshot(applied, node.rn.status().config, enc(`state@${applied}`));
    node.storage.compact(applied);
  };

  await t.step(
    "a follower whose next entry was compacted receives a snapshot and catches up",
    () => {
      const net = electedNet(["a", "b", "c"]);
      net.stop("c");
      for (let i = 0; i < 5; i++) net.propose("a", `v${i}`);
      compactLeader(net, "a");
      const c = net.restart("c");
      net.tickAll(3);
      const snaps = net.delivered.filter((m) => m.type === "snap");
      assert.equal(snaps.length, 1);
      assert.equal(snaps[0].to, "c");
      assert.equal(
        c.storage.snapshot().metadata.index,
        net.node("a").storage.snapshot().metadata.index,
      );
      net.node("a").rn.reportSnapshot("c", true);
      net.propose("a", "after");
      net.tickAll(3);
      assert.equal(c.rn.raft.raftLog.committed, net.node("a").rn.raft.raftLog.committed);
      assert.deepEqual(net.appliedData("c"), ["after"]);
      assert.equal(net.node("a").rn.status().progress?.get("c")?.state, "replicate");
    },
  );

  await t.step("a failed snapshot (reportSnapshot false) is retried after probing", () => {
    const net = electedNet(["a", "b", "c"]);
    net.stop("c");
    for (let i = 0; i < 3; i++) net.propose("a", `v${i}`);
    compactLeader(net, "a");
    net.restart("c");
    // The network drops every snapshot and reports each failure to the leader.
    let attempts = 0;
    net.filter = (m) => {
      if (m.type === "snap") attempts++;
      return m.type !== "snap";
    };
    net.tickAll(1);
    const a = net.node("a").rn;
    assert.equal(attempts, 1);
    assert.equal(a.status().progress?.get("c")?.state, "probe", "failure reported: probing");
    net.tickAll(3);
    assert.ok(attempts >= 2, "the snapshot is sent again after probing");
    net.heal();
    net.tickAll(4);
    assert.equal(net.node("c").rn.raft.raftLog.committed, a.raft.raftLog.committed);
  });

  await t.step("no snapshot is sent while storage reports it temporarily unavailable", () => {
    const net = electedNet(["a", "b", "c"]);
    net.stop("c");
    net.propose("a", "x");
    compactLeader(net, "a");
    const storage = net.node("a").storage;
    const original = storage.snapshot.bind(storage);
    storage.snapshot = () => {
      throw new SnapshotTemporarilyUnavailableError();
    };
    net.restart("c");
    net.tickAll(3);
    assert.equal(net.delivered.filter((m) => m.type === "snap").length, 0);
    storage.snapshot = original;
    net.tickAll(3);
    assert.equal(net.delivered.filter((m) => m.type === "snap").length, 1);
  });

  await t.step("no snapshot is sent to a follower that is not recently active", () => {
    const storage = new MemoryStorage({
      voters: ["a", "b"],
      votersOutgoing: [],
      learners: [],
      learnersNext: [],
      autoLeave: false,
    });
    storage.append([ent(1, 1), ent(2, 1), ent(3, 1)]);
    storage.setHardState({ term: 1, vote: null, commit: 3 });
    storage.createSnapshot(3, storage.initialState().confState, enc("s"));
    storage.compact(3);
    const leader = new RawNode({
      id: "a",
      electionTicks: 10,
      heartbeatTicks: 1,
      storage,
      rng: new SeededRng(1),
    }).raft;
    leader.becomeCandidate();
    leader.becomeLeader();
    readMessages(leader);
    const pr = leader.trk.progress.get("b");
    assert.ok(pr);
    pr.becomeProbe();
    // b's next index precedes the compaction point: it needs the snapshot.
    pr.maybeDecrTo(pr.next - 1, 0);
    pr.recentActive = false;
    leader.sendAppend("b");
    assert.deepEqual(readMessages(leader).map((m) => m.type), []);
    pr.recentActive = true;
    leader.sendAppend("b");
    assert.deepEqual(readMessages(leader).map((m) => m.type), ["snap"]);
  });

  await t.step("a follower ignores a snapshot older than its commit index", () => {
    const r = newTestRaft("b", ["a", "b"], {}, {
      terms: [1, 1, 1],
      hardState: { term: 1, vote: null, commit: 3 },
    });
    r.becomeFollower(1, "a");
    r.step(newMessage({
      type: "snap",
      from: "a",
      to: "b",
      term: 1,
      snapshot: {
        data: new Uint8Array(),
        metadata: {
          index: 2,
          term: 1,
          confState: {
            voters: ["a", "b"],
            votersOutgoing: [],
            learners: [],
            learnersNext: [],
            autoLeave: false,
          },
        },
      },
    }));
    assert.equal(r.raftLog.unstable.snapshot, undefined);
    const [m] = readMessages(r);
    assert.deepEqual([m.type, m.index], ["appResp", 3]);
  });
});

Deno.test("Joint consensus", async (t) => {
  await t.step(
    "replacing a voter with an auto transition enters and then leaves the joint configuration",
    () => {
      const net = electedNet(["a", "b", "c"]);
      net.addEmptyNode("d");
      net.node("a").rn.proposeConfChange({
        transition: "auto",
        changes: [{ type: "addNode", nodeId: "d" }, { type: "removeNode", nodeId: "c" }],
      });
      net.deliver(net.node("a").drain());
      net.tickAll(5);
      for (const id of ["a", "b", "d"]) {
        const cs = net.node(id).rn.status().config;
        assert.deepEqual(cs.voters, ["a", "b", "d"], `config of ${id}`);
        assert.deepEqual(cs.votersOutgoing, []);
      }
      net.propose("a", "after");
      assert.ok(net.appliedData("d").includes("after"));
    },
  );

  await t.step("an explicit transition stays joint until an empty conf change leaves it", () => {
    const net = electedNet(["a", "b", "c"]);
    net.addEmptyNode("d");
    const a = net.node("a").rn;
    a.proposeConfChange({ transition: "explicit", changes: [{ type: "addNode", nodeId: "d" }] });
    net.deliver(net.node("a").drain());
    net.tickAll(5);
    assert.deepEqual(a.status().config.votersOutgoing, ["a", "b", "c"]);
    a.proposeConfChange({ transition: "auto", changes: [] });
    net.deliver(net.node("a").drain());
    net.tickAll(3);
    assert.deepEqual(a.status().config.voters, ["a", "b", "c", "d"]);
    assert.deepEqual(a.status().config.votersOutgoing, []);
  });

  await t.step("an empty conf change outside a joint configuration becomes a no-op entry", () => {
    const net = electedNet(["a", "b", "c"]);
    const a = net.node("a").rn;
    a.proposeConfChange({ transition: "auto", changes: [] });
    assert.equal(a.raft.raftLog.allEntries().at(-1)?.type, "normal");
  });

  await t.step(
    "removing the leader: it steps down once the change is applied and the rest elect a new leader",
    () => {
      const net = electedNet(["a", "b", "c"]);
      const a = net.node("a").rn;
      a.proposeConfChange({ transition: "auto", changes: [{ type: "removeNode", nodeId: "a" }] });
      net.deliver(net.node("a").drain());
      net.tickAll(2);
      assert.equal(a.raft.role, "follower");
      assert.deepEqual(net.node("b").rn.status().config.voters, ["b", "c"]);
      for (let i = 0; i < 40 && net.leaders().length === 0; i++) net.tickAll();
      const leaders = net.leaders();
      assert.equal(leaders.length, 1);
      assert.notEqual(leaders[0], "a");
      assert.equal(a.raft.promotable(), false);
    },
  );

  await t.step(
    "a leader replaced through a joint configuration leads until it is left, then steps down",
    () => {
      const net = electedNet(["a", "b", "c"]);
      net.addEmptyNode("d");
      const a = net.node("a").rn;
      a.proposeConfChange({
        transition: "auto",
        changes: [{ type: "removeNode", nodeId: "a" }, { type: "addNode", nodeId: "d" }],
      });
      const term = a.raft.term;
      net.deliver(net.node("a").drain());
      // It proposed both the joint config and (automatically) leaving it.
      const confEntries = a.raft.raftLog.allEntries().filter((e) => e.type === "confChange");
      assert.deepEqual(confEntries.slice(-2).map((e) => e.term), [term, term]);
      assert.equal(a.raft.role, "follower");
      // Stepping down, it told the followers it had caught up that the leave committed.
      for (const id of ["b", "c"]) {
        assert.deepEqual(net.node(id).rn.status().config.votersOutgoing, [], `${id} left joint`);
      }
      for (let i = 0; i < 40 && net.leaders().length === 0; i++) net.tickAll();
      assert.equal(net.leaders().length, 1);
      assert.notEqual(net.leaders()[0], "a");
      for (const id of ["b", "c", "d"]) {
        assert.deepEqual(net.node(id).rn.status().config.voters, ["b", "c", "d"]);
        assert.deepEqual(net.node(id).rn.status().config.votersOutgoing, []);
      }
      net.propose(net.leaders()[0], "after");
      for (const id of ["b", "c", "d"]) assert.ok(net.appliedData(id).includes("after"));
    },
  );

  await t.step(
    "removing a voter shrinks the quorum: pending entries commit when the removal applies",
    () => {
      const r = leaderOf(["a", "b"]);
      commitNoopEntry(r);
      const cc = {
        transition: "auto" as const,
        changes: [{ type: "removeNode" as const, nodeId: "b" }],
      };
      r.step(newMessage({
        type: "prop",
        from: "a",
        entries: [{ ...ent(0, 0), type: "confChange", data: encodeConfChange(cc) }],
      }));
      const ccIndex = r.raftLog.lastIndex();
      r.step(newMessage({ type: "appResp", from: "b", to: "a", term: r.term, index: ccIndex }));
      assert.equal(r.raftLog.committed, ccIndex);
      propose(r, "hello");
      assert.equal(r.raftLog.committed, ccIndex, "b has not acknowledged hello");
      r.applyConfChange(cc);
      assert.equal(r.raftLog.committed, ccIndex + 1, "with b removed, a alone is the quorum");
    },
  );

  await t.step("with stepDownOnRemoval false, a removed leader stops accepting proposals", () => {
    const net = electedNet(["a", "b", "c"], { stepDownOnRemoval: false });
    const a = net.node("a").rn;
    a.proposeConfChange({ transition: "auto", changes: [{ type: "removeNode", nodeId: "a" }] });
    net.deliver(net.node("a").drain());
    net.tickAll(2);
    assert.equal(a.raft.role, "leader");
    assert.throws(
      () => a.propose(enc("x")),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === "notInConfiguration",
    );
  });
});

Deno.test("Learners", async (t) => {
  await t.step(
    "a learner receives the log but is never counted for commit and never campaigns",
    () => {
      const net = electedNet(["a", "b"]);
      net.addEmptyNode("l");
      net.node("a").rn.proposeConfChange({
        transition: "auto",
        changes: [{ type: "addLearner", nodeId: "l" }],
      });
      net.deliver(net.node("a").drain());
      net.tickAll(2);
      net.propose("a", "x");
      assert.deepEqual(net.appliedData("l"), ["x"]);
      assert.equal(net.node("l").rn.raft.isLearner, true);
      // Commit needs b: with b down, the learner's ack does not commit.
      net.stop("b");
      const before = net.node("a").rn.raft.raftLog.committed;
      net.propose("a", "y");
      assert.equal(net.node("a").rn.raft.raftLog.committed, before);
      net.heal();
      net.restart("b");
      // A learner never campaigns, however long it waits.
      const learnerTerm = net.node("l").rn.raft.term;
      net.isolate("l");
      for (let i = 0; i < 50; i++) net.tickAll();
      assert.equal(net.node("l").rn.raft.role, "follower");
      assert.equal(net.node("l").rn.raft.term, learnerTerm);
    },
  );

  await t.step("a learner promoted to voter can be elected", () => {
    const net = electedNet(["a", "b"]);
    net.addEmptyNode("l");
    const a = net.node("a").rn;
    a.proposeConfChange({ transition: "auto", changes: [{ type: "addLearner", nodeId: "l" }] });
    net.deliver(net.node("a").drain());
    net.tickAll(2);
    a.proposeConfChange({ transition: "auto", changes: [{ type: "addNode", nodeId: "l" }] });
    net.deliver(net.node("a").drain());
    net.tickAll(2);
    assert.deepEqual(net.node("l").rn.status().config.voters, ["a", "b", "l"]);
    net.campaign("l");
    assert.deepEqual(net.leaders(), ["l"]);
  });

  await t.step("no vote request goes to a learner and a learner's vote is not counted", () => {
    const r = newTestRaft("a", ["a", "b", "c"], {}, { learners: ["l"] });
    r.campaign("election");
    assert.deepEqual(readMessages(r).map((m) => m.to).sort(), ["b", "c"]);
    r.step(newMessage({ type: "voteResp", from: "l", to: "a", term: r.term }));
    assert.equal(r.role, "candidate");
  });
});

Deno.test("campaigning while leader changes nothing", () => {
  const net = electedNet(["a", "b", "c"]);
  const term = net.node("a").rn.raft.term;
  net.campaign("a");
  assert.deepEqual(net.leaders(), ["a"]);
  assert.equal(net.node("a").rn.raft.term, term);
});

Deno.test("Leadership transfer", async (t) => {
  await t.step("transfer to an up-to-date follower makes it leader of the next term", () => {
    const net = electedNet(["a", "b", "c"]);
    const term = net.node("a").rn.raft.term;
    net.node("a").rn.transferLeader("b");
    net.deliver(net.node("a").drain());
    assert.deepEqual(net.leaders(), ["b"]);
    assert.equal(net.node("b").rn.raft.term, term + 1);
  });

  await t.step("a follower forwards a transfer request to the leader", () => {
    const net = electedNet(["a", "b", "c"]);
    net.node("c").rn.transferLeader("c");
    net.deliver(net.node("c").drain());
    assert.deepEqual(net.leaders(), ["c"]);
  });

  await t.step("transfer to a lagging follower first brings its log up to date", () => {
    const net = electedNet(["a", "b", "c"]);
    net.stop("c");
    net.propose("a", "x");
    net.restart("c");
    net.node("a").rn.transferLeader("c");
    net.deliver(net.node("a").drain());
    assert.deepEqual(net.leaders(), ["c"]);
    assert.deepEqual(net.appliedData("c").slice(-1), ["x"]);
  });

  await t.step(
    "proposals are dropped during a transfer, which is abandoned after an election timeout",
    () => {
      const net = electedNet(["a", "b", "c"]);
      net.stop("c");
      const a = net.node("a").rn;
      a.transferLeader("c");
      net.deliver(net.node("a").drain());
      assert.equal(a.status().leadTransferee, "c");
      assert.throws(
        () => a.propose(enc("x")),
        (e: unknown) =>
          e instanceof ProposalDroppedError && e.reason === "leaderTransferInProgress",
      );
      for (let i = 0; i < a.raft.config.electionTicks; i++) net.tickAll();
      assert.equal(a.status().leadTransferee, null);
      assert.equal(a.raft.role, "leader");
      a.propose(enc("y"));
    },
  );

  await t.step(
    "transfer to a follower that first needs a snapshot completes after the snapshot",
    () => {
      const net = electedNet(["a", "b", "c"]);
      net.stop("c");
      for (let i = 0; i < 3; i++) net.propose("a", `v${i}`);
      const a = net.node("a");
      const applied = a.rn.status().applied;
      a.storage.createSnapshot(applied, a.rn.status().config, enc("s"));
      a.storage.compact(applied);
      net.restart("c");
      a.rn.transferLeader("c");
      net.deliver(a.drain());
      net.tickAll(2);
      assert.equal(net.delivered.filter((m) => m.type === "snap").length, 1);
      assert.deepEqual(net.leaders(), ["c"]);
    },
  );

  await t.step("a second transfer to another node replaces the first", () => {
    const net = electedNet(["a", "b", "c"]);
    net.stop("c");
    const a = net.node("a").rn;
    a.transferLeader("c");
    net.deliver(net.node("a").drain());
    assert.equal(a.status().leadTransferee, "c");
    a.transferLeader("b");
    net.deliver(net.node("a").drain());
    assert.deepEqual(net.leaders(), ["b"]);
  });

  await t.step("a transfer to the leader itself or to a learner is ignored", () => {
    const r = newTestRaft("a", ["a", "b"], {}, { learners: ["l"] });
    r.becomeCandidate();
    r.becomeLeader();
    r.step(newMessage({ type: "transferLeader", from: "a", to: "a" }));
    assert.equal(r.leadTransferee, null);
    r.step(newMessage({ type: "transferLeader", from: "l", to: "a" }));
    assert.equal(r.leadTransferee, null);
  });

  await t.step("timeoutNow bypasses the lease of a CheckQuorum cluster", () => {
    const net = electedNet(["a", "b", "c"], { checkQuorum: true });
    net.node("a").rn.transferLeader("b");
    net.deliver(net.node("a").drain());
    assert.deepEqual(net.leaders(), ["b"]);
  });
});

Deno.test("ReadIndex", async (t) => {
  await t.step(
    "a follower's read is confirmed by the leader and served at the leader's commit index",
    () => {
      const net = electedNet(["a", "b", "c"]);
      net.propose("a", "x");
      const ctx = enc("r1");
      net.node("b").rn.readIndex(ctx);
      net.deliver(net.node("b").drain());
      const rs = net.node("b").readStates;
      assert.equal(rs.length, 1);
      assert.deepEqual(rs[0].requestCtx, ctx);
      assert.equal(rs[0].index, net.node("a").rn.raft.raftLog.committed);
    },
  );

  await t.step("lease-based reads are answered without a heartbeat round", () => {
    const net = electedNet(["a", "b", "c"], { checkQuorum: true, readOnlyOption: "leaseBased" });
    net.isolate("a");
    net.node("a").rn.readIndex(enc("r"));
    assert.equal(net.node("a").rn.raft.readStates.length, 1);
  });

  await t.step("a new leader defers reads until an entry of its term commits", () => {
    const r = leaderOf(["a", "b", "c"]);
    r.step(newMessage({ type: "readIndex", from: "a", context: enc("early") }));
    assert.deepEqual(
      readMessages(r).filter((m: Message) => m.type === "heartbeat"),
      [],
      "no heartbeat round before the first commit of the term",
    );
    assert.equal(r.readStates.length, 0);
    // Committing the no-op releases the read into a heartbeat round with its context.
    r.bcastAppend();
    for (const m of readMessages(r)) {
      if (m.type !== "app") continue;
      r.step(newMessage({
        type: "appResp",
        from: m.to,
        to: "a",
        term: r.term,
        index: m.index + m.entries.length,
      }));
    }
    const hb = readMessages(r).filter((m: Message) => m.type === "heartbeat");
    assert.ok(hb.length > 0 && hb.every((m) => new TextDecoder().decode(m.context) === "early"));
    r.step(newMessage({
      type: "heartbeatResp",
      from: "b",
      to: "a",
      term: r.term,
      context: enc("early"),
    }));
    assert.deepEqual(r.readStates.map((s) => s.index), [r.raftLog.committed]);
  });

  await t.step("reads beyond the bounded queue are dropped with a typed error", () => {
    const r = leaderOf(["a", "b", "c"]);
    commitNoopEntry(r);
    for (let i = 0; i < 4096; i++) {
      r.step(newMessage({ type: "readIndex", from: "a", context: enc(`r${i}`) }));
    }
    assert.throws(
      () => r.step(newMessage({ type: "readIndex", from: "a", context: enc("one-too-many") })),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === "readQueueFull",
    );
  });

  await t.step("a read with no known leader is dropped with a typed error", () => {
    const net = new TestNetwork(["a", "b", "c"], { bootstrap: true });
    assert.throws(() => net.node("b").rn.readIndex(enc("r")), ProposalDroppedError);
  });
});

Deno.test("Proposals", async (t) => {
  await t.step("maxUncommittedEntriesSizeBytes drops proposals until entries commit", () => {
    const r = leaderOf(["a", "b", "c"], { maxUncommittedEntriesSizeBytes: 1000 });
    commitNoopEntry(r);
    propose(r, new Uint8Array(600));
    assert.throws(
      () => propose(r, new Uint8Array(600)),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === "uncommittedSizeLimit",
    );
    propose(r, new Uint8Array(0)); // empty entries are always accepted
    r.reduceUncommittedSize(600);
    propose(r, new Uint8Array(600));
  });

  await t.step("a single oversized proposal is accepted when nothing is uncommitted", () => {
    const r = leaderOf(["a", "b", "c"], { maxUncommittedEntriesSizeBytes: 10 });
    commitNoopEntry(r);
    propose(r, new Uint8Array(100));
    assert.equal(r.uncommittedSizeBytes, 100);
  });

  await t.step("the budget is released when the driver applies committed entries", () => {
    const net = electedNet(["a", "b", "c"], { maxUncommittedEntriesSizeBytes: 100 });
    for (let i = 0; i < 5; i++) net.propose("a", "0123456789".repeat(6));
    assert.equal(net.node("a").rn.raft.uncommittedSizeBytes, 0);
  });

  await t.step("with disableProposalForwarding a follower drops proposals", () => {
    const net = electedNet(["a", "b", "c"], { disableProposalForwarding: true });
    assert.throws(
      () => net.node("b").rn.propose(enc("x")),
      (e: unknown) => e instanceof ProposalDroppedError && e.reason === "forwardingDisabled",
    );
  });

  await t.step("a follower forwards its own proposals stamped with its term", () => {
    const r = newTestRaft("b", ["a", "b", "c"]);
    r.becomeFollower(3, "a");
    propose(r, "x");
    const [m] = readMessages(r);
    assert.deepEqual([m.type, m.to, m.term, m.logTerm], ["prop", "a", 0, 3]);
  });

  await t.step("a follower never relays another node's proposal", () => {
    const r = newTestRaft("b", ["a", "b", "c"]);
    r.becomeFollower(3, "a");
    r.step(forwardedProp("c", 3, "x"));
    assert.deepEqual(readMessages(r), []);
  });

  await t.step("a leader appends a forwarded proposal only in the term it was sent to", () => {
    const r = leaderOf(["a", "b", "c"]);
    const last = r.raftLog.lastIndex();
    for (const logTerm of [r.term - 1, r.term + 1, 0]) {
      r.step(forwardedProp("b", logTerm, "stale"));
      assert.equal(r.raftLog.lastIndex(), last, `stamp ${logTerm} of term ${r.term}`);
    }
    r.step(forwardedProp("b", r.term, "fresh"));
    assert.equal(r.raftLog.lastIndex(), last + 1);
  });

  await t.step("a candidate drops proposals", () => {
    const r = newTestRaft("a", ["a", "b", "c"]);
    r.becomeCandidate();
    assert.throws(() => propose(r, "x"), ProposalDroppedError);
  });

  await t.step("indices and terms beyond 2^53 are refused", () => {
    const r = newTestRaft("a", ["a", "b"]);
    assert.throws(
      () => r.step(newMessage({ type: "app", from: "b", to: "a", term: 2 ** 53 })),
      UnsafeIntegerError,
    );
  });
});

Deno.test("Config validation names the field and the problem", async (t) => {
  const base = {
    id: "a",
    electionTicks: 10,
    heartbeatTicks: 1,
    storage: new MemoryStorage(),
    rng: new SeededRng(1),
  };
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["empty id", { id: "" }, "id"],
    ["zero heartbeat", { heartbeatTicks: 0 }, "heartbeatTicks"],
    ["election not above heartbeat", { electionTicks: 1, heartbeatTicks: 1 }, "electionTicks"],
    ["fractional election ticks", { electionTicks: 10.5 }, "electionTicks"],
    ["zero inflight msgs", { maxInflightMsgs: 0 }, "maxInflightMsgs"],
    ["negative msg size", { maxSizePerMsgBytes: -1 }, "maxSizePerMsgBytes"],
    [
      "inflight bytes below msg size",
      { maxInflightBytes: 10, maxSizePerMsgBytes: 100 },
      "maxInflightBytes",
    ],
    ["lease reads without checkQuorum", { readOnlyOption: "leaseBased" }, "readOnlyOption"],
    [
      "lease reads with a quorum check past the lease",
      { checkQuorum: true, readOnlyOption: "leaseBased", checkQuorumTicks: 11 },
      "checkQuorumTicks",
    ],
    ["a quorum check every 0 ticks", { checkQuorumTicks: 0 }, "checkQuorumTicks"],
    ["unknown read option", { readOnlyOption: "fast" }, "readOnlyOption"],
    ["missing rng", { rng: undefined }, "rng"],
    ["negative applied", { applied: -1 }, "applied"],
  ];
  for (const [name, patch, field] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => validateConfig({ ...base, ...patch } as Parameters<typeof validateConfig>[0]),
        (e: unknown) => e instanceof ConfigError && e.field === field && e.message.includes(field),
      );
    });
  }
  await t.step("a valid config gets documented defaults", () => {
    const c = validateConfig(base);
    assert.equal(c.maxInflightMsgs, 256);
    assert.equal(c.readOnlyOption, "safe");
    assert.equal(c.stepDownOnRemoval, true);
    assert.equal(c.testingBugs.commitPreviousTermByCounting, undefined);
    validateConfig({ ...base, checkQuorum: true, readOnlyOption: "leaseBased" });
  });
});

Deno.test("newMessage fills every unset field with its zero value; optional fields only when given", () => {
  const entries = [{ term: 1, index: 2, type: "normal" as const, data: new Uint8Array([7]) }];
  assert.deepEqual(newMessage({ type: "app", from: "a", to: "b", term: 3, entries }), {
    from: "a",
    to: "b",
    term: 3,
    logTerm: 0,
    index: 0,
    entries,
    commit: 0,
    reject: false,
    rejectHint: 0,
    type: "app",
  });
  const heartbeat = newMessage({ type: "heartbeat", context: undefined });
  assert.ok(Object.hasOwn(heartbeat, "context"));
  assert.ok(!Object.hasOwn(heartbeat, "snapshot"));
  assert.ok(!Object.hasOwn(newMessage({ type: "heartbeat" }), "context"));
  // Each message gets its own entries array.
  const a = newMessage({ type: "heartbeat" });
  a.entries.push(entries[0]);
  assert.equal(newMessage({ type: "heartbeat" }).entries.length, 0);
});
