import assert from "node:assert/strict";
import { UsageError } from "../flags.ts";
import { formatTable, parseMutateArgs } from "./main.ts";
import { MUTATIONS } from "./mutations.ts";
import { applyMutation, runMutations, StaleMutationError } from "./run.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

Deno.test("the mutation list follows the code: each text occurs exactly once in its file", async () => {
  assert.ok(MUTATIONS.length >= 30, `${MUTATIONS.length} mutations`);
  assert.equal(new Set(MUTATIONS.map((m) => m.id)).size, MUTATIONS.length, "ids are unique");
  for (const m of MUTATIONS) {
    const source = await Deno.readTextFile(`${ROOT}/${m.file}`);
    const mutated = applyMutation(source, m);
    assert.notEqual(mutated, source, m.id);
    for (const test of m.tests) await Deno.stat(`${ROOT}/${test}`);
  }
});

Deno.test("a mutation whose text is gone or repeated is refused, naming it", () => {
  const m = MUTATIONS[0];
  assert.throws(() => applyMutation("nothing here", m), StaleMutationError);
  assert.throws(() => applyMutation(`${m.from}\n${m.from}`, m), /occurs 2 times/);
});

Deno.test("flags: the fast subset, a chosen list, and clear errors", () => {
  const fast = parseMutateArgs(["--fast", "--skip-tests"]);
  assert.ok(fast.mutations.length >= 3 && fast.mutations.every((m) => m.fast));
  assert.equal(fast.tests, false);
  const only = parseMutateArgs(["--only", "quorum-ceil-half,watch-batch-skips-revision"]);
  assert.deepEqual(only.mutations.map((m) => m.id), [
    "quorum-ceil-half",
    "watch-batch-skips-revision",
  ]);
  assert.throws(() => parseMutateArgs(["--only", "nope"]), UsageError);
  assert.throws(() => parseMutateArgs(["--seeds", "0"]), /--seeds must be an integer/);
});

Deno.test("the table gives each mutation's verdicts and the catch rates", () => {
  const table = formatTable([
    {
      id: "a",
      caughtByTests: true,
      sim: { caught: true, seed: 3, checker: "logMatching", seedsRun: 3 },
      seconds: 2,
    },
    {
      id: "b",
      caughtByTests: false,
      sim: { caught: false, seed: null, checker: null, seedsRun: 50 },
      seconds: 9,
    },
  ]);
  assert.match(table, /a\s+caught\s+caught\s+3\s+logMatching/);
  assert.match(table, /b\s+MISSED\s+MISSED \(50 seeds\)/);
  assert.match(table, /simulator: 1\/2 caught \(50 %\)/);
  assert.match(table, /tests: {5}1\/2 caught \(50 %\)/);
});

Deno.test("CI subset: the simulator catches every fast mutation, applied to a copy", async () => {
  const fast = MUTATIONS.filter((m) => m.fast);
  const before = await Deno.readTextFile(`${ROOT}/${fast[0].file}`);
  const results = await runMutations(ROOT, fast, {
    seeds: 40,
    scenarioSeeds: 10,
    tests: false,
    timeoutMs: 120_000,
  });
  assert.equal(await Deno.readTextFile(`${ROOT}/${fast[0].file}`), before, "worktree untouched");
  const missed = results.filter((r) => !r.sim.caught).map((r) => r.id);
  assert.deepEqual(missed, [], formatTable(results));
});
