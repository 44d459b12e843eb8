/**
 * Runs `watch-across-failover` and prints its figures, until `deno task sim
 * --scenario watch-across-failover --json` dispatches to `WATCH_SCENARIOS`:
 *
 * ```
 * deno run -A sim/watch/main.ts --seed 7            # one seed's figures as JSON
 * deno run -A sim/watch/main.ts --seeds 200         # a campaign: a summary as JSON
 * deno run -A sim/watch/main.ts --seed 7 --nodes 5 --mutation resumeSkipsOne
 * ```
 *
 * Exits 1 when a run has a violation, 2 on bad flags.
 *
 * @module
 */
import { choiceFlag, integerFlag, parseFlags, UsageError } from "../flags.ts";
import type { ResumeMutation } from "./watch_client.ts";
import { watchAcrossFailover, type WatchAcrossFailoverFigures } from "./scenario.ts";

const MUTATIONS: readonly ResumeMutation[] = [
  "resumeSkipsOne",
  "resumeFromNow",
  "swallowCompaction",
  "acceptsStaleStream",
];
const USAGE = "usage: deno run -A sim/watch/main.ts [--seed S | --seeds N [--first-seed S]] " +
  `[--nodes 3|5] [--mutation ${MUTATIONS.join("|")}]`;

function failed(figures: WatchAcrossFailoverFigures): boolean {
  return Object.values(figures.violations).some((n) => n !== 0);
}

/** Parses flags, runs, prints one JSON object, returns the exit code. */
export function main(args: readonly string[]): number {
  let seed: number;
  let seeds: number | undefined;
  let firstSeed: number;
  let options: { nodeCount?: 3 | 5; mutation?: ResumeMutation };
  try {
    const values = parseFlags(args, {
      seed: { type: "string" },
      seeds: { type: "string" },
      "first-seed": { type: "string" },
      nodes: { type: "string" },
      mutation: { type: "string" },
    }, USAGE);
    seed = integerFlag(values, "seed", 0, 0xffff_ffff) ?? 1;
    seeds = integerFlag(values, "seeds", 1, 10_000_000);
    firstSeed = integerFlag(values, "first-seed", 0, 0xffff_ffff) ?? 1;
    const nodes = choiceFlag(values, "nodes", ["3", "5"]);
    options = {
      nodeCount: nodes === undefined ? undefined : (Number(nodes) as 3 | 5),
      mutation: choiceFlag(values, "mutation", MUTATIONS),
    };
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(error.message);
    return 2;
  }
  if (seeds === undefined) {
    const figures = watchAcrossFailover(seed, options);
    console.log(JSON.stringify(figures));
    return failed(figures) ? 1 : 0;
  }
  const failedSeeds: number[] = [];
  let events = 0;
  let reconnects = 0;
  let leaderChanges = 0;
  let compactedErrors = 0;
  for (let s = firstSeed; s < firstSeed + seeds; s++) {
    const figures = watchAcrossFailover(s, options);
    if (failed(figures)) failedSeeds.push(s);
    events += figures.eventsDelivered;
    reconnects += figures.reconnects;
    leaderChanges += figures.leaderChanges;
    compactedErrors += figures.compactedErrors;
  }
  console.log(JSON.stringify({
    scenario: "watch-across-failover",
    seedsRun: seeds,
    firstSeed,
    failedSeeds,
    eventsDelivered: events,
    reconnects,
    leaderChanges,
    compactedErrors,
  }));
  return failedSeeds.length > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(main(Deno.args));
