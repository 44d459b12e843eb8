import assert from "node:assert/strict";
import { UsageError } from "./flags.ts";
import { parseArgs, runCampaign } from "./main.ts";

Deno.test("flags parse, with clear errors for bad ones", async (t) => {
  await t.step("defaults", () => {
    assert.deepEqual(parseArgs([]), { seeds: 200, firstSeed: 1, json: false });
  });
  await t.step("every flag", () => {
    assert.deepEqual(
      parseArgs([
        "--seeds",
        "5",
        "--seed=9",
        "--nodes",
        "5",
        "--scenario",
        "ackBeforeFsync",
        "--bug",
        "voteNotPersisted",
        "--json",
        "--first-seed",
        "100",
      ]),
      {
        seeds: 5,
        firstSeed: 100,
        seed: 9,
        nodes: 5,
        scenario: "ackBeforeFsync",
        bug: "voteNotPersisted",
        json: true,
      },
    );
  });
  for (
    const [args, message] of [
      [["--seeds"], /--seeds needs a value/],
      [["--seeds=-1"], /--seeds must be an integer/],
      [["--seeds", "-1"], /--seeds needs a value/],
      [["--nodes", "12"], /--nodes must be an integer in \[1, 9\]/],
      [["--bug", "nope"], /--bug must be one of: .*ackBeforeFsync/],
      [["--scenario", "nope"], /--scenario must be one of: .*staleReadDeposedLeader/],
      [["--frobnicate"], /unknown flag "--frobnicate"/],
    ] as Array<[string[], RegExp]>
  ) {
    await t.step(args.join(" "), () => assert.throws(() => parseArgs(args), UsageError));
    await t.step(`${args.join(" ")} message`, () => {
      assert.throws(() => parseArgs(args), message);
    });
  }
});

Deno.test("a campaign reports progress and a summary", () => {
  const ticks: number[] = [];
  let now = 0;
  const summary = runCampaign(
    { seeds: 2, firstSeed: 1, json: true, nodes: 3 },
    (done) => ticks.push(done),
    () => (now += 500),
  );
  assert.deepEqual(ticks, [1, 2]);
  assert.equal(summary.seedsRun, 2);
  assert.deepEqual(summary.failedSeeds, []);
  assert.ok(summary.eventsPerSecond > 0);
  assert.ok(summary.simulatedSeconds > 1);
});

Deno.test("a failing campaign's JSON carries the replay command with every flag and, for a linearizability failure, the operations around it", () => {
  const options = {
    seeds: 1,
    firstSeed: 5,
    json: true,
    nodes: 5,
    bug: "staleReadFromDeposedLeader",
  };
  const summary = runCampaign(options, () => {}, () => 0);
  assert.deepEqual(summary.failedSeeds, [5]);
  const v = summary.violations[0];
  assert.equal(v.replay, "deno task sim --seed 5 --nodes 5 --bug staleReadFromDeposedLeader");
  assert.ok(v.kinds.includes("linearizability"));
  assert.ok(v.operationsAround !== undefined && v.operationsAround.length > 1);
  assert.ok(v.operationsAround.some((l) => l.startsWith("* #")), v.operationsAround.join("\n"));
});
