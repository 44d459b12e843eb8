/**
 * Runs mutations: copies the repository (its tracked and new files) to a
 * temporary directory once, and for each mutation applies it to that copy,
 * runs the touched module's tests and a simulator campaign there, and
 * restores the file. The working tree is never changed.
 *
 * @module
 */

import { MCP_SCENARIOS } from "../mcp/mod.ts";
import type { CampaignVerdict } from "./campaign.ts";
import type { Mutation } from "./mutations.ts";

/** What one mutation run found. */
export interface MutationResult {
  /** The mutation. */
  id: string;
  /** Whether the module's tests failed: null when not run. */
  caughtByTests: boolean | null;
  /** What the simulator found. */
  sim: CampaignVerdict;
  /** Wall seconds for this mutation. */
  seconds: number;
}

/** How to run. */
export interface RunOptions {
  /** Seeds the simulator may use per mutation. */
  seeds: number;
  /** Seeds for named call-path scenarios (each seed is one scenario run). */
  scenarioSeeds: number;
  /** Run the touched module's tests too. */
  tests: boolean;
  /** Bound on one test or campaign process. */
  timeoutMs: number;
  /** Told about each result as it comes. */
  onResult?: (r: MutationResult) => void;
}

/** A mutation whose text is no longer in its file (the list must follow the code). */
export class StaleMutationError extends Error {
  /** Builds the error. */
  constructor(id: string, file: string, occurrences: number) {
    super(
      `mutation ${id}: its text occurs ${occurrences} times in ${file} (expected once); ` +
        `update sim/mutate/mutations.ts`,
    );
    this.name = "StaleMutationError";
  }
}

/** The mutated content of `source`; throws {@link StaleMutationError} unless `from` occurs once. */
export function applyMutation(source: string, m: Mutation): string {
  const occurrences = source.split(m.from).length - 1;
  if (occurrences !== 1) throw new StaleMutationError(m.id, m.file, occurrences);
  return source.replace(m.from, () => m.to);
}

/** Runs `mutations` against a temporary copy of the repository at `root`. */
export async function runMutations(
  root: string,
  mutations: readonly Mutation[],
  options: RunOptions,
): Promise<MutationResult[]> {
  const copy = await copyRepository(root);
  try {
    const results: MutationResult[] = [];
    for (const m of mutations) {
      const startMs = performance.now();
      const path = `${copy}/${m.file}`;
      const original = await Deno.readTextFile(path);
      await Deno.writeTextFile(path, applyMutation(original, m));
      try {
        const caughtByTests = options.tests
          ? (await run(copy, ["test", "-A", "--no-check", "-q", ...m.tests], options)).code !== 0
          : null;
        const seeds = m.scenario !== undefined && m.scenario in MCP_SCENARIOS
          ? options.scenarioSeeds
          : options.seeds;
        const args = ["run", "-A", "sim/mutate/campaign.ts", "--seeds", String(seeds)];
        if (m.scenario !== undefined) args.push("--scenario", m.scenario);
        const out = await run(copy, args, options);
        const sim: CampaignVerdict = out.code === 0
          ? JSON.parse(out.stdout.trim().split("\n").at(-1)!)
          : { caught: true, seed: null, checker: out.timedOut ? "timeout" : "crash", seedsRun: 0 };
        const r = { id: m.id, caughtByTests, sim, seconds: (performance.now() - startMs) / 1000 };
        results.push(r);
        options.onResult?.(r);
      } finally {
        await Deno.writeTextFile(path, original);
      }
    }
    return results;
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
}

async function run(
  cwd: string,
  args: string[],
  options: RunOptions,
): Promise<{ code: number; stdout: string; timedOut: boolean }> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "null",
    stdin: "null",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, options.timeoutMs);
  try {
    const out = await child.output();
    return { code: out.code, stdout: new TextDecoder().decode(out.stdout), timedOut };
  } finally {
    clearTimeout(timer);
  }
}

/** Copies the tracked and untracked-but-not-ignored files of the repository at `root`. */
async function copyRepository(root: string): Promise<string> {
  const list = await new Deno.Command("git", {
    args: ["ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (list.code !== 0) {
    throw new Error(`git ls-files failed in ${root}: ${new TextDecoder().decode(list.stderr)}`);
  }
  const copy = await Deno.makeTempDir({ prefix: "safla-mutate-" });
  const files = new TextDecoder().decode(list.stdout).split("\0").filter((f) => f !== "");
  for (const file of files) {
    const to = `${copy}/${file}`;
    await Deno.mkdir(to.slice(0, to.lastIndexOf("/")), { recursive: true });
    try {
      await Deno.copyFile(`${root}/${file}`, to);
    } catch (error) {
      // Deleted in the working tree but still in the index: the copy follows the tree.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return copy;
}
