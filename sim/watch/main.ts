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

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

function failed(figures: WatchAcrossFailoverFigures): boolean {
  return Object.values(figures.violations).some((n) => n !== 0);
}

/** Parses flags, runs, prints one JSON object, returns the exit code. */
export function main(args: readonly string[]): number {
  const seed = Number(flag(args, "--seed") ?? "1");
  const seeds = flag(args, "--seeds") === undefined ? undefined : Number(flag(args, "--seeds"));
  const firstSeed = Number(flag(args, "--first-seed") ?? "1");
  const nodes = flag(args, "--nodes");
  const mutation = flag(args, "--mutation");
  const integers = [seed, firstSeed, seeds ?? 1];
  if (
    !integers.every((n) => Number.isSafeInteger(n) && n >= 0) ||
    (nodes !== undefined && nodes !== "3" && nodes !== "5") ||
    (mutation !== undefined && !MUTATIONS.includes(mutation as ResumeMutation))
  ) {
    console.error(USAGE);
    return 2;
  }
  const options = {
    nodeCount: nodes === undefined ? undefined : (Number(nodes) as 3 | 5),
    mutation: mutation as ResumeMutation | undefined,
  };
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
