// Enforces the design card: nothing in core/ touches the outside world.
import assert from "node:assert/strict";
import { findImpurities } from "./testing/purity.ts";

const coreRoot = new URL("./", import.meta.url);

async function* sourceFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) {
      if (entry.name !== "testing") yield* sourceFiles(url);
    } else if (
      entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts") &&
      !entry.name.endsWith("_bench.ts")
    ) {
      yield url;
    }
  }
}

Deno.test("core/ source files touch no clock, randomness, timers, network, disk or drivers", async () => {
  const problems: string[] = [];
  let files = 0;
  for await (const file of sourceFiles(coreRoot)) {
    files++;
    const relative = file.pathname.slice(coreRoot.pathname.length);
    for (const p of findImpurities(await Deno.readTextFile(file), relative)) {
      problems.push(`core/${relative}:${p.line}: ${p.reason}`);
    }
  }
  assert.ok(files > 0, "no core source files found");
  assert.deepEqual(problems, []);
});
