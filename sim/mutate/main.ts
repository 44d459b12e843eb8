/**
 * `deno task mutate`: applies each mutation of `mutations.ts` to a temporary
 * copy of the repository, runs the touched module's tests and a simulator
 * campaign on it, and prints a table: caught by tests, caught by the
 * simulator, first failing seed, and the check that failed.
 *
 * ```
 * deno task mutate                      # the whole list
 * deno task mutate --fast --skip-tests  # the CI subset, simulator only
 * deno task mutate --only quorum-ceil-half,joint-commit-incoming-only --seeds 500
 * deno task mutate --json
 * ```
 *
 * Exits 1 if the simulator missed a mutation, 2 on bad flags.
 *
 * @module
 */

import { choiceFlag, integerFlag, parseFlags, UsageError } from "../flags.ts";
import { type Mutation, MUTATIONS } from "./mutations.ts";
import { type MutationResult, runMutations } from "./run.ts";

const USAGE = `usage: deno task mutate [--fast] [--only ID,ID] [--seeds N] [--scenario-seeds N]
                       [--skip-tests] [--json]`;

/** Parsed command line. */
export interface MutateOptions {
  /** The mutations to run. */
  mutations: Mutation[];
  /** Swarm seeds per mutation. */
  seeds: number;
  /** Call-path scenario seeds per mutation. */
  scenarioSeeds: number;
  /** Run the module tests too. */
  tests: boolean;
  /** Machine-readable output. */
  json: boolean;
}

/** Parses the command line. */
export function parseMutateArgs(args: readonly string[]): MutateOptions {
  const values = parseFlags(args, {
    fast: { type: "boolean" },
    only: { type: "string" },
    seeds: { type: "string" },
    "scenario-seeds": { type: "string" },
    "skip-tests": { type: "boolean" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, USAGE);
  if (values.help) throw new UsageError(USAGE);
  let mutations = values.fast ? MUTATIONS.filter((m) => m.fast) : [...MUTATIONS];
  if (values.only !== undefined) {
    const ids = MUTATIONS.map((m) => m.id);
    const wanted = String(values.only).split(",").map((id) =>
      choiceFlag({ only: id.trim() }, "only", ids)!
    );
    mutations = mutations.filter((m) => wanted.includes(m.id));
  }
  return {
    mutations,
    seeds: integerFlag(values, "seeds", 1, 100_000) ?? 300,
    scenarioSeeds: integerFlag(values, "scenario-seeds", 1, 10_000) ?? 20,
    tests: values["skip-tests"] !== true,
    json: values.json === true,
  };
}

/** The table: one row per mutation, then the catch rates. */
export function formatTable(results: readonly MutationResult[]): string {
  const rows = [["mutation", "tests", "sim", "first seed", "checker", "s"]];
  for (const r of results) {
    rows.push([
      r.id,
      r.caughtByTests === null ? "-" : r.caughtByTests ? "caught" : "MISSED",
      r.sim.caught ? "caught" : `MISSED (${r.sim.seedsRun} seeds)`,
      r.sim.seed === null ? "-" : String(r.sim.seed),
      r.sim.checker ?? "-",
      r.seconds.toFixed(0),
    ]);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const lines = rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c])).join("  "));
  lines.splice(1, 0, widths.map((w) => "-".repeat(w)).join("  "));
  const bySim = results.filter((r) => r.sim.caught).length;
  const tested = results.filter((r) => r.caughtByTests !== null);
  const byTests = tested.filter((r) => r.caughtByTests).length;
  lines.push(
    "",
    `simulator: ${bySim}/${results.length} caught (${percent(bySim, results.length)})`,
  );
  if (tested.length > 0) {
    lines.push(
      `tests:     ${byTests}/${tested.length} caught (${percent(byTests, tested.length)})`,
    );
  }
  return lines.join("\n");
}

function percent(n: number, total: number): string {
  return total === 0 ? "-" : `${Math.round((100 * n) / total)} %`;
}

async function main(args: string[]): Promise<number> {
  let options: MutateOptions;
  try {
    options = parseMutateArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(error.message);
    return 2;
  }
  const root = new URL("../..", import.meta.url).pathname;
  const results = await runMutations(root, options.mutations, {
    seeds: options.seeds,
    scenarioSeeds: options.scenarioSeeds,
    tests: options.tests,
    timeoutMs: 15 * 60_000,
    onResult: (r) => {
      if (options.json) return;
      console.error(
        `${r.id}: tests ${r.caughtByTests ?? "-"}, sim ${r.sim.caught} ` +
          `(seed ${r.sim.seed ?? "-"}, ${r.sim.checker ?? "-"}) in ${r.seconds.toFixed(0)} s`,
      );
    },
  });
  if (options.json) console.log(JSON.stringify({ results }));
  else console.log(formatTable(results));
  return results.every((r) => r.sim.caught) ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
