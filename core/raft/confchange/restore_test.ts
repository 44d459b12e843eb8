import assert from "node:assert/strict";
import { ProgressTracker } from "../tracker/tracker.ts";
import type { ConfState } from "../types.ts";
import { Changer } from "./changer.ts";
import { ConfChangeError } from "./errors.ts";
import { confStatesEquivalent, restore } from "./restore.ts";

function confState(partial: Partial<ConfState>): ConfState {
  return {
    voters: [],
    votersOutgoing: [],
    learners: [],
    learnersNext: [],
    autoLeave: false,
    ...partial,
  };
}

function fresh(lastIndex = 10): Changer {
  return new Changer(new ProgressTracker(16, 0), lastIndex);
}

Deno.test("restore round-trips ConfStates", async (t) => {
  const table: Array<[string, ConfState]> = [
    ["empty", confState({})],
    ["one voter", confState({ voters: ["a"] })],
    ["voters and learners", confState({ voters: ["a", "b", "c"], learners: ["d", "e"] })],
    ["joint", confState({ voters: ["a", "b", "c"], votersOutgoing: ["a", "b", "d"] })],
    ["joint, auto-leave", confState({ voters: ["a"], votersOutgoing: ["b"], autoLeave: true })],
    [
      "joint with staged learners",
      confState({
        voters: ["a", "b", "c"],
        votersOutgoing: ["a", "b", "d", "f"],
        learners: ["e"],
        learnersNext: ["d"],
      }),
    ],
    [
      "joint, disjoint halves",
      confState({ voters: ["a", "b"], votersOutgoing: ["c", "d", "e"], learners: ["f"] }),
    ],
  ];
  for (const [name, cs] of table) {
    await t.step(name, () => {
      const { config, progress } = restore(fresh(), cs);
      const trk = new ProgressTracker(16, 0);
      trk.config = config;
      trk.progress = progress;
      assert.deepEqual(trk.confState(), cs);
      for (const pr of progress.values()) {
        assert.equal(pr.next, 10);
        assert.equal(pr.match, 0);
        assert.equal(pr.recentActive, true);
      }
      for (const id of cs.learners) assert.equal(progress.get(id)?.isLearner, true);
      for (const id of cs.learnersNext) assert.equal(progress.get(id)?.isLearner, false);
    });
  }
});

Deno.test("restore rejects ConfStates no change sequence can reach", async (t) => {
  const table: Array<[string, ConfState, RegExp]> = [
    ["learners without voters", confState({ learners: ["a"] }), /removed all voters/],
    [
      "joint without incoming voters",
      confState({ votersOutgoing: ["a"] }),
      /removed all voters/,
    ],
    [
      "autoLeave outside joint",
      confState({ voters: ["a"], autoLeave: true }),
      /autoLeave must be false when not joint/,
    ],
    [
      "learnersNext outside joint",
      confState({ voters: ["a"], learnersNext: ["b"] }),
      /b is in learnersNext, but not an outgoing voter/,
    ],
    [
      "learnersNext that is not an outgoing voter",
      confState({ voters: ["a"], votersOutgoing: ["a"], learnersNext: ["b"] }),
      /b is in learnersNext, but not an outgoing voter/,
    ],
    [
      "learnersNext that is an incoming voter",
      confState({ voters: ["a"], votersOutgoing: ["a"], learnersNext: ["a"] }),
      /a is in learnersNext, but also a voter or learner/,
    ],
    [
      "learner that is a voter",
      confState({ voters: ["a", "b"], learners: ["b"] }),
      /b is both a learner and a voter/,
    ],
    [
      "learner that is an outgoing voter",
      confState({ voters: ["a"], votersOutgoing: ["b"], learners: ["b"] }),
      /b is both a learner and a voter/,
    ],
    ["duplicate voter", confState({ voters: ["a", "a"] }), /ConfState.voters lists a twice/],
    ["empty id", confState({ voters: ["a", ""] }), /ConfState.voters holds an invalid id ""/],
  ];
  for (const [name, cs, message] of table) {
    await t.step(name, () => {
      assert.throws(() => restore(fresh(), cs), (error: unknown) => {
        assert.ok(error instanceof ConfChangeError, `${error}`);
        assert.match(error.message, message);
        return true;
      });
    });
  }
});

Deno.test("restore must start from an empty tracker", () => {
  const trk = new ProgressTracker(16, 0);
  const boot = new Changer(trk, 0).simple([{ type: "addNode", nodeId: "a" }]);
  trk.config = boot.config;
  trk.progress = boot.progress;
  assert.throws(
    () => restore(new Changer(trk, 0), confState({ voters: ["b"] })),
    /restore must start from an empty configuration, not voters=\(a\)/,
  );
});

Deno.test("confStatesEquivalent ignores order, not membership", async (t) => {
  const base = confState({
    voters: ["a", "b", "c"],
    votersOutgoing: ["a", "d"],
    learners: ["e"],
    learnersNext: ["d"],
    autoLeave: true,
  });
  const table: Array<[string, ConfState, boolean]> = [
    ["identical", { ...base }, true],
    ["reordered", { ...base, voters: ["c", "a", "b"] }, true],
    ["voter missing", { ...base, voters: ["a", "b"] }, false],
    ["voter replaced", { ...base, voters: ["a", "b", "x"] }, false],
    ["outgoing differs", { ...base, votersOutgoing: ["a"] }, false],
    ["learners differ", { ...base, learners: [] }, false],
    ["learnersNext differ", { ...base, learnersNext: [] }, false],
    ["autoLeave differs", { ...base, autoLeave: false }, false],
  ];
  for (const [name, other, want] of table) {
    await t.step(name, () => {
      assert.equal(confStatesEquivalent(base, other), want);
      assert.equal(confStatesEquivalent(other, base), want);
    });
  }
});
