import assert from "node:assert/strict";
import {
  assessConvergence,
  LivenessChecker,
  type LivenessNodeView,
  type Membership,
} from "./liveness.ts";

function node(nodeId: string, overrides: Partial<LivenessNodeView> = {}): LivenessNodeView {
  return {
    nodeId,
    live: true,
    term: 4,
    role: "follower",
    lead: "a",
    commitIndex: 9,
    lastIndex: 9,
    lastTerm: 4,
    ...overrides,
  };
}

const three: Membership = { voters: ["a", "b", "c"] };
const healthy = (): LivenessNodeView[] => [node("a", { role: "leader" }), node("b"), node("c")];

Deno.test("assessConvergence", async (t) => {
  await t.step("one leader, acknowledged, identical logs", () => {
    assert.deepEqual(assessConvergence(healthy(), three), {
      converged: true,
      leader: "a",
      term: 4,
      lastIndex: 9,
      commitIndex: 9,
    });
  });

  await t.step("a dead node does not block convergence", () => {
    const views = healthy();
    views[2] = node("c", { live: false, term: 1, lastIndex: 2, lead: null });
    assert.equal(assessConvergence(views, three).converged, true);
  });

  await t.step("no leader", () => {
    const views = healthy();
    views[0] = node("a", { role: "candidate", term: 5, lead: null });
    const c = assessConvergence(views, three);
    assert.equal(c.converged, false);
    if (!c.converged) assert.match(c.reason, /^no live leader; a candidate term 5/);
  });

  await t.step("two leaders (a deposed one that has not stepped down)", () => {
    const views = healthy();
    views[2] = node("c", { role: "leader", term: 3, lead: "c" });
    const c = assessConvergence(views, three);
    assert.equal(c.converged, false);
    if (!c.converged) assert.match(c.reason, /^2 live leaders/);
  });

  await t.step("a leader without a quorum of acknowledgements", () => {
    const views = [
      node("a", { role: "leader" }),
      node("b", { lead: null }),
      node("c", { term: 3 }),
    ];
    const c = assessConvergence(views, three);
    assert.equal(c.converged, false);
    if (!c.converged) {
      assert.match(c.reason, /acknowledged by 1 of the 3 voters \[a\]; a quorum is 2/);
    }
  });

  await t.step("a joint configuration needs both quorums", () => {
    const views = [...healthy(), node("d", { lead: null }), node("e", { lead: null })];
    const joint: Membership = { voters: ["a", "b", "c"], votersOutgoing: ["a", "d", "e"] };
    const c = assessConvergence(views, joint);
    assert.equal(c.converged, false);
    if (!c.converged) assert.match(c.reason, /1 of the 3 outgoing voters/);
  });

  await t.step("logs that differ", () => {
    const views = healthy();
    views[1] = node("b", { lastIndex: 8, commitIndex: 8 });
    const c = assessConvergence(views, three);
    assert.equal(c.converged, false);
    if (!c.converged) assert.match(c.reason, /differing: b follower term 4 last 8@4 commit 8$/);
  });

  await t.step("no live node at all", () => {
    const c = assessConvergence([node("a", { live: false })], three);
    assert.deepEqual(c, { converged: false, reason: "no live node" });
  });
});

Deno.test("LivenessChecker", async (t) => {
  const options = { healTick: 100, boundTicks: 50, membership: three };

  await t.step("pending, then converged within the bound, then stays converged", () => {
    const checker = new LivenessChecker(options);
    const split = healthy();
    split[1] = node("b", { lastIndex: 3 });
    assert.equal(checker.observe(110, split).status, "pending");
    assert.deepEqual(checker.observe(140, healthy()), {
      status: "converged",
      leader: "a",
      term: 4,
      afterTicks: 40,
    });
    assert.equal(checker.observe(500, split).status, "converged");
  });

  await t.step("violated once the bound passes", () => {
    const checker = new LivenessChecker(options);
    const stuck = healthy().map((v) => ({ ...v, role: "candidate" as const, lead: null }));
    const pending = checker.observe(150, stuck);
    assert.deepEqual(pending.status === "pending" && pending.ticksLeft, 0);
    const v = checker.observe(151, stuck);
    assert.equal(v.status, "violated");
    if (v.status === "violated") {
      assert.match(
        v.reason,
        /within 50 ticks of the heal at tick 100; still 51 ticks after: no live leader/,
      );
    }
    assert.equal(checker.observe(152, healthy()).status, "violated");
  });

  await t.step("ticks must not go back", () => {
    const checker = new LivenessChecker(options);
    checker.observe(120, healthy());
    assert.throws(() => checker.observe(119, healthy()), RangeError);
    assert.throws(() => new LivenessChecker({ ...options, boundTicks: -1 }), RangeError);
  });
});
