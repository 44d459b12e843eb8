import assert from "node:assert/strict";
import { ProgressTracker, trackerConfigToString } from "../tracker/tracker.ts";
import type { ConfChangeSingle } from "../types.ts";
import { Changer, checkInvariants } from "./changer.ts";
import { confChangesFromString } from "./conf_change.ts";
import { ConfChangeError } from "./errors.ts";

const MAX_INFLIGHT_MSGS = 8;

/** Drives a tracker through changes like the core does, describing each result. */
class Harness {
  readonly trk = new ProgressTracker(MAX_INFLIGHT_MSGS, 0);
  lastIndex = 0;

  #run(op: (c: Changer) => ReturnType<Changer["simple"]>): string {
    const before = trackerConfigToString(this.trk.config);
    const result = op(new Changer(this.trk, this.lastIndex));
    // The base must be untouched.
    assert.equal(trackerConfigToString(this.trk.config), before);
    this.trk.config = result.config;
    this.trk.progress = result.progress;
    return this.describe();
  }

  simple(spec: string): string {
    return this.#run((c) => c.simple(confChangesFromString(spec)));
  }

  enterJoint(autoLeave: boolean, spec: string): string {
    return this.#run((c) => c.enterJoint(autoLeave, confChangesFromString(spec)));
  }

  leaveJoint(): string {
    return this.#run((c) => c.leaveJoint());
  }

  describe(): string {
    const lines = [trackerConfigToString(this.trk.config)];
    this.trk.visit((id, pr) => lines.push(`${id}: ${pr.toString()}`));
    return lines.join("\n");
  }
}

Deno.test("simple changes build a config one voter at a time", () => {
  const h = new Harness();
  assert.equal(
    h.simple("v1"),
    ["voters=(1)", "1: probe match=0 next=1"].join("\n"),
  );
  h.lastIndex = 5;
  assert.equal(
    h.simple("v2"),
    ["voters=(1 2)", "1: probe match=0 next=1", "2: probe match=0 next=5"].join("\n"),
  );
  assert.equal(
    h.simple("l3"),
    [
      "voters=(1 2) learners=(3)",
      "1: probe match=0 next=1",
      "2: probe match=0 next=5",
      "3: probe match=0 next=5 learner",
    ].join("\n"),
  );
  // Learner promoted to voter keeps its progress.
  h.trk.progress.get("3")?.maybeUpdate(4);
  assert.equal(
    h.simple("v3"),
    [
      "voters=(1 2 3)",
      "1: probe match=0 next=1",
      "2: probe match=0 next=5",
      "3: probe match=4 next=5",
    ].join("\n"),
  );
  // Voter demoted to learner keeps its progress too.
  assert.equal(
    h.simple("l2"),
    [
      "voters=(1 3) learners=(2)",
      "1: probe match=0 next=1",
      "2: probe match=0 next=5 learner",
      "3: probe match=4 next=5",
    ].join("\n"),
  );
  assert.equal(
    h.simple("r2"),
    [
      "voters=(1 3)",
      "1: probe match=0 next=1",
      "3: probe match=4 next=5",
    ].join("\n"),
  );
  // Removing an unknown node and re-adding an existing voter are no-ops.
  assert.equal(
    h.simple("r9 v1"),
    [
      "voters=(1 3)",
      "1: probe match=0 next=1",
      "3: probe match=4 next=5",
    ].join("\n"),
  );
});

Deno.test("new members start active, probed from the last index", () => {
  const h = new Harness();
  h.lastIndex = 0;
  h.simple("v1");
  const pr = h.trk.progress.get("1");
  assert.equal(pr?.recentActive, true);
  assert.equal(pr?.next, 1, "next is at least 1");
  assert.equal(pr?.inflights.capacity, MAX_INFLIGHT_MSGS);
});

Deno.test("simple: several changes touching at most one voter are allowed", () => {
  const h = new Harness();
  h.simple("v1");
  assert.match(h.simple("v2 l3 l4"), /^voters=\(1 2\) learners=\(3 4\)$/m);
  // Swapping a voter out and the same voter back in changes nothing.
  assert.match(h.simple("r2 v2"), /^voters=\(1 2\) learners=\(3 4\)$/m);
});

Deno.test("joint: enter and leave with auto-leave", () => {
  const h = new Harness();
  h.simple("v1");
  h.simple("v2");
  h.simple("v3");
  h.lastIndex = 10;
  assert.equal(
    h.enterJoint(true, "r1 v4 v5 l6"),
    [
      "voters=(2 3 4 5)&&(1 2 3) learners=(6) autoleave",
      "1: probe match=0 next=1",
      "2: probe match=0 next=1",
      "3: probe match=0 next=1",
      "4: probe match=0 next=10",
      "5: probe match=0 next=10",
      "6: probe match=0 next=10 learner",
    ].join("\n"),
  );
  assert.equal(
    h.leaveJoint(),
    [
      "voters=(2 3 4 5) learners=(6)",
      "2: probe match=0 next=1",
      "3: probe match=0 next=1",
      "4: probe match=0 next=10",
      "5: probe match=0 next=10",
      "6: probe match=0 next=10 learner",
    ].join("\n"),
  );
});

Deno.test("joint: demoting a voter stages it in learnersNext", () => {
  const h = new Harness();
  h.simple("v1");
  h.simple("v2");
  h.simple("v3");
  assert.equal(
    h.enterJoint(false, "l3 v4"),
    [
      "voters=(1 2 4)&&(1 2 3) learners_next=(3)",
      "1: probe match=0 next=1",
      "2: probe match=0 next=1",
      "3: probe match=0 next=1",
      "4: probe match=0 next=1",
    ].join("\n"),
  );
  assert.equal(h.trk.progress.get("3")?.isLearner, false, "still votes in the outgoing half");
  assert.equal(
    h.leaveJoint(),
    [
      "voters=(1 2 4) learners=(3)",
      "1: probe match=0 next=1",
      "2: probe match=0 next=1",
      "3: probe match=0 next=1 learner",
      "4: probe match=0 next=1",
    ].join("\n"),
  );
});

Deno.test("joint: an outgoing voter re-added as voter leaves learnersNext", () => {
  const h = new Harness();
  h.simple("v1");
  h.simple("v2");
  assert.match(h.enterJoint(false, "l2 v2"), /^voters=\(1 2\)&&\(1 2\)$/m);
  assert.equal(h.trk.config.learnersNext.size, 0);
  assert.match(h.leaveJoint(), /^voters=\(1 2\)$/m);
});

Deno.test("joint: a removed outgoing voter keeps its progress until leaving", () => {
  const h = new Harness();
  h.simple("v1");
  h.simple("v2");
  h.enterJoint(true, "r2 v3");
  assert.ok(h.trk.progress.has("2"));
  h.leaveJoint();
  assert.ok(!h.trk.progress.has("2"));
});

Deno.test("every validation error", async (t) => {
  const cases: Array<[string, (h: Harness) => void, RegExp]> = [
    [
      "entering joint twice",
      (h) => {
        h.simple("v1");
        h.enterJoint(false, "v2");
        h.enterJoint(false, "v3");
      },
      /^config is already joint$/,
    ],
    [
      "entering joint from an empty config",
      (h) => h.enterJoint(false, "v1"),
      /^can't make a zero-voter config joint$/,
    ],
    [
      "leaving a non-joint config",
      (h) => {
        h.simple("v1");
        h.leaveJoint();
      },
      /^can't leave a non-joint config$/,
    ],
    [
      "simple change in a joint config",
      (h) => {
        h.simple("v1");
        h.enterJoint(false, "v2");
        h.simple("v3");
      },
      /^can't apply simple config change in joint config$/,
    ],
    [
      "two voters added at once",
      (h) => {
        h.simple("v1");
        h.simple("v2 v3");
      },
      /^more than one voter changed without entering joint config \(2 changed\)$/,
    ],
    [
      "voter swapped for another",
      (h) => {
        h.simple("v1");
        h.simple("v2");
        h.simple("r1 v3");
      },
      /more than one voter changed/,
    ],
    [
      "bootstrapping two voters at once",
      (h) => h.simple("v1 v2"),
      /more than one voter changed/,
    ],
    [
      "removing the last voter",
      (h) => {
        h.simple("v1");
        h.simple("r1");
      },
      /^removed all voters$/,
    ],
    [
      "demoting the last voter",
      (h) => {
        h.simple("v1");
        h.simple("l1");
      },
      /^removed all voters$/,
    ],
    [
      "removing all incoming voters in joint",
      (h) => {
        h.simple("v1");
        h.enterJoint(false, "r1");
      },
      /^removed all voters$/,
    ],
    [
      "a learner without voters",
      (h) => h.simple("l1"),
      /^removed all voters$/,
    ],
    [
      "an empty node id",
      (h) => new Changer(h.trk, 0).simple([{ type: "addNode", nodeId: "" }]),
      /a change must name a node/,
    ],
  ];
  for (const [name, run, message] of cases) {
    await t.step(name, () => {
      const h = new Harness();
      assert.throws(
        () => run(h),
        (error: unknown) => {
          assert.ok(error instanceof ConfChangeError, `${error}`);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }
  await t.step("an unknown change type", () => {
    const h = new Harness();
    h.simple("v1");
    const bogus = { type: "updateNode", nodeId: "1" } as unknown as ConfChangeSingle;
    assert.throws(
      () => new Changer(h.trk, 0).simple([bogus]),
      /unexpected conf change type "updateNode"/,
    );
  });
});

Deno.test("a corrupt base config is rejected before any change", async (t) => {
  const broken: Array<[string, (h: Harness) => void, RegExp]> = [
    ["voter without progress", (h) => h.trk.progress.delete("1"), /no progress for 1/],
    [
      "progress of a non-member",
      (h) => h.trk.progress.set("9", h.trk.progress.get("1")!.clone()),
      /progress for 9, which is not a member/,
    ],
    [
      "learner also a voter",
      (h) => h.trk.config.learners.add("1"),
      /1 is in learners and is an incoming voter/,
    ],
    [
      "learnersNext outside joint",
      (h) => h.trk.config.learnersNext.add("1"),
      /1 is in learnersNext, but not an outgoing voter/,
    ],
    ["autoLeave outside joint", (h) => (h.trk.config.autoLeave = true), /autoLeave must be false/],
    [
      "voter marked as learner",
      (h) => (h.trk.progress.get("1")!.isLearner = true),
      /1 is a voter, but is marked as learner/,
    ],
  ];
  for (const [name, corrupt, message] of broken) {
    await t.step(name, () => {
      const h = new Harness();
      h.simple("v1");
      corrupt(h);
      assert.throws(() => h.simple("v2"), message);
      assert.throws(() => checkInvariants(h.trk.config, h.trk.progress), ConfChangeError);
    });
  }
});

Deno.test("the base tracker and its progress are never mutated", () => {
  const h = new Harness();
  h.simple("v1");
  h.simple("v2");
  const pr1 = h.trk.progress.get("1")!;
  const base = { config: h.trk.config, progress: h.trk.progress };
  const changer = new Changer(h.trk, 3);
  const joint = changer.enterJoint(false, confChangesFromString("l1 v3"));
  assert.equal(pr1.isLearner, false);
  assert.notEqual(joint.progress.get("1"), pr1, "progress objects are copies");
  assert.equal(base.config.learnersNext.size, 0);
  assert.equal(trackerConfigToString(base.config), "voters=(1 2)");
  assert.deepEqual([...base.progress.keys()].sort(), ["1", "2"]);
  assert.throws(() => changer.simple(confChangesFromString("v3 v4")), ConfChangeError);
  assert.equal(trackerConfigToString(h.trk.config), "voters=(1 2)");
});

Deno.test("changes are idempotent", async (t) => {
  const table: Array<[string, string, string]> = [
    // name, change applied twice, resulting config
    ["add voter", "v2", "voters=(1 2)"],
    ["add learner", "l3", "voters=(1) learners=(3)"],
    ["demote voter", "l1", "voters=(2) learners=(1)"],
    ["remove voter", "r2", "voters=(1)"],
    ["remove unknown", "r9", "voters=(1)"],
  ];
  for (const [name, spec, want] of table) {
    await t.step(name, () => {
      const h = new Harness();
      h.simple("v1");
      if (spec === "l1") h.simple("v2");
      if (spec === "r2") h.simple("v2");
      const once = h.simple(spec);
      assert.equal(once.split("\n")[0], want);
      assert.equal(h.simple(spec), once);
    });
  }
  await t.step("joint: repeated changes within one joint change", () => {
    const h = new Harness();
    h.simple("v1");
    h.simple("v2");
    assert.equal(
      h.enterJoint(false, "v3 v3 l4 l4 l2 l2 r9").split("\n")[0],
      "voters=(1 3)&&(1 2) learners=(4) learners_next=(2)",
    );
  });
});

Deno.test("joint: entering with no changes gives identical halves", () => {
  const h = new Harness();
  h.simple("v1");
  assert.equal(
    h.enterJoint(true, ""),
    ["voters=(1)&&(1) autoleave", "1: probe match=0 next=1"].join("\n"),
  );
  assert.equal(h.trk.config.voters.isJoint, true);
  assert.equal(h.leaveJoint(), ["voters=(1)", "1: probe match=0 next=1"].join("\n"));
});
