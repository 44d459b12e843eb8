import assert from "node:assert/strict";
import { choiceFlag, integerFlag, parseFlags, UsageError } from "./flags.ts";

const SPEC = { seed: { type: "string" }, json: { type: "boolean" } } as const;

Deno.test("flags: both value forms, and a clear UsageError for each mistake", async (t) => {
  await t.step("--flag value and --flag=value", () => {
    assert.deepEqual(parseFlags(["--seed", "3", "--json"], SPEC, "u"), { seed: "3", json: true });
    assert.deepEqual(parseFlags(["--seed=4"], SPEC, "u"), { seed: "4" });
  });
  for (
    const [args, message] of [
      [["--frob"], /: unknown flag "--frob"\nusage: x$/],
      [["--seed"], /: --seed needs a value/],
      [["--seed", "-1"], /--seed=VALUE/],
      [["--json=1"], /: --json takes no value/],
      [["stray"], /: Unexpected argument 'stray'/],
    ] as Array<[string[], RegExp]>
  ) {
    await t.step(args.join(" "), () => {
      assert.throws(() => parseFlags(args, SPEC, "usage: x"), UsageError);
      assert.throws(() => parseFlags(args, SPEC, "usage: x"), message);
    });
  }
  await t.step("integers and choices are checked, absent flags are undefined", () => {
    assert.equal(integerFlag({ seed: "-1" }, "seed", -5, 5), -1);
    assert.equal(integerFlag({}, "seed", 0, 5), undefined);
    for (const bad of ["6", "1.5", "", "x"]) {
      assert.throws(
        () => integerFlag({ seed: bad }, "seed", 0, 5),
        /--seed must be an integer in \[0, 5\]/,
      );
    }
    assert.equal(choiceFlag({ n: "5" }, "n", ["3", "5"]), "5");
    assert.equal(choiceFlag({}, "n", ["3", "5"]), undefined);
    assert.throws(
      () => choiceFlag({ n: "4" }, "n", ["3", "5"]),
      /--n must be one of: 3, 5; got "4"/,
    );
  });
});
