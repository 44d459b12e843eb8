import assert from "node:assert/strict";
import { findImpurities } from "./purity.ts";

Deno.test("purity checker flags each forbidden capability", async (t) => {
  const cases: Array<[string, string]> = [
    ["const t = Date.now();", "wall clock"],
    ["const x = performance.now();", "performance"],
    ["const r = Math.random();", "Math.random"],
    ["const r = Math . random();", "Math.random"],
    ["await Deno.readTextFile('x');", "Deno"],
    ["setTimeout(() => {}, 1);", "timers"],
    ["const id = crypto.randomUUID();", "crypto"],
    ["await fetch('http://x');", "fetch"],
    ["console.log(1);", "console"],
    ['import { x } from "../../server/mod.ts";', "outside core"],
    ['import { x } from "npm:hono";', "outside core"],
    ['export * from "jsr:@std/async";', "outside core"],
  ];
  for (const [source, expected] of cases) {
    await t.step(source, () => {
      const found = findImpurities(source, "raft/raft.ts");
      assert.equal(found.length >= 1, true, `expected an impurity in ${source}`);
      assert.match(found.map((f) => f.reason).join(";"), new RegExp(expected));
    });
  }
});

Deno.test("purity checker ignores comments and strings and allows imports within core/", () => {
  const source = [
    "// Date.now() would be impure",
    "/* Math.random() */",
    'const message = "uses Deno. in a string";',
    'import { Rng } from "../rng.ts";',
    'import type { Entry } from "./types.ts";',
  ].join("\n");
  assert.deepEqual(findImpurities(source, "raft/raft.ts"), []);
});

Deno.test("purity checker reports the line of the problem", () => {
  assert.deepEqual(findImpurities("const a = 1;\nconst b = Date.now();", "mod.ts"), [
    { line: 2, reason: "reads the wall clock (Date)" },
  ]);
});

Deno.test("purity checker ignores imports shown in JSDoc examples", () => {
  const source = ["/**", " * ```ts", ' * import { x } from "npm:hono";', " * ```", " */"].join(
    "\n",
  );
  assert.deepEqual(findImpurities(source, "mod.ts"), []);
});
