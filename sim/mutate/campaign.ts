/**
 * The simulator's half of a mutation run: seeds 1..N of the swarm campaign
 * (or of a named scenario) until the first one a checker fails, printed as
 * one JSON line. `deno task mutate` runs it inside the mutated copy of the
 * repository, so it exercises the mutated core.
 *
 * ```
 * deno run -A sim/mutate/campaign.ts --seeds 200 [--scenario NAME]
 * ```
 *
 * @module
 */

import { integerFlag, parseFlags, UsageError } from "../flags.ts";
import { MCP_SCENARIOS } from "../mcp/mod.ts";
import { SCENARIOS } from "../scenarios.ts";
import { runSimulation } from "../simulation.ts";

/** What the campaign found. */
export interface CampaignVerdict {
  /** Whether some seed failed. */
  caught: boolean;
  /** The first failing seed. */
  seed: number | null;
  /** The check that failed first: a safety rule, or a violation kind. */
  checker: string | null;
  /** Seeds run. */
  seedsRun: number;
}

const USAGE = "usage: deno run -A sim/mutate/campaign.ts [--seeds N] [--scenario NAME]";

/** Runs seeds 1..`seeds` until one fails. */
export function runUntilCaught(seeds: number, scenario?: string): CampaignVerdict {
  if (scenario !== undefined && !(scenario in MCP_SCENARIOS) && !(scenario in SCENARIOS)) {
    throw new UsageError(`unknown scenario "${scenario}"`);
  }
  for (let seed = 1; seed <= seeds; seed++) {
    let checker: string | null;
    try {
      checker = scenario !== undefined && scenario in MCP_SCENARIOS
        ? figureFailure(MCP_SCENARIOS[scenario](seed))
        : swarmFailure(seed, scenario);
    } catch {
      // The mutated core threw out of the simulator itself: defensive code caught it.
      checker = "crash";
    }
    if (checker !== null) return { caught: true, seed, checker, seedsRun: seed };
  }
  return { caught: false, seed: null, checker: null, seedsRun: seeds };
}

function swarmFailure(seed: number, scenario: string | undefined): string | null {
  const named = scenario === undefined ? undefined : SCENARIOS[scenario];
  const r = runSimulation({ seed, adjust: named?.adjust, linearizabilityMaxSteps: 200_000 });
  const v = r.violations[0];
  if (v === undefined) return null;
  if (v.kind === "safety") return /^\[(\w+)\]/.exec(v.detail)?.[1] ?? "safety";
  return v.kind;
}

function figureFailure(figures: { violations?: Record<string, number> }): string | null {
  for (const [name, count] of Object.entries(figures.violations ?? {})) {
    if (count !== 0) return name;
  }
  return null;
}

if (import.meta.main) {
  try {
    const values = parseFlags(Deno.args, {
      seeds: { type: "string" },
      scenario: { type: "string" },
    }, USAGE);
    const seeds = integerFlag(values, "seeds", 1, 100_000) ?? 200;
    const scenario = typeof values.scenario === "string" ? values.scenario : undefined;
    console.log(JSON.stringify(runUntilCaught(seeds, scenario)));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(error.message);
    Deno.exit(2);
  }
}
