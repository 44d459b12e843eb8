// Workspace members import each other by their exported names (`@safla/core/state`),
// never by relative paths across members: a relative path couples a file to the
// other member's inner layout, so moving a file there silently breaks this one.
import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";

const THIS_FILE = new URL(import.meta.url).pathname;
const REPO_ROOT = normalize(join(dirname(THIS_FILE), "..", ".."));
/** Every member of the workspace. */
const CHECKED_MEMBERS = ["core", "transports", "sim", "server"];
// Static imports and re-exports start a line (so made-up ones inside strings do not count);
// `[^;]` lets a statement span lines up to its `from`.
const SPECIFIER =
  /^(?:import|export)\b[^;]*?\bfrom\s*["'](\.\.?\/[^"']+)["']|^import\s*["'](\.\.?\/[^"']+)["']|\bimport\(\s*["'](\.\.?\/[^"']+)["']/gm;

/** Relative specifiers in `source` (a file of `member` at `fileRelPath`) that leave `member`. */
export function crossMemberImports(source: string, fileRelPath: string): string[] {
  const member = fileRelPath.split("/")[0];
  const found: string[] = [];
  for (const match of source.matchAll(SPECIFIER)) {
    const specifier = match[1] ?? match[2] ?? match[3];
    const target = normalize(join(dirname(fileRelPath), specifier));
    if (target.split("/")[0] !== member) found.push(specifier);
  }
  return found;
}

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory && entry.name !== "node_modules") yield* sourceFiles(path);
    // This file's own cases are made-up offenders.
    else if (entry.isFile && entry.name.endsWith(".ts") && path !== THIS_FILE) yield path;
  }
}

Deno.test("a relative import that leaves its member is found, one inside is not", () => {
  const source = [
    'import { x } from "../../transports/peer/auth.ts";',
    "import {",
    "  y,",
    '} from "../../core/state/kv.ts";',
    'import type { Y } from "../store/types.ts";',
    "const text = 'import { z } from \"../../sim/mod.ts\";';",
    'export * from "./gateway.ts";',
    'const m = await import("../../core/rng.ts");',
  ].join("\n");
  assert.deepEqual(crossMemberImports(source, "server/gateway/gateway.ts"), [
    "../../transports/peer/auth.ts",
    "../../core/state/kv.ts",
    "../../core/rng.ts",
  ]);
});

Deno.test("members import each other by exported name", async () => {
  const offenders: string[] = [];
  for (const member of CHECKED_MEMBERS) {
    for await (const path of sourceFiles(join(REPO_ROOT, member))) {
      const fileRelPath = relative(REPO_ROOT, path);
      for (const specifier of crossMemberImports(await Deno.readTextFile(path), fileRelPath)) {
        offenders.push(`${fileRelPath}: ${specifier}`);
      }
    }
  }
  assert.deepEqual(offenders, []);
});
