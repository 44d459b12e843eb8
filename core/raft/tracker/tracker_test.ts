import assert from "node:assert/strict";
import fc from "fast-check";
import { JointConfig } from "../quorum/joint.ts";
import { MajorityConfig } from "../quorum/majority.ts";
import { Inflights } from "./inflights.ts";
import { Progress } from "./progress.ts";
import {
  cloneTrackerConfig,
  ProgressTracker,
  trackerConfigToConfState,
  trackerConfigToString,
} from "./tracker.ts";

function tracker(
  incoming: string[],
  outgoing: string[] = [],
  learners: string[] = [],
  learnersNext: string[] = [],
): ProgressTracker {
  const trk = new ProgressTracker(4, 0);
  trk.config = {
    voters: new JointConfig(new MajorityConfig(incoming), new MajorityConfig(outgoing)),
    autoLeave: outgoing.length > 0,
    learners: new Set(learners),
    learnersNext: new Set(learnersNext),
  };
  for (const id of [...incoming, ...outgoing, ...learners]) {
    trk.progress.set(
      id,
      new Progress({ next: 1, inflights: new Inflights(4, 0), isLearner: learners.includes(id) }),
    );
  }
  return trk;
}

Deno.test("ProgressTracker validates its limits", () => {
  assert.throws(() => new ProgressTracker(0, 0), RangeError);
  assert.throws(() => new ProgressTracker(1, -1), RangeError);
  const trk = new ProgressTracker(8, 1024);
  assert.equal(trk.maxInflightMsgs, 8);
  assert.equal(trk.maxInflightBytes, 1024);
  assert.equal(trk.committed(), Number.MAX_SAFE_INTEGER);
  assert.deepEqual(trk.voterNodes(), []);
});

Deno.test("confState lists every member sorted", () => {
  const trk = tracker(["c", "a", "b"], ["d", "a", "b"], ["e"], ["d"]);
  assert.deepEqual(trk.confState(), {
    voters: ["a", "b", "c"],
    votersOutgoing: ["a", "b", "d"],
    learners: ["e"],
    learnersNext: ["d"],
    autoLeave: true,
  });
  assert.equal(
    trackerConfigToString(trk.config),
    "voters=(a b c)&&(a b d) learners=(e) learners_next=(d) autoleave",
  );
  assert.deepEqual(trk.voterNodes(), ["a", "b", "c", "d"]);
  assert.deepEqual(trk.learnerNodes(), ["e"]);
  assert.deepEqual(trackerConfigToConfState(trk.config), trk.confState());
});

Deno.test("cloneTrackerConfig copies the learner sets", () => {
  const trk = tracker(["a"], [], ["b"]);
  const copy = cloneTrackerConfig(trk.config);
  copy.learners.add("z");
  copy.learnersNext.add("y");
  assert.deepEqual([...trk.config.learners], ["b"]);
  assert.equal(trk.config.learnersNext.size, 0);
});

Deno.test("isSingleton", async (t) => {
  await t.step("one voter", () => assert.equal(tracker(["a"]).isSingleton(), true));
  await t.step("one voter plus learners", () => {
    assert.equal(tracker(["a"], [], ["b"]).isSingleton(), true);
  });
  await t.step("two voters", () => assert.equal(tracker(["a", "b"]).isSingleton(), false));
  await t.step("joint", () => assert.equal(tracker(["a"], ["b"]).isSingleton(), false));
  await t.step("empty", () => assert.equal(tracker([]).isSingleton(), false));
});

Deno.test("committed follows the joint quorum of match indices, ignoring learners", () => {
  const trk = tracker(["a", "b", "c"], ["c", "d"], ["e"]);
  const match: Record<string, number> = { a: 9, b: 8, c: 4, d: 6, e: 100 };
  for (const [id, index] of Object.entries(match)) trk.progress.get(id)?.maybeUpdate(index);
  assert.equal(trk.committed(), 4);
  trk.progress.get("c")?.maybeUpdate(7);
  assert.equal(trk.committed(), 6);
  trk.progress.delete("d");
  assert.equal(trk.committed(), 0, "a voter without progress counts as index 0");
});

Deno.test("visit runs in sorted id order", () => {
  const trk = tracker(["c", "a", "b"], [], ["e", "d"]);
  const seen: string[] = [];
  trk.visit((id) => seen.push(id));
  assert.deepEqual(seen, ["a", "b", "c", "d", "e"]);
});

Deno.test("visit follows every change of the progress map, even one that keeps its size", () => {
  const trk = tracker(["c", "a", "b"]);
  const visited = (): string[] => {
    const seen: string[] = [];
    trk.visit((id) => seen.push(id));
    return seen;
  };
  assert.deepEqual(visited(), ["a", "b", "c"]);
  trk.progress.delete("b");
  trk.progress.set("d", new Progress({ next: 1, inflights: new Inflights(4, 0) }));
  assert.deepEqual(visited(), ["a", "c", "d"]);
  trk.progress.set("b", new Progress({ next: 1, inflights: new Inflights(4, 0) }));
  assert.deepEqual(visited(), ["a", "b", "c", "d"]);
  trk.progress = new Map([["z", new Progress({ next: 1, inflights: new Inflights(4, 0) })]]);
  assert.deepEqual(visited(), ["z"]);
});

Deno.test("quorumActive uses recentActive of voters only", async (t) => {
  const table: Array<[string, string[], boolean]> = [
    ["none active", [], false],
    ["one of three", ["a"], false],
    ["two of three", ["a", "b"], true],
    ["learners do not count", ["d", "e", "a"], false],
  ];
  for (const [name, active, want] of table) {
    await t.step(name, () => {
      const trk = tracker(["a", "b", "c"], [], ["d", "e"]);
      for (const id of active) {
        const pr = trk.progress.get(id);
        if (pr) pr.recentActive = true;
      }
      assert.equal(trk.quorumActive(), want);
    });
  }
  await t.step("joint: both halves must be active", () => {
    const trk = tracker(["a", "b", "c"], ["d", "e", "f"]);
    for (const id of ["a", "b", "d"]) {
      const pr = trk.progress.get(id);
      if (pr) pr.recentActive = true;
    }
    assert.equal(trk.quorumActive(), false);
    const f = trk.progress.get("f");
    if (f) f.recentActive = true;
    assert.equal(trk.quorumActive(), true);
  });
});

Deno.test("votes: first answer counts, learners are not tallied", async (t) => {
  await t.step("simple election", () => {
    const trk = tracker(["a", "b", "c"], [], ["d"]);
    trk.recordVote("a", true);
    assert.deepEqual(trk.tallyVotes(), { granted: 1, rejected: 0, result: "pending" });
    trk.recordVote("b", false);
    trk.recordVote("b", true);
    trk.recordVote("d", true);
    assert.deepEqual(trk.tallyVotes(), { granted: 1, rejected: 1, result: "pending" });
    trk.recordVote("c", true);
    assert.deepEqual(trk.tallyVotes(), { granted: 2, rejected: 1, result: "won" });
    trk.resetVotes();
    assert.deepEqual(trk.tallyVotes(), { granted: 0, rejected: 0, result: "pending" });
  });
  await t.step("joint election needs both halves", () => {
    const trk = tracker(["a", "b", "c"], ["c", "d"]);
    for (const id of ["a", "b", "c"]) trk.recordVote(id, true);
    assert.deepEqual(trk.tallyVotes(), { granted: 3, rejected: 0, result: "pending" });
    trk.recordVote("d", true);
    assert.deepEqual(trk.tallyVotes(), { granted: 4, rejected: 0, result: "won" });
    const lost = tracker(["a", "b", "c"], ["c", "d"]);
    for (const id of ["a", "b", "c"]) lost.recordVote(id, true);
    lost.recordVote("d", false);
    assert.deepEqual(lost.tallyVotes(), { granted: 3, rejected: 1, result: "lost" });
  });
});

const NODE_IDS = ["a", "b", "c", "d", "e", "f"];

const arbMembership = fc.record({
  incoming: fc.uniqueArray(fc.constantFrom(...NODE_IDS), { minLength: 1, maxLength: 5 }),
  outgoing: fc.uniqueArray(fc.constantFrom(...NODE_IDS), { maxLength: 5 }),
  extra: fc.uniqueArray(fc.constantFrom(...NODE_IDS), { maxLength: 3 }),
  match: fc.dictionary(fc.constantFrom(...NODE_IDS), fc.nat({ max: 30 })),
  active: fc.dictionary(fc.constantFrom(...NODE_IDS), fc.boolean()),
  votes: fc.dictionary(fc.constantFrom(...NODE_IDS), fc.boolean()),
}).map(({ incoming, outgoing, extra, match, active, votes }) => ({
  incoming,
  outgoing,
  learners: extra.filter((id) => !incoming.includes(id) && !outgoing.includes(id)),
  match,
  active,
  votes,
}));

function majorityReached(ids: string[], holds: (id: string) => boolean): boolean {
  return ids.length === 0 || ids.filter(holds).length > ids.length / 2;
}

Deno.test("property: committed is the largest index held by a majority of each half", () => {
  fc.assert(
    fc.property(arbMembership, ({ incoming, outgoing, learners, match }) => {
      const trk = tracker(incoming, outgoing, learners);
      for (const [id, index] of Object.entries(match)) trk.progress.get(id)?.maybeUpdate(index);
      const matchOf = (id: string) => trk.progress.get(id)?.match ?? 0;
      const committed = trk.committed();
      const holds = (index: number) => (id: string) => matchOf(id) >= index;
      assert.ok(majorityReached(incoming, holds(committed)));
      assert.ok(majorityReached(outgoing, holds(committed)));
      assert.ok(
        !majorityReached(incoming, holds(committed + 1)) ||
          !majorityReached(outgoing, holds(committed + 1)),
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("property: quorumActive and tallyVotes agree with counting", () => {
  fc.assert(
    fc.property(arbMembership, ({ incoming, outgoing, learners, active, votes }) => {
      const trk = tracker(incoming, outgoing, learners);
      for (const [id, recent] of Object.entries(active)) {
        const pr = trk.progress.get(id);
        if (pr) pr.recentActive = recent;
      }
      const isActive = (id: string) => active[id] === true;
      assert.equal(
        trk.quorumActive(),
        majorityReached(incoming, isActive) && majorityReached(outgoing, isActive),
      );

      for (const [id, granted] of Object.entries(votes)) trk.recordVote(id, granted);
      const voters = [...new Set([...incoming, ...outgoing])];
      const tally = trk.tallyVotes();
      assert.equal(tally.granted, voters.filter((id) => votes[id] === true).length);
      assert.equal(tally.rejected, voters.filter((id) => votes[id] === false).length);
      const wins = (ids: string[]) => majorityReached(ids, (id) => votes[id] === true);
      const canWin = (ids: string[]) => majorityReached(ids, (id) => votes[id] !== false);
      const want = wins(incoming) && wins(outgoing)
        ? "won"
        : canWin(incoming) && canWin(outgoing)
        ? "pending"
        : "lost";
      assert.equal(tally.result, want);
    }),
    { numRuns: 300 },
  );
});
