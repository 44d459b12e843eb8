import assert from "node:assert/strict";
import { type DurableLog, StateProgressChecker } from "./state_progress.ts";

const log = (term: number, vote: string | null, terms: number[], first = 1): DurableLog => ({
  term,
  vote,
  firstIndex: first,
  lastIndex: first + terms.length - 1,
  termAt: (i) => terms[i - first],
});

Deno.test("a node's state never goes back within an incarnation", () => {
  const c = new StateProgressChecker();
  assert.deepEqual(c.observe("n1", 1, { appliedIndex: 10, revision: 7, keys: 3 }), []);
  const problems = c.observe("n1", 1, { appliedIndex: 12, revision: 5, keys: 3 });
  assert.equal(problems.length, 1);
  assert.match(problems[0], /state went back: revision 7 .* became revision 5/);
});

Deno.test("a restart starts the node's own baseline afresh (it re-applies from its snapshot)", () => {
  const c = new StateProgressChecker();
  c.observe("n1", 1, { appliedIndex: 10, revision: 7, keys: 3 });
  assert.deepEqual(c.observe("n1", 2, { appliedIndex: 4, revision: 2, keys: 1 }), []);
});

Deno.test("two nodes that applied the same index hold the same state", () => {
  const c = new StateProgressChecker();
  c.observe("n1", 1, { appliedIndex: 10, revision: 7, keys: 3 });
  assert.deepEqual(c.observe("n2", 1, { appliedIndex: 10, revision: 7, keys: 3 }), []);
  const problems = c.observe("n3", 1, { appliedIndex: 10, revision: 6, keys: 3 });
  assert.match(problems[0], /after applying index 10 it holds revision 6 .* n1 held revision 7/);
});

Deno.test("a restart must recover the durable term, vote and entries", async (t) => {
  const c = new StateProgressChecker();
  const before = log(3, "n2", [1, 1, 2, 3]);
  await t.step("all recovered", () => {
    assert.deepEqual(c.restarted(before, log(3, "n2", [1, 1, 2, 3])), []);
  });
  await t.step("a later compaction is no loss", () => {
    assert.deepEqual(c.restarted(before, log(3, "n2", [2, 3], 3)), []);
  });
  await t.step("term lost", () => {
    assert.match(c.restarted(before, log(2, "n2", [1, 1, 2, 3]))[0], /durable term: 3 became 2/);
  });
  await t.step("vote lost", () => {
    assert.match(c.restarted(before, log(3, null, [1, 1, 2, 3]))[0], /vote of term 3: n2/);
  });
  await t.step("entries lost", () => {
    assert.match(c.restarted(before, log(3, "n2", [1, 1, 2]))[0], /ended at 4, it ends at 3/);
  });
  await t.step("entry changed", () => {
    assert.match(c.restarted(before, log(3, "n2", [1, 1, 3, 3]))[0], /entry 3: term 2 became 3/);
  });
});
