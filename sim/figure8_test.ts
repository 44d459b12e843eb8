import assert from "node:assert/strict";
import { runFigure8 } from "./figure8.ts";

Deno.test("Figure 8: committing a previous term's entry by counting replicas", async (t) => {
  await t.step(
    "correct Raft never commits the old entry early, so nothing committed is lost",
    () => {
      const r = runFigure8({});
      assert.equal(r.oldEntryCommittedEarly, false);
      assert.equal(r.newerLeaderElected, true, r.traceTail.join("\n"));
      assert.deepEqual(r.details, []);
    },
  );
  await t.step("with the mutation the checkers catch the lost committed entry", () => {
    const r = runFigure8({ commitPreviousTermByCounting: true });
    assert.equal(r.oldEntryCommittedEarly, true);
    assert.equal(r.newerLeaderElected, true);
    const rules = new Set(r.violations.map((v) => v.rule));
    assert.ok(rules.has("leaderCompleteness"), r.details.join("\n"));
    assert.ok(rules.has("stateMachineSafety"), r.details.join("\n"));
  });
});
