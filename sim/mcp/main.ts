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
import { MCP_SCENARIOS } from "./mod.ts";

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

/** Parses flags, runs the scenario, returns the exit code. */
export function main(args: readonly string[]): number {
  const name = flag(args, "--scenario");
  const seed = Number(flag(args, "--seed") ?? "1");
  const run = name === undefined ? undefined : MCP_SCENARIOS[name];
  if (run === undefined || !Number.isSafeInteger(seed)) {
    console.error(
      `usage: deno run -A sim/mcp/main.ts --scenario ${
        Object.keys(MCP_SCENARIOS).join("|")
      } [--seed N]`,
    );
    return 2;
  }
  const figures = run(seed);
  console.log(JSON.stringify(figures));
  const violations = figures.violations as Record<string, number> | undefined;
  return violations !== undefined && Object.values(violations).some((n) => n !== 0) ? 1 : 0;
}

if (import.meta.main) Deno.exit(main(Deno.args));
