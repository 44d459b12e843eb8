import assert from "node:assert/strict";
import type { RaftRole } from "@safla/core/raft";
import {
  assertNoViolations,
  type EntryView,
  hashEntryData,
  logViewFromEntries,
  type NodeView,
  RaftSafetyChecker,
  SafetyViolationError,
  type Violation,
} from "./raft_safety.ts";

/** A hand-driven node: a log of (term, data) plus the volatile fields the checker sees. */
class FakeNode {
  log: EntryView[] = [];
  term = 0;
  role: RaftRole = "follower";
  lead: string | null = null;
  commit = 0;
  applied = 0;
  snapshotIndex = 0;
  snapshotTerm = 0;
  pendingApplied: EntryView[] = [];
  writtenFrom: number | undefined = undefined;

  constructor(readonly id: string) {}

  append(term: number, data: string): void {
    const index = this.lastIndex + 1;
    this.log.push({ index, term, dataHash: data });
    this.writtenFrom ??= index;
  }

  /** Copies `other`'s entries up to `upTo` (a follower accepting an append). */
  replicateFrom(other: FakeNode, upTo = other.lastIndex): void {
    for (let i = this.snapshotIndex + 1; i <= upTo; i++) {
      const theirs = other.log[i - other.snapshotIndex - 1];
      const mine = this.log[i - this.snapshotIndex - 1];
      if (mine !== undefined && mine.term === theirs.term) continue;
      this.log.length = i - this.snapshotIndex - 1;
      this.log.push({ ...theirs });
      this.writtenFrom = Math.min(this.writtenFrom ?? i, i);
    }
  }

  applyUpTo(index: number): void {
    while (this.applied < index) {
      this.applied++;
      this.pendingApplied.push({ ...this.log[this.applied - this.snapshotIndex - 1] });
    }
  }

  get lastIndex(): number {
    return this.snapshotIndex + this.log.length;
  }

  view(): NodeView {
    const v: NodeView = {
      term: this.term,
      role: this.role,
      lead: this.lead,
      commitIndex: this.commit,
      appliedIndex: this.applied,
      log: logViewFromEntries(this.log, this.snapshotIndex, this.snapshotTerm),
      newlyApplied: this.pendingApplied,
    };
    if (this.writtenFrom !== undefined) v.writtenFrom = this.writtenFrom;
    this.pendingApplied = [];
    this.writtenFrom = undefined;
    return v;
  }
}

function cluster(...ids: string[]): FakeNode[] {
  return ids.map((id) => new FakeNode(id));
}

function observeAll(checker: RaftSafetyChecker, nodes: FakeNode[]): Violation[] {
  return nodes.flatMap((n) => checker.observe(n.id, n.view()));
}

function lead(leader: FakeNode, term: number, followers: FakeNode[]): void {
  leader.term = term;
  leader.role = "leader";
  leader.lead = leader.id;
  for (const f of followers) {
    f.term = term;
    f.role = "follower";
    f.lead = leader.id;
  }
}

function rules(vs: Violation[]): string[] {
  return vs.map((v) => v.rule);
}

Deno.test("a correct run of elections, replication and apply has no violations", () => {
  const checker = new RaftSafetyChecker();
  const [a, b, c] = cluster("a", "b", "c");
  lead(a, 1, [b, c]);
  a.append(1, "x");
  a.append(1, "y");
  assert.deepEqual(observeAll(checker, [a, b, c]), []);
  b.replicateFrom(a);
  a.commit = 2;
  b.commit = 1;
  a.applyUpTo(2);
  assert.deepEqual(observeAll(checker, [a, b, c]), []);
  // b wins term 2 (it holds everything committed), c catches up; a's extra entry is fine.
  a.append(1, "uncommitted");
  lead(b, 2, [a, c]);
  b.append(2, "z");
  a.replicateFrom(b);
  c.replicateFrom(b);
  b.commit = 3;
  a.commit = 3;
  c.commit = 3;
  for (const n of [a, b, c]) n.applyUpTo(3);
  assert.deepEqual(observeAll(checker, [a, b, c]), []);
  assert.equal(checker.highestCommitted, 3);
  assert.deepEqual(checker.committedEntry(3), { term: 2, dataHash: "z" });
  assert.equal(checker.leaderOf(2), "b");
});

Deno.test("election safety", async (t) => {
  await t.step("two leaders in one term", () => {
    const checker = new RaftSafetyChecker();
    const [a, b] = cluster("a", "b");
    lead(a, 3, []);
    lead(b, 3, []);
    assert.deepEqual(checker.observe("a", a.view()), []);
    const vs = checker.observe("b", b.view(), 17);
    assert.deepEqual(rules(vs), ["electionSafety"]);
    assert.equal(vs[0].eventIndex, 17);
    assert.match(vs[0].detail, /b is leader of term 3, but a already was/);
  });

  await t.step("a follower naming another leader for a term", () => {
    const checker = new RaftSafetyChecker();
    const [a, b] = cluster("a", "b");
    lead(a, 3, []);
    checker.observe("a", a.view());
    b.term = 3;
    b.lead = "c";
    assert.deepEqual(rules(checker.observe("b", b.view())), ["electionSafety"]);
  });

  await t.step("leaders of different terms are fine", () => {
    const checker = new RaftSafetyChecker();
    const [a, b] = cluster("a", "b");
    lead(a, 3, []);
    lead(b, 4, []);
    assert.deepEqual(observeAll(checker, [a, b]), []);
  });
});

Deno.test("one vote per term", async (t) => {
  const view = (term: number, vote: string | null): NodeView => ({
    term,
    role: "follower",
    lead: null,
    vote,
    commitIndex: 0,
    appliedIndex: 0,
    log: logViewFromEntries([]),
    newlyApplied: [],
  });

  await t.step("a vote lost in a crash and cast again for another candidate", () => {
    const checker = new RaftSafetyChecker();
    assert.deepEqual(checker.observe("a", view(4, "b")), []);
    checker.restarted("a", { hardState: { term: 3, vote: null, commit: 0 }, snapshotIndex: 0 });
    assert.deepEqual(checker.observe("a", view(3, null)), []);
    const vs = checker.observe("a", view(4, "c"), 9);
    assert.deepEqual(rules(vs), ["oneVotePerTerm"]);
    assert.match(vs[0].detail, /voted for c in term 4, having voted for b in that term/);
  });

  await t.step("the same vote seen again, and votes in new terms, are fine", () => {
    const checker = new RaftSafetyChecker();
    assert.deepEqual(checker.observe("a", view(4, "b")), []);
    assert.deepEqual(checker.observe("a", view(4, "b")), []);
    assert.deepEqual(checker.observe("a", view(5, "c")), []);
    assert.deepEqual(checker.observe("a", view(6, null)), []);
  });
});

Deno.test("leader append-only", async (t) => {
  await t.step("a leader truncating its log", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    lead(a, 1, []);
    a.append(1, "x");
    a.append(1, "y");
    checker.observe("a", a.view());
    a.log.pop();
    assert.deepEqual(rules(checker.observe("a", a.view())), ["leaderAppendOnly"]);
  });

  await t.step("a leader overwriting its last entry", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    lead(a, 2, []);
    a.append(2, "x");
    checker.observe("a", a.view());
    a.log[0] = { index: 1, term: 2, dataHash: "other" };
    a.writtenFrom = 1;
    assert.deepEqual(rules(checker.observe("a", a.view())), ["leaderAppendOnly"]);
  });

  await t.step("a new term may truncate (as a follower)", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    lead(a, 1, []);
    a.append(1, "x");
    checker.observe("a", a.view());
    a.role = "follower";
    a.term = 2;
    a.log.pop();
    assert.deepEqual(checker.observe("a", a.view()), []);
  });
});

Deno.test("log matching on committed prefixes", async (t) => {
  await t.step("different terms committed at one index", () => {
    const checker = new RaftSafetyChecker();
    const [a, b] = cluster("a", "b");
    a.term = b.term = 2;
    a.append(1, "x");
    b.append(2, "x");
    a.commit = b.commit = 1;
    assert.deepEqual(checker.observe("a", a.view()), []);
    const vs = checker.observe("b", b.view());
    assert.deepEqual(rules(vs), ["logMatching"]);
    assert.match(vs[0].detail, /committed entry 1 differs/);
  });

  await t.step("same term, different data", () => {
    const checker = new RaftSafetyChecker();
    const [a, b] = cluster("a", "b");
    a.append(1, "x");
    b.append(1, "y");
    a.commit = b.commit = 1;
    checker.observe("a", a.view());
    assert.deepEqual(rules(checker.observe("b", b.view())), ["logMatching"]);
  });

  await t.step("uncommitted tails may differ", () => {
    const checker = new RaftSafetyChecker();
    const [a, b] = cluster("a", "b");
    a.append(1, "x");
    b.append(1, "x");
    a.append(1, "y");
    b.append(2, "z");
    a.commit = b.commit = 1;
    assert.deepEqual(observeAll(checker, [a, b]), []);
  });

  await t.step("a committed entry rewritten on a conflicting append", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    a.append(1, "x");
    a.append(1, "y");
    a.commit = 2;
    checker.observe("a", a.view());
    a.log[0] = { index: 1, term: 3, dataHash: "evil" };
    a.writtenFrom = 1;
    const vs = checker.observe("a", a.view());
    assert.deepEqual(rules(vs), ["logMatching"]);
    assert.match(vs[0].detail, /committed entry 1 was rewritten/);
  });

  await t.step("an unreported rewrite of the commit point is caught by the spot check", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    a.append(1, "x");
    a.commit = 1;
    checker.observe("a", a.view());
    a.log[0] = { index: 1, term: 3, dataHash: "evil" };
    assert.deepEqual(rules(checker.observe("a", a.view())), ["logMatching"]);
  });
});

Deno.test("leader completeness", async (t) => {
  await t.step("a leader missing an entry committed in an earlier term", () => {
    const checker = new RaftSafetyChecker();
    const [a, b, c] = cluster("a", "b", "c");
    lead(a, 1, [b, c]);
    a.append(1, "x");
    b.replicateFrom(a);
    a.commit = 1;
    assert.deepEqual(observeAll(checker, [a, b, c]), []);
    lead(c, 2, [a, b]);
    const vs = checker.observe("c", c.view());
    assert.deepEqual(rules(vs), ["leaderCompleteness"]);
    assert.match(vs[0].detail, /leader of term 2 lacks entry 1 \(term 1\) committed by term 1/);
  });

  await t.step("a leader with a different entry where one was committed", () => {
    const checker = new RaftSafetyChecker();
    const [a, c] = cluster("a", "c");
    a.term = 1;
    a.append(1, "x");
    a.commit = 1;
    checker.observe("a", a.view());
    c.append(2, "other");
    lead(c, 3, []);
    assert.deepEqual(rules(checker.observe("c", c.view())), ["leaderCompleteness"]);
  });

  await t.step("an entry committed later is checked at the leader's next observation", () => {
    const checker = new RaftSafetyChecker();
    const [a, b, c] = cluster("a", "b", "c");
    lead(c, 5, []);
    assert.deepEqual(checker.observe("c", c.view()), []);
    // b reports commit of an entry at term 4 (learned late): c, leader of 5, must hold it.
    b.term = 4;
    b.append(4, "x");
    b.commit = 1;
    assert.deepEqual(checker.observe("b", b.view()), []);
    assert.deepEqual(rules(checker.observe("c", c.view())), ["leaderCompleteness"]);
    assert.deepEqual(checker.observe("a", a.view()), []);
  });

  await t.step("a stale leader of a lower term is not held to later commits", () => {
    const checker = new RaftSafetyChecker();
    const [a, b] = cluster("a", "b");
    lead(a, 2, []);
    checker.observe("a", a.view());
    b.term = 3;
    b.append(3, "x");
    b.commit = 1;
    checker.observe("b", b.view());
    assert.deepEqual(checker.observe("a", a.view()), []);
  });

  await t.step("entries covered by the leader's snapshot count as held", () => {
    const checker = new RaftSafetyChecker();
    const [a, b] = cluster("a", "b");
    a.term = 1;
    a.append(1, "x");
    a.append(1, "y");
    a.commit = 2;
    checker.observe("a", a.view());
    b.snapshotIndex = 2;
    b.snapshotTerm = 1;
    lead(b, 2, []);
    assert.deepEqual(checker.observe("b", b.view()), []);
  });
});

Deno.test("state machine safety and apply order", async (t) => {
  await t.step("two nodes apply different entries at one index", () => {
    const checker = new RaftSafetyChecker();
    const [a, b] = cluster("a", "b");
    a.append(1, "x");
    a.commit = 1;
    a.applyUpTo(1);
    checker.observe("a", a.view());
    // b's log was compacted, so only its applied entry reveals the difference.
    b.snapshotIndex = 0;
    b.commit = 1;
    b.applied = 1;
    b.append(1, "y");
    b.log = [];
    b.snapshotIndex = 1;
    b.snapshotTerm = 1;
    b.pendingApplied = [{ index: 1, term: 1, dataHash: "y" }];
    b.writtenFrom = undefined;
    const vs = checker.observe("b", b.view());
    assert.deepEqual(rules(vs), ["stateMachineSafety"]);
    assert.match(vs[0].detail, /applied \(term 1, data y\) at index 1/);
  });

  await t.step("applying past the commit index", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    a.append(1, "x");
    a.applyUpTo(1);
    assert.deepEqual(rules(checker.observe("a", a.view())), [
      "appliedBeyondCommit",
      "appliedBeyondCommit",
    ]);
  });

  await t.step("skipping and repeating entries", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    a.append(1, "x");
    a.append(1, "y");
    a.commit = 2;
    a.applied = 2;
    a.pendingApplied = [a.log[1]];
    assert.deepEqual(rules(checker.observe("a", a.view())), ["applyOrder"]);
    a.pendingApplied = [a.log[1]];
    assert.deepEqual(rules(checker.observe("a", a.view())), ["applyOrder"]);
  });

  await t.step("an applied index that the applied entries do not reach", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    a.append(1, "x");
    a.commit = 1;
    a.applied = 1;
    const vs = checker.observe("a", a.view());
    assert.deepEqual(rules(vs), ["applyOrder"]);
    assert.match(vs[0].detail, /applied index is 1 but the entries applied so far end at 0/);
  });

  await t.step("a snapshot restore may jump the applied index", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    a.snapshotIndex = 5;
    a.snapshotTerm = 1;
    a.append(1, "x");
    a.commit = 6;
    a.applied = 5;
    a.applyUpTo(6);
    const v = a.view();
    v.appliedSnapshotIndex = 5;
    assert.deepEqual(checker.observe("a", v), []);
  });
});

Deno.test("monotonic indices and restarts", async (t) => {
  await t.step("term, commit and applied never go back while up", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    a.term = 3;
    a.append(1, "x");
    a.commit = 1;
    a.applyUpTo(1);
    assert.deepEqual(checker.observe("a", a.view()), []);
    a.term = 2;
    a.commit = 0;
    a.applied = 0;
    assert.deepEqual(rules(checker.observe("a", a.view())), [
      "termMonotonic",
      "commitMonotonic",
      "appliedMonotonic",
    ]);
  });

  await t.step("a restart falls back to the durable state", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    a.term = 3;
    a.append(1, "x");
    a.append(1, "y");
    a.commit = 2;
    a.applyUpTo(2);
    checker.observe("a", a.view());
    checker.restarted("a", { hardState: { term: 2, vote: null, commit: 1 }, snapshotIndex: 0 });
    a.term = 2;
    a.commit = 1;
    a.applied = 0;
    a.applyUpTo(1);
    assert.deepEqual(checker.observe("a", a.view()), []);
  });

  await t.step("committing beyond the log", () => {
    const checker = new RaftSafetyChecker();
    const [a] = cluster("a");
    a.append(1, "x");
    a.commit = 2;
    const vs = checker.observe("a", a.view());
    assert.deepEqual(rules(vs), ["commitBeyondLog"]);
    assert.match(vs[0].detail, /commit index 2 is past the last log index 1/);
  });
});

Deno.test("memory stays bounded by maxRetainedCommitted", () => {
  const checker = new RaftSafetyChecker({ maxRetainedCommitted: 10 });
  const [a] = cluster("a");
  lead(a, 1, []);
  for (let i = 1; i <= 100; i++) {
    a.append(1, `e${i}`);
    a.commit = i;
    a.applyUpTo(i);
    assert.deepEqual(checker.observe("a", a.view()), []);
  }
  assert.equal(checker.committedEntry(50), undefined);
  assert.deepEqual(checker.committedEntry(100), { term: 1, dataHash: "e100" });
  assert.throws(() => new RaftSafetyChecker({ maxRetainedCommitted: 0 }), RangeError);
});

Deno.test("helpers", async (t) => {
  await t.step("assertNoViolations throws with every violation listed", () => {
    assertNoViolations([]);
    const v: Violation = {
      rule: "electionSafety",
      nodeId: "b",
      detail: "two leaders",
      eventIndex: 4,
    };
    assert.throws(
      () => assertNoViolations([v]),
      (e: unknown) =>
        e instanceof SafetyViolationError && e.violations[0] === v &&
        /\[electionSafety\] node b \(event 4\): two leaders/.test(e.message),
    );
  });

  await t.step("hashEntryData distinguishes payloads", () => {
    const enc = new TextEncoder();
    assert.equal(hashEntryData(enc.encode("a")), hashEntryData(enc.encode("a")));
    assert.notEqual(hashEntryData(enc.encode("a")), hashEntryData(enc.encode("b")));
  });

  await t.step("logViewFromEntries refuses gaps", () => {
    assert.throws(() => logViewFromEntries([{ index: 2, term: 1, dataHash: 0 }]), RangeError);
    const gap = logViewFromEntries([
      { index: 1, term: 1, dataHash: 0 },
      { index: 3, term: 1, dataHash: 0 },
      { index: 3, term: 1, dataHash: 0 },
    ]);
    assert.throws(() => gap.term(2), RangeError);
  });
});

Deno.test("leaders of terms every node has left behind are pruned", () => {
  const checker = new RaftSafetyChecker();
  const [a, b] = cluster("a", "b");
  for (let term = 1; term <= 10_050; term++) {
    lead(term % 2 === 0 ? a : b, term, [term % 2 === 0 ? b : a]);
    assert.deepEqual(observeAll(checker, [a, b]), []);
  }
  assert.equal(checker.leaderOf(3), undefined);
  assert.equal(checker.leaderOf(10_050), "a");
  assert.equal(checker.leaderOf(10_049), "b");
});
