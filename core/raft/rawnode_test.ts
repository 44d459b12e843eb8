import assert from "node:assert/strict";
import { SeededRng } from "../rng.ts";
import { decodeConfChange } from "./confchange/conf_change.ts";
import { BootstrapError, LocalMessageError, ProposalDroppedError } from "./errors.ts";
import { newMessage } from "./raft.ts";
import { RawNode } from "./rawnode.ts";
import { MemoryStorage } from "./storage.ts";
import { newTestRawNode, TestNetwork } from "./network_test.ts";
import type { Ready } from "./types.ts";

Deno.test("RawNode single node: bootstrap, campaign, propose, apply, restart", () => {
  const storage = new MemoryStorage();
  const config = { id: "a", electionTicks: 10, heartbeatTicks: 1, storage, rng: new SeededRng(3) };
  const rn = new RawNode(config);
  rn.bootstrap(["a"]);
  assert.throws(() => rn.bootstrap(["a"]), BootstrapError);
  const applied: string[] = [];
  const drain = () => {
    while (rn.hasReady()) {
      const rd = rn.ready();
      if (rd.snapshot) storage.applySnapshot(rd.snapshot);
      storage.append(rd.entries);
      if (rd.hardState) storage.setHardState(rd.hardState);
      for (const e of rd.committedEntries) {
        if (e.type === "confChange") {
          storage.setConfState(rn.applyConfChange(decodeConfChange(e.data)));
        } else if (e.data.length > 0) applied.push(new TextDecoder().decode(e.data));
      }
      rn.advance();
    }
  };
  drain();
  rn.campaign();
  drain();
  assert.equal(rn.status().softState.role, "leader");
  assert.equal(rn.status().hardState.term, 2);
  rn.propose(new TextEncoder().encode("x"));
  drain();
  assert.deepEqual(applied, ["x"]);
  const st = rn.status();
  assert.equal(st.applied, st.hardState.commit);
  assert.deepEqual(st.config.voters, ["a"]);
  assert.ok(st.progress?.get("a"));

  const restarted = new RawNode({ ...config, applied: st.applied });
  assert.deepEqual(restarted.status().hardState, st.hardState);
  assert.deepEqual(restarted.status().config.voters, ["a"]);
  assert.equal(restarted.status().softState.role, "follower");
});

Deno.test("RawNode.step rejects local message types from the network", () => {
  const { rn } = newTestRawNode("a", ["a", "b"]);
  for (const type of ["hup", "beat", "unreachable", "snapStatus", "checkQuorum"] as const) {
    assert.throws(() => rn.step(newMessage({ type, from: "b", to: "a" })), LocalMessageError);
  }
});

Deno.test("RawNode.ready twice without advance is refused; hasReady is false meanwhile", () => {
  const { rn } = newTestRawNode("a", ["a", "b"]);
  rn.campaign();
  assert.equal(rn.hasReady(), true);
  rn.ready();
  assert.equal(rn.hasReady(), false);
  assert.throws(() => rn.ready());
  rn.advance();
  assert.throws(() => rn.advance());
});

Deno.test("RawNode: a vote response is emitted together with the hard state recording the vote", () => {
  const { rn } = newTestRawNode("b", ["a", "b", "c"]);
  rn.step(newMessage({ type: "vote", from: "a", to: "b", term: 1, index: 0, logTerm: 0 }));
  const rd = rn.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: "a", commit: 0 });
  assert.equal(rd.mustSync, true);
  assert.equal(rd.messages.length, 1);
  assert.equal(rd.messages[0].type, "voteResp");
  assert.equal(rd.messages[0].reject, false);
});

Deno.test("RawNode: a follower without a leader drops proposals with a typed error", () => {
  const { rn } = newTestRawNode("a", ["a", "b", "c"]);
  assert.throws(() => rn.propose(new Uint8Array([1])), ProposalDroppedError);
});

Deno.test("RawNode three-node cluster elects a leader and replicates to all", () => {
  const net = new TestNetwork(["a", "b", "c"], { bootstrap: true });
  net.campaign("a");
  assert.deepEqual(net.leaders(), ["a"]);
  net.propose("a", "one");
  net.propose("b", "two"); // forwarded to the leader
  for (const id of ["a", "b", "c"]) assert.deepEqual(net.appliedData(id), ["one", "two"]);
});

Deno.test("RawNode: mustSync is set for entries, snapshots, term and vote, not for a commit index alone", () => {
  const { rn, storage } = newTestRawNode("b", ["a", "b"]);
  const persist = (): Ready => {
    const rd = rn.ready();
    if (rd.snapshot) storage.applySnapshot(rd.snapshot);
    storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    rn.advance();
    return rd;
  };
  rn.step(newMessage({
    type: "app",
    from: "a",
    to: "b",
    term: 1,
    entries: [{ term: 1, index: 1, type: "normal", data: new Uint8Array() }],
  }));
  assert.equal(persist().mustSync, true, "new term and entries");
  rn.step(newMessage({ type: "heartbeat", from: "a", to: "b", term: 1, commit: 1 }));
  const commitOnly = persist();
  assert.equal(commitOnly.hardState?.commit, 1);
  assert.equal(commitOnly.mustSync, false);
  rn.step(newMessage({
    type: "snap",
    from: "a",
    to: "b",
    term: 1,
    snapshot: {
      data: new Uint8Array(),
      metadata: {
        index: 5,
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
  const withSnapshot = persist();
  assert.equal(withSnapshot.snapshot?.metadata.index, 5);
  assert.equal(withSnapshot.mustSync, true);
  assert.equal(rn.status().applied, 5);
});

Deno.test("asyncLeaderAppend: a leader counts its own entries only once persisted", async (t) => {
  /** A leader of a, b, c whose no-op (index 1) is handed out but not yet persisted. */
  const leaderWithUnpersistedNoop = (asyncLeaderAppend: boolean) => {
    const { rn, storage } = newTestRawNode("a", ["a", "b", "c"], { asyncLeaderAppend });
    rn.raft.becomeCandidate();
    rn.raft.becomeLeader();
    const rd = rn.ready();
    assert.deepEqual(rd.entries.map((e) => e.index), [1]);
    return { rn, storage, rd };
  };
  const ack = (rn: RawNode, from: string, index: number) =>
    rn.raft.step(newMessage({ type: "appResp", from, to: "a", term: rn.raft.term, index }));

  await t.step("off: the leader's own append counts at once", () => {
    const { rn } = leaderWithUnpersistedNoop(false);
    assert.equal(rn.asyncLeaderAppend, false);
    ack(rn, "b", 1);
    assert.equal(rn.raft.raftLog.committed, 1);
  });

  await t.step("on: one follower is not a quorum until the leader's write is durable", () => {
    const { rn, storage, rd } = leaderWithUnpersistedNoop(true);
    assert.equal(rn.asyncLeaderAppend, true);
    assert.equal(rn.raft.trk.progress.get("a")?.match, 0);
    ack(rn, "b", 1);
    assert.equal(rn.raft.raftLog.committed, 0);
    storage.append(rd.entries);
    rn.advance();
    assert.equal(rn.raft.trk.progress.get("a")?.match, 1);
    assert.equal(rn.raft.raftLog.committed, 1);
    // The followers learn the new commit index.
    const commits = rn.raft.msgs.filter((m) => m.type === "app").map((m) => [m.to, m.commit]);
    assert.deepEqual(commits.sort(), [["b", 1], ["c", 1]]);
  });

  await t.step("on: two followers commit without the leader's write", () => {
    const { rn } = leaderWithUnpersistedNoop(true);
    ack(rn, "b", 1);
    ack(rn, "c", 1);
    assert.equal(rn.raft.raftLog.committed, 1);
  });

  await t.step("on: a new leader counts only its persisted log", () => {
    const { rn } = newTestRawNode("a", ["a", "b", "c"], { asyncLeaderAppend: true }, 1, {
      terms: [1, 1],
      hardState: { term: 1, vote: null, commit: 0 },
    });
    rn.raft.becomeFollower(2, "b");
    rn.raft.step(newMessage({
      type: "app",
      from: "b",
      to: "a",
      term: 2,
      logTerm: 1,
      index: 2,
      entries: [{ term: 2, index: 3, type: "normal", data: new Uint8Array() }],
    }));
    assert.equal(rn.raft.raftLog.lastIndex(), 3);
    rn.raft.becomeCandidate();
    rn.raft.becomeLeader();
    assert.equal(rn.raft.trk.progress.get("a")?.match, 2);
  });
});
