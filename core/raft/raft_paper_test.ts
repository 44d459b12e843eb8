// One test per rule of the Raft paper (Figure 2 and §5, §6, §8), each named
// after the sentence it checks.
import assert from "node:assert/strict";
import { newMessage, type Raft } from "./raft.ts";
import {
  commitNoopEntry,
  ent,
  newTestRaft,
  readMessages,
  TestNetwork,
  type TestOptions,
} from "./network_test.ts";
import { emptyConfState, MemoryStorage } from "./storage.ts";
import type { Entry, HardState, Message, RaftRole } from "./types.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function propose(r: Raft, data: string): void {
  r.step(newMessage({ type: "prop", from: r.id, entries: [ent(0, 0, data)] }));
}

function leaderOf(voters: string[], opts: TestOptions = {}): Raft {
  const r = newTestRaft(voters[0], voters, opts);
  r.becomeCandidate();
  r.becomeLeader();
  return r;
}

function pairs(entries: Entry[]): Array<[number, number]> {
  return entries.map((e) => [e.index, e.term]);
}

function sortedByTo(msgs: Message[]): Message[] {
  return [...msgs].sort((a, b) => a.to.localeCompare(b.to));
}

Deno.test("§5.1 if one server's current term is smaller than the other's, it updates its term to the larger value; a candidate or leader reverts to follower", async (t) => {
  const setups: Array<[RaftRole, (r: Raft) => void]> = [
    ["follower", (r) => r.becomeFollower(1, "b")],
    ["candidate", (r) => r.becomeCandidate()],
    ["leader", (r) => {
      r.becomeCandidate();
      r.becomeLeader();
    }],
  ];
  for (const [role, setup] of setups) {
    await t.step(role, () => {
      const r = newTestRaft("a", ["a", "b", "c"]);
      setup(r);
      assert.equal(r.role, role);
      r.step(newMessage({ type: "app", from: "b", to: "a", term: 2 }));
      assert.equal(r.term, 2);
      assert.equal(r.role, "follower");
    });
  }
});

Deno.test("§5.1 if a server receives a request with a stale term number, it rejects the request", () => {
  const r = newTestRaft("a", ["a", "b"], {}, {
    terms: [1, 2],
    hardState: { term: 2, vote: null, commit: 0 },
  });
  r.step(
    newMessage({
      type: "app",
      from: "b",
      to: "a",
      term: 1,
      index: 2,
      logTerm: 2,
      entries: [ent(3, 1)],
    }),
  );
  assert.equal(r.raftLog.lastIndex(), 2, "stale append must not change the log");
  assert.deepEqual(readMessages(r), []);
  r.step(newMessage({ type: "vote", from: "b", to: "a", term: 1, index: 9, logTerm: 9 }));
  assert.equal(r.vote, null);
});

Deno.test("§5.2 when servers start up, they begin as followers", () => {
  const r = newTestRaft("a", ["a", "b", "c"]);
  assert.equal(r.role, "follower");
});

Deno.test("§5.2 leaders send periodic heartbeats (AppendEntries RPCs that carry no log entries) to all followers", () => {
  const heartbeatTicks = 2;
  const r = leaderOf(["a", "b", "c"], { heartbeatTicks });
  readMessages(r);
  for (let i = 0; i < heartbeatTicks; i++) r.tick();
  const msgs = sortedByTo(readMessages(r));
  assert.deepEqual(
    msgs.map((m) => [m.to, m.type, m.term, m.entries.length]),
    [["b", "heartbeat", 1, 0], ["c", "heartbeat", 1, 0]],
  );
});

Deno.test("§5.2 a follower that receives no communication over the election timeout begins an election: it increments its term, votes for itself and issues RequestVote RPCs", () => {
  const r = newTestRaft("a", ["a", "b", "c"]);
  for (let i = 0; i < 2 * r.config.electionTicks; i++) r.tick();
  assert.equal(r.role, "candidate");
  assert.equal(r.term, 1);
  assert.equal(r.vote, "a");
  assert.deepEqual(
    sortedByTo(readMessages(r)).map((m) => [m.to, m.type, m.term]),
    [["b", "vote", 1], ["c", "vote", 1]],
  );
});

Deno.test("§5.2 if a candidate's election times out without a winner, it starts a new election by incrementing its term", () => {
  const r = newTestRaft("a", ["a", "b", "c"]);
  r.becomeCandidate();
  readMessages(r);
  for (let i = 0; i < 2 * r.config.electionTicks; i++) r.tick();
  assert.equal(r.role, "candidate");
  assert.equal(r.term, 2);
  assert.deepEqual(
    sortedByTo(readMessages(r)).map((m) => [m.to, m.type, m.term]),
    [["b", "vote", 2], ["c", "vote", 2]],
  );
});

Deno.test("§5.2 a candidate wins an election if it receives votes from a majority of the servers; it loses if a majority rejects", async (t) => {
  const cases: Array<[number, Record<string, boolean>, RaftRole]> = [
    [1, {}, "leader"],
    [3, { n1: true, n2: true }, "leader"],
    [3, { n1: true }, "leader"],
    [5, { n1: true, n2: true, n3: true, n4: true }, "leader"],
    [5, { n1: true, n2: true }, "leader"],
    [3, { n1: false, n2: false }, "follower"],
    [5, { n1: false, n2: false, n3: false }, "follower"],
    [5, { n1: true }, "candidate"],
    [5, { n1: true, n2: false }, "candidate"],
  ];
  for (const [size, votes, want] of cases) {
    await t.step(`${size} voters, votes ${JSON.stringify(votes)} -> ${want}`, () => {
      const ids = Array.from({ length: size }, (_, i) => `n${i}`);
      const r = newTestRaft("n0", ids);
      r.campaign("election");
      for (const [from, granted] of Object.entries(votes)) {
        r.step(newMessage({ type: "voteResp", from, to: "n0", term: r.term, reject: !granted }));
      }
      assert.equal(r.role, want);
      assert.equal(r.term, 1);
    });
  }
});

Deno.test("§5.2 each server will vote for at most one candidate in a given term, on a first-come-first-served basis", async (t) => {
  const cases: Array<[string | null, string, boolean]> = [
    [null, "b", false],
    [null, "c", false],
    ["b", "b", false],
    ["c", "c", false],
    ["b", "c", true],
    ["c", "b", true],
  ];
  for (const [vote, from, wantReject] of cases) {
    await t.step(`voted ${vote}, request from ${from}`, () => {
      const r = newTestRaft("a", ["a", "b", "c"], {}, {
        hardState: { term: 1, vote, commit: 0 },
      });
      r.step(newMessage({ type: "vote", from, to: "a", term: 1 }));
      const msgs = readMessages(r);
      assert.equal(msgs.length, 1);
      assert.equal(msgs[0].type, "voteResp");
      assert.equal(msgs[0].reject, wantReject);
    });
  }
});

Deno.test("Figure 2 (followers) a follower that grants its vote restarts its election timeout", () => {
  const r = newTestRaft("a", ["a", "b", "c"]);
  const timeout = r.randomizedElectionTimeoutTicks;
  for (let i = 0; i < timeout - 1; i++) r.tick();
  r.step(newMessage({ type: "vote", from: "b", to: "a", term: 1 }));
  assert.equal(r.vote, "b");
  for (let i = 0; i < timeout - 1; i++) r.tick();
  assert.equal(r.role, "follower", "the grant restarted the timer");
  for (let i = 0; i < 2 * timeout; i++) r.tick();
  assert.equal(r.role, "candidate");
});

Deno.test("§5.2 while waiting for votes, if a candidate receives AppendEntries from a leader whose term is at least as large, it returns to follower state", async (t) => {
  for (const term of [1, 2]) {
    await t.step(`append of term ${term}`, () => {
      const r = newTestRaft("a", ["a", "b", "c"]);
      r.becomeCandidate();
      r.step(newMessage({ type: "app", from: "b", to: "a", term }));
      assert.equal(r.role, "follower");
      assert.equal(r.term, term);
      assert.equal(r.lead, "b");
    });
  }
});

Deno.test("§5.2 election timeouts are chosen randomly from a fixed interval [electionTicks, 2 * electionTicks)", async (t) => {
  for (const role of ["follower", "candidate"] as const) {
    await t.step(role, () => {
      const r = newTestRaft("a", ["a", "b", "c"], { electionTicks: 10 });
      const seen = new Set<number>();
      for (let round = 0; round < 300; round++) {
        if (role === "follower") r.becomeFollower(r.term + 1, null);
        else r.becomeCandidate();
        let ticks = 0;
        while (ticks < 100 && !r.pastElectionTimeout()) {
          r.electionElapsedTicks++;
          ticks++;
        }
        seen.add(ticks);
      }
      for (const ticks of seen) assert.ok(ticks >= 10 && ticks < 20, `timeout ${ticks}`);
      assert.equal(seen.size, 10, "every timeout in the interval is used");
    });
  }
});

Deno.test("§5.2 randomized election timeouts ensure that in most cases only a single server times out", () => {
  const ids = ["a", "b", "c", "d", "e"];
  const rounds = 200;
  let conflicts = 0;
  const rafts = ids.map((id, i) => newTestRaft(id, ids, {}, {}, 100 + i));
  for (let round = 0; round < rounds; round++) {
    for (const r of rafts) r.becomeFollower(r.term + 1, null);
    let timedOut = 0;
    for (let tick = 0; tick < 100 && timedOut === 0; tick++) {
      for (const r of rafts) {
        r.tick();
        if (r.role === "candidate") timedOut++;
      }
    }
    if (timedOut > 1) conflicts++;
    for (const r of rafts) readMessages(r);
  }
  assert.ok(conflicts / rounds <= 0.3, `conflict rate ${conflicts / rounds}`);
});

Deno.test("§5.3 the leader appends the command to its log as a new entry, then issues AppendEntries RPCs in parallel to each of the other servers", () => {
  const r = leaderOf(["a", "b", "c"]);
  commitNoopEntry(r);
  const li = r.raftLog.lastIndex();
  propose(r, "some data");
  assert.equal(r.raftLog.lastIndex(), li + 1);
  assert.equal(r.raftLog.committed, li);
  const msgs = sortedByTo(readMessages(r));
  assert.deepEqual(
    msgs.map((m) => [m.to, m.type, m.index, m.logTerm, m.commit, pairs(m.entries)]),
    [
      ["b", "app", li, 1, li, [[li + 1, 1]]],
      ["c", "app", li, 1, li, [[li + 1, 1]]],
    ],
  );
  assert.deepEqual(msgs[0].entries[0].data, enc("some data"));
});

Deno.test("§5.3 when the entry has been safely replicated, the leader applies it and includes the commit index in future AppendEntries RPCs", () => {
  const r = leaderOf(["a", "b", "c"]);
  commitNoopEntry(r);
  const li = r.raftLog.lastIndex();
  propose(r, "some data");
  for (const m of readMessages(r)) {
    r.step(newMessage({ type: "appResp", from: m.to, to: "a", term: r.term, index: li + 1 }));
  }
  assert.equal(r.raftLog.committed, li + 1);
  const committed = r.raftLog.nextCommittedEnts();
  assert.deepEqual(pairs(committed), [[li + 1, 1]]);
  const commits = readMessages(r).filter((m) => m.type === "app").map((m) => m.commit);
  assert.ok(commits.length > 0 && commits.every((c) => c === li + 1));
});

Deno.test("§5.3 a log entry is committed once the leader that created it has replicated it on a majority of the servers", async (t) => {
  const cases: Array<[number, string[], boolean]> = [
    [1, [], true],
    [3, [], false],
    [3, ["n1"], true],
    [3, ["n1", "n2"], true],
    [5, [], false],
    [5, ["n1"], false],
    [5, ["n1", "n2"], true],
    [5, ["n1", "n2", "n3"], true],
  ];
  for (const [size, acceptors, wantCommit] of cases) {
    await t.step(`${size} voters, acks from ${acceptors.join(",") || "none"}`, () => {
      const ids = Array.from({ length: size }, (_, i) => `n${i}`);
      const r = leaderOf(ids);
      commitNoopEntry(r);
      const li = r.raftLog.lastIndex();
      propose(r, "x");
      for (const m of readMessages(r)) {
        if (acceptors.includes(m.to)) {
          r.step(
            newMessage({ type: "appResp", from: m.to, to: m.from, term: r.term, index: li + 1 }),
          );
        }
      }
      assert.equal(r.raftLog.committed > li, wantCommit);
    });
  }
});

Deno.test("§5.3 when the leader commits an entry, it also commits all preceding entries in its log, including those of previous leaders", () => {
  const r = newTestRaft("a", ["a", "b", "c"], {}, {
    terms: [2, 2],
    hardState: { term: 2, vote: null, commit: 0 },
  });
  r.becomeCandidate();
  r.becomeLeader();
  propose(r, "x");
  for (const m of readMessages(r)) {
    if (m.type !== "app") continue;
    r.step(newMessage({ type: "appResp", from: m.to, to: "a", term: 3, index: 4 }));
  }
  assert.equal(r.raftLog.committed, 4);
  assert.deepEqual(pairs(r.raftLog.nextCommittedEnts()), [[1, 2], [2, 2], [3, 3], [4, 3]]);
});

Deno.test("§5.3 once a follower learns that a log entry is committed, it applies the entry to its state machine (in log order)", () => {
  const r = newTestRaft("a", ["a", "b", "c"]);
  r.becomeFollower(1, "b");
  r.step(newMessage({
    type: "app",
    from: "b",
    to: "a",
    term: 1,
    index: 0,
    logTerm: 0,
    entries: [ent(1, 1, "x"), ent(2, 1, "y")],
    commit: 1,
  }));
  assert.equal(r.raftLog.committed, 1);
  assert.deepEqual(pairs(r.raftLog.nextCommittedEnts()), [[1, 1]]);
  r.step(newMessage({ type: "heartbeat", from: "b", to: "a", term: 1, commit: 2 }));
  assert.deepEqual(pairs(r.raftLog.nextCommittedEnts()), [[1, 1], [2, 1]]);
});

Deno.test("§5.3 if the follower does not find an entry in its log with the same index and term as prevLog, then it refuses the new entries", async (t) => {
  // Follower log: (1,1) (2,2); committed 1.
  const cases: Array<[number, number, boolean, number, number, number]> = [
    // logTerm, index, reject, response index, hint, hint term
    [0, 0, false, 1, 0, 0], // below commit: acknowledged at the commit index
    [1, 1, false, 1, 0, 0],
    [2, 2, false, 2, 0, 0],
    [1, 2, true, 2, 1, 1], // conflict: hint at the last index of term <= 1
    [3, 3, true, 3, 2, 2], // beyond the log: hint at our last index
  ];
  for (const [logTerm, index, reject, wantIndex, wantHint, wantHintTerm] of cases) {
    await t.step(`prevLog (${index}, ${logTerm})`, () => {
      const r = newTestRaft("a", ["a", "b", "c"], {}, {
        terms: [1, 2],
        hardState: { term: 2, vote: null, commit: 1 },
      });
      r.becomeFollower(2, "b");
      r.step(newMessage({ type: "app", from: "b", to: "a", term: 2, logTerm, index }));
      const [m] = readMessages(r);
      assert.equal(m.type, "appResp");
      assert.equal(m.reject, reject);
      assert.equal(m.index, wantIndex);
      if (reject) {
        assert.equal(m.rejectHint, wantHint);
        assert.equal(m.logTerm, wantHintTerm);
      }
    });
  }
});

Deno.test("§5.3 if an existing entry conflicts with a new one (same index, different terms), the follower deletes it and all that follow, then appends new entries", async (t) => {
  const cases: Array<[number, number, Array<[number, number]>, Array<[number, number]>]> = [
    [2, 2, [[3, 3]], [[1, 1], [2, 2], [3, 3]]],
    [1, 1, [[2, 3], [3, 4]], [[1, 1], [2, 3], [3, 4]]],
    [0, 0, [[1, 1]], [[1, 1], [2, 2]]],
    [0, 0, [[1, 3]], [[1, 3]]],
  ];
  for (const [index, logTerm, entries, want] of cases) {
    await t.step(`append after (${index}, ${logTerm})`, () => {
      const r = newTestRaft("a", ["a", "b", "c"], {}, {
        terms: [1, 2],
        hardState: { term: 2, vote: null, commit: 0 },
      });
      r.becomeFollower(2, "b");
      r.step(newMessage({
        type: "app",
        from: "b",
        to: "a",
        term: 2,
        logTerm,
        index,
        entries: entries.map(([i, t]) => ent(i, t)),
      }));
      assert.deepEqual(pairs(r.raftLog.allEntries()), want);
    });
  }
});

Deno.test("Figure 2 (AppendEntries 5) if leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new entry)", async (t) => {
  const cases: Array<[number, number, number]> = [
    // entries appended after index 1, leader commit, expected commit
    [1, 5, 2],
    [2, 5, 3],
    [2, 2, 2],
    [0, 5, 1],
  ];
  for (const [count, leaderCommit, want] of cases) {
    await t.step(`${count} new entries, leader commit ${leaderCommit}`, () => {
      const r = newTestRaft("a", ["a", "b"], {}, {
        terms: [1],
        hardState: { term: 1, vote: null, commit: 0 },
      });
      r.becomeFollower(1, "b");
      const entries = Array.from({ length: count }, (_, i) => ent(i + 2, 1));
      r.step(newMessage({
        type: "app",
        from: "b",
        to: "a",
        term: 1,
        index: 1,
        logTerm: 1,
        entries,
        commit: leaderCommit,
      }));
      assert.equal(r.raftLog.committed, want);
    });
  }
});

Deno.test("§5.3 the leader handles inconsistencies by forcing the followers' logs to duplicate its own (Figure 7)", async (t) => {
  const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
  const followers: Record<string, number[]> = {
    a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
    b: [1, 1, 1, 4],
    c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
    d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
    e: [1, 1, 1, 4, 4, 4, 4],
    f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
  };
  for (const [name, terms] of Object.entries(followers)) {
    await t.step(`follower (${name})`, () => {
      const term = 8;
      const ids = ["l", "f", "x"];
      const storageWith = (log: number[], hs: HardState): MemoryStorage => {
        const storage = new MemoryStorage({ ...emptyConfState(), voters: ids });
        storage.append(log.map((t, i) => ent(i + 1, t)));
        storage.setHardState(hs);
        return storage;
      };
      const fresh = new TestNetwork([], {});
      const l2 = fresh.addNodeFromStorage(
        "l",
        storageWith(leaderTerms, { term, vote: null, commit: leaderTerms.length }),
      );
      fresh.addNodeFromStorage("f", storageWith(terms, { term: term - 1, vote: null, commit: 0 }));
      l2.rn.campaign();
      fresh.deliver(l2.drain());
      // "x" is a silent voter that grants the vote the follower may refuse.
      if (l2.rn.raft.role !== "leader") {
        l2.rn.step(newMessage({ type: "voteResp", from: "x", to: "l", term: l2.rn.raft.term }));
        fresh.deliver(l2.drain());
      }
      assert.equal(l2.rn.raft.role, "leader");
      fresh.propose("l", "z");
      fresh.tickAll(3);
      const leaderLog = pairs(fresh.node("l").rn.raft.raftLog.allEntries());
      const followerLog = pairs(fresh.node("f").rn.raft.raftLog.allEntries());
      assert.deepEqual(followerLog, leaderLog);
      assert.deepEqual(leaderLog.slice(0, 10), leaderTerms.map((t, i) => [i + 1, t]));
    });
  }
});

Deno.test("§5.4.1 the voter denies its vote if its own log is more up-to-date than that of the candidate", async (t) => {
  const cases: Array<[number[], number, number, boolean]> = [
    // voter log terms, candidate last term, candidate last index, reject
    [[1], 1, 1, false],
    [[1], 1, 2, false],
    [[1, 1], 1, 1, true],
    [[1], 2, 1, false],
    [[1], 2, 2, false],
    [[1, 1], 2, 1, false],
    [[2], 1, 1, true],
    [[2], 1, 2, true],
    [[2, 1], 1, 1, true],
  ];
  for (const [terms, logTerm, index, wantReject] of cases) {
    await t.step(`voter ${JSON.stringify(terms)} vs candidate (${index}, ${logTerm})`, () => {
      const r = newTestRaft("a", ["a", "b"], {}, { terms });
      r.step(newMessage({ type: "vote", from: "b", to: "a", term: 3, logTerm, index }));
      const [m] = readMessages(r);
      assert.equal(m.type, "voteResp");
      assert.equal(m.reject, wantReject);
    });
  }
});

Deno.test("§5.4.2 Raft never commits log entries from previous terms by counting replicas; only entries from the leader's current term", async (t) => {
  const cases: Array<[number, number]> = [[1, 0], [2, 0], [3, 3]];
  for (const [ackIndex, wantCommit] of cases) {
    await t.step(`ack of index ${ackIndex}`, () => {
      const r = newTestRaft("a", ["a", "b", "c"], {}, {
        terms: [1, 2],
        hardState: { term: 2, vote: null, commit: 0 },
      });
      r.becomeCandidate();
      r.becomeLeader();
      readMessages(r);
      r.step(newMessage({ type: "appResp", from: "b", to: "a", term: r.term, index: ackIndex }));
      assert.equal(r.raftLog.committed, wantCommit);
    });
  }
  await t.step("the testingBugs.commitPreviousTermByCounting hook breaks exactly this rule", () => {
    const r = newTestRaft("a", ["a", "b", "c"], {
      testingBugs: { commitPreviousTermByCounting: true },
    }, {
      terms: [1, 2],
      hardState: { term: 2, vote: null, commit: 0 },
    });
    r.becomeCandidate();
    r.becomeLeader();
    r.step(newMessage({ type: "appResp", from: "b", to: "a", term: r.term, index: 2 }));
    assert.equal(r.raftLog.committed, 2);
  });
});

Deno.test("§5.4 a candidate whose log lacks committed entries cannot win an election (Leader Completeness)", () => {
  const net = new TestNetwork(["a", "b", "c"], { bootstrap: true });
  net.campaign("a");
  net.isolate("c");
  net.propose("a", "committed");
  assert.deepEqual(net.appliedData("a"), ["committed"]);
  net.heal();
  net.isolate("a");
  net.campaign("c");
  assert.notEqual(net.node("c").rn.raft.role, "leader");
  net.campaign("b");
  assert.equal(net.node("b").rn.raft.role, "leader");
});

Deno.test("§5.5 if a follower crashes, the leader retries AppendEntries indefinitely; when it restarts the RPC completes", () => {
  const net = new TestNetwork(["a", "b", "c"], { bootstrap: true });
  net.campaign("a");
  net.stop("c");
  net.propose("a", "x");
  assert.deepEqual(net.appliedData("c"), []);
  net.heal();
  const c = net.restart("c");
  net.tickAll(5);
  assert.deepEqual(net.appliedData("c"), ["x"]);
  assert.equal(c.rn.raft.lead, "a");
});

Deno.test("§8 a leader commits a blank no-op entry at the start of its term", () => {
  const r = newTestRaft("a", ["a", "b", "c"], {}, {
    terms: [1],
    hardState: { term: 1, vote: null, commit: 0 },
  });
  r.becomeCandidate();
  r.becomeLeader();
  const last = r.raftLog.allEntries().at(-1);
  assert.ok(last);
  assert.deepEqual([last.index, last.term, last.type, last.data.length], [2, 2, "normal", 0]);
});

Deno.test("§8 a read-only request is answered only after the leader has exchanged heartbeats with a majority", () => {
  const net = new TestNetwork(["a", "b", "c"], { bootstrap: true });
  net.campaign("a");
  net.isolate("a");
  const ctx = enc("read-1");
  net.node("a").rn.readIndex(ctx);
  net.deliver(net.node("a").drain());
  assert.deepEqual(net.node("a").readStates, [], "no quorum, no read");
  net.heal();
  net.tickAll(1);
  const rs = net.node("a").readStates;
  assert.equal(rs.length, 1);
  assert.deepEqual(rs[0].requestCtx, ctx);
  assert.equal(rs[0].index, net.node("a").rn.raft.raftLog.committed);
});

Deno.test("§6 cluster configurations are changed with a log entry; only one change may be pending at a time", () => {
  const net = new TestNetwork(["a", "b", "c"], { bootstrap: true });
  net.campaign("a");
  const a = net.node("a").rn;
  // Block commits so the first change stays pending.
  net.isolate("a");
  a.proposeConfChange({ transition: "auto", changes: [{ type: "addLearner", nodeId: "d" }] });
  a.proposeConfChange({ transition: "auto", changes: [{ type: "addLearner", nodeId: "e" }] });
  const tail = a.raft.raftLog.allEntries().slice(-2);
  assert.deepEqual(
    tail.map((e) => e.type),
    ["confChange", "normal"],
    "second change became a no-op",
  );
  net.deliver(net.node("a").drain());
  net.heal();
  net.tickAll(3);
  assert.deepEqual(a.status().config.learners, ["d"]);
  assert.deepEqual(net.node("b").rn.status().config.learners, ["d"]);
});

Deno.test("§6 during joint consensus, agreement (for elections and commitment) requires separate majorities from both the old and new configurations", () => {
  const net = new TestNetwork(["a", "b", "c"], { bootstrap: true });
  net.campaign("a");
  for (const id of ["d", "e"]) net.addEmptyNode(id);
  // Enter (a b c d e)&&(a b c) explicitly, so the joint state persists.
  net.node("a").rn.proposeConfChange({
    transition: "explicit",
    changes: [{ type: "addNode", nodeId: "d" }, { type: "addNode", nodeId: "e" }],
  });
  net.deliver(net.node("a").drain());
  net.tickAll(3);
  assert.deepEqual(net.node("a").rn.status().config.votersOutgoing, ["a", "b", "c"]);
  // Majority of the new config (a d e) but not of the old (only a): no commit.
  net.cut("a", "b");
  net.cut("a", "c");
  const before = net.node("a").rn.raft.raftLog.committed;
  net.propose("a", "needs-both");
  assert.equal(net.node("a").rn.raft.raftLog.committed, before);
  net.heal();
  net.tickAll(2);
  assert.ok(net.node("a").rn.raft.raftLog.committed > before);
  assert.ok(net.appliedData("a").includes("needs-both"));
});

Deno.test("§5.4.2 Figure 8: a leader that counted replicas of a previous-term entry could lose a committed entry; the current-term rule prevents it", async (t) => {
  // State (c) of Figure 8: s1 holds (2, term 2), also on s2; s5 holds (2, term 3).
  const ids = ["s1", "s2", "s3", "s4", "s5"];
  const logs: Record<string, number[]> = {
    s1: [1, 2],
    s2: [1, 2],
    s3: [1],
    s4: [1],
    s5: [1, 3],
  };
  const scenario = (bug: boolean): { s1Applied: Entry[]; s5Applied: Entry[] } => {
    const net = new TestNetwork([], {
      config: { maxSizePerMsgBytes: 0, testingBugs: { commitPreviousTermByCounting: bug } },
    });
    for (const id of ids) {
      const storage = new MemoryStorage({ ...emptyConfState(), voters: ids });
      storage.append(logs[id].map((term, i) => ent(i + 1, term)));
      storage.setHardState({ term: 3, vote: null, commit: 1 });
      net.addNodeFromStorage(id, storage);
    }
    // s5 is down; s1 wins term 4, copies (2, term 2) to s3 and s4, but crashes
    // before its own term-4 entry, or its new commit index, reaches anyone.
    net.stop("s5");
    net.filter = (m) => {
      if (m.from === "s1" && m.commit >= 2) return false;
      return !(m.type === "app" && m.entries.some((e) => e.term === 4) &&
        net.node(m.to).rn.raft.raftLog.matchTerm(m.index, m.logTerm));
    };
    net.campaign("s1");
    assert.equal(net.node("s1").rn.raft.role, "leader");
    assert.equal(net.node("s1").rn.raft.term, 4);
    net.tickAll(2);
    net.stop("s1");
    net.restart("s5");
    net.filter = () => true;
    // s5 is elected with the votes of s2, s3, s4 and overwrites index 2 (its
    // first campaign, in term 4, meets voters that already voted for s1).
    net.campaign("s5");
    if (net.node("s5").rn.raft.role !== "leader") net.campaign("s5");
    assert.equal(net.node("s5").rn.raft.role, "leader");
    net.tickAll(2);
    return { s1Applied: net.node("s1").applied, s5Applied: net.node("s5").applied };
  };
  await t.step("with the rule, s1 never commits (2, term 2), so s5 overwriting it is safe", () => {
    const { s1Applied, s5Applied } = scenario(false);
    assert.deepEqual(pairs(s1Applied), [[1, 1]]);
    assert.deepEqual(pairs(s5Applied).slice(0, 2), [[1, 1], [2, 3]]);
  });
  await t.step(
    "with testingBugs.commitPreviousTermByCounting, s1 applies (2, term 2) and s5 applies (2, term 3): State Machine Safety is broken",
    () => {
      const { s1Applied, s5Applied } = scenario(true);
      assert.deepEqual(pairs(s1Applied), [[1, 1], [2, 2]]);
      assert.deepEqual(pairs(s5Applied).slice(0, 2), [[1, 1], [2, 3]]);
    },
  );
});
