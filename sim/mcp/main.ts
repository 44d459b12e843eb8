/**
 * Runs one call-path scenario and prints its figures as one JSON object, until
 * `deno task sim --scenario NAME --json` dispatches to {@link MCP_SCENARIOS}:
 *
 * ```
 * deno run -A sim/mcp/main.ts --scenario slow-replica --seed 1
 * ```
 *
 * Exits 1 when a figure named `violations` holds a non-zero count, 2 on bad flags.
 *
 * @module
 */
import { choiceFlag, integerFlag, parseFlags, UsageError } from "../flags.ts";
import { MCP_SCENARIOS } from "./mod.ts";

const USAGE = `usage: deno run -A sim/mcp/main.ts --scenario ${
  Object.keys(MCP_SCENARIOS).join("|")
} [--seed N]`;

/** Parses flags, runs the scenario, returns the exit code. */
export function main(args: readonly string[]): number {
  let run: (seed: number) => Record<string, unknown>;
  let seed: number;
  try {
    const values = parseFlags(
      args,
      { scenario: { type: "string" }, seed: { type: "string" } },
      USAGE,
    );
    const name = choiceFlag(values, "scenario", Object.keys(MCP_SCENARIOS));
    if (name === undefined) throw new UsageError(`--scenario is required\n${USAGE}`);
    run = MCP_SCENARIOS[name];
    seed = integerFlag(values, "seed", 0, 0xffff_ffff) ?? 1;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(error.message);
    return 2;
  }
  const figures = run(seed);
  console.log(JSON.stringify(figures));
  const violations = figures.violations as Record<string, number> | undefined;
  return violations !== undefined && Object.values(violations).some((n) => n !== 0) ? 1 : 0;
}

if (import.meta.main) Deno.exit(main(Deno.args));
