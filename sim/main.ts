/**
 * `deno task sim`: runs a campaign of seeds through the deterministic
 * simulator, or replays one seed with its full trace.
 *
 * ```
 * deno task sim                      # 200 seeds
 * deno task sim --seeds 2000         # a bigger campaign
 * deno task sim --seed 42            # replay seed 42, printing its trace
 * deno task sim --bug ackBeforeFsync # show that an injected bug is caught
 * deno task sim --scenario staleReadDeposedLeader --seeds 50
 * deno task sim --scenario figure8 --bug commitPreviousTermByCounting  # scripted Figure 8
 * deno task sim --scenario slow-replica --seed 1   # a call-path scenario of sim/mcp
 * deno task sim --scenario large-snapshot-catchup --seeds 5   # snapshot streaming under faults
 * deno task sim --scenario quota-partition --seeds 5   # a cluster-wide quota under partitions
 * deno task sim --json               # one machine-readable summary on stdout
 * deno task sim --seeds 50 --coverage  # and the branch coverage of core/raft and core/state
 * ```
 *
 * Exits 1 if any run found a violation, 2 on bad flags.
 *
 * @module
 */

import { bugNames, BUGS } from "./bugs.ts";
import { runFigure8 } from "./figure8.ts";
import { MCP_SCENARIOS } from "./mcp/mod.ts";
import { WATCH_SCENARIOS } from "./watch/mod.ts";
import { QUOTA_SCENARIOS } from "./quota/mod.ts";
import { scenarioNames, SCENARIOS } from "./scenarios.ts";
import { largeSnapshotCatchUp } from "./snapshot_catchup.ts";
import { type InjectedBugs, runSimulation, type SimulationResult } from "./simulation.ts";
import type { SwarmConfig } from "./swarm.ts";
import { formatTraceEvent } from "./trace.ts";
import { replayCommand } from "./replay.ts";
import { formatCoverage, runWithCoverage } from "./coverage.ts";
import { choiceFlag, integerFlag, parseFlags, UsageError } from "./flags.ts";

/** Scenarios that report figures per seed (call path and watch failover), failing on any violation count. */
const FIGURE_SCENARIOS: Record<string, (seed: number) => Record<string, unknown>> = {
  ...MCP_SCENARIOS,
  ...WATCH_SCENARIOS,
  ...QUOTA_SCENARIOS,
  "large-snapshot-catchup": (seed) => ({ ...largeSnapshotCatchUp(seed) }),
};

/** Parsed command line. */
export interface CliOptions {
  /** Seeds in the campaign. */
  seeds: number;
  /** First seed of the campaign. */
  firstSeed: number;
  /** Replay one seed (prints its trace). */
  seed?: number;
  /** Cluster size override. */
  nodes?: number;
  /** Named scenario. */
  scenario?: string;
  /** Injected bug. */
  bug?: string;
  /** Machine-readable output. */
  json: boolean;
}

/** The directed (scripted, seedless) Figure 8 scenario. */
const FIGURE_8 = "figure8";

const USAGE = `usage: deno task sim [--seeds N] [--first-seed S] [--seed S] [--nodes 1..9]
                     [--scenario NAME] [--bug NAME] [--json] [--coverage]`;

/**
 * Parses the command line.
 *
 * @example
 * ```ts
 * import { parseArgs } from "./main.ts";
 * console.assert(parseArgs(["--seeds", "5"]).seeds === 5);
 * ```
 */
export function parseArgs(args: readonly string[]): CliOptions {
  const values = parseFlags(args, {
    seeds: { type: "string" },
    "first-seed": { type: "string" },
    seed: { type: "string" },
    nodes: { type: "string" },
    scenario: { type: "string" },
    bug: { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, USAGE);
  if (values.help) throw new UsageError(USAGE);
  const options: CliOptions = {
    seeds: integerFlag(values, "seeds", 1, 10_000_000) ?? 200,
    firstSeed: integerFlag(values, "first-seed", 0, 0xffff_ffff) ?? 1,
    json: values.json === true,
  };
  const seed = integerFlag(values, "seed", 0, 0xffff_ffff);
  if (seed !== undefined) options.seed = seed;
  const nodes = integerFlag(values, "nodes", 1, 9);
  if (nodes !== undefined) options.nodes = nodes;
  const scenarios = [...scenarioNames(), FIGURE_8, ...Object.keys(FIGURE_SCENARIOS)];
  const scenario = choiceFlag(values, "scenario", scenarios);
  if (scenario !== undefined) options.scenario = scenario;
  const bug = choiceFlag(values, "bug", bugNames());
  if (bug !== undefined) options.bug = bug;
  return options;
}

/** What a run is configured with, from the options. */
function runPlan(options: CliOptions): {
  adjust?: (c: SwarmConfig) => SwarmConfig;
  bugs?: InjectedBugs;
} {
  const scenario = options.scenario && options.scenario in SCENARIOS
    ? SCENARIOS[options.scenario]
    : undefined;
  const bug = options.bug ? BUGS[options.bug] : undefined;
  const adjusts = [scenario?.adjust, bug?.adjust].filter((f) => f !== undefined);
  return {
    adjust: adjusts.length === 0 ? undefined : (c) => adjusts.reduce((acc, f) => f(acc), c),
    bugs: bug?.bugs ?? scenario?.bugs,
  };
}

/** The campaign summary. */
export interface CampaignSummary {
  /** Seeds run. */
  seedsRun: number;
  /** First seed. */
  firstSeed: number;
  /** Scenario, if any. */
  scenario: string | null;
  /** Injected bug, if any. */
  bug: string | null;
  /** Runs with at least one violation. */
  failedSeeds: number[];
  /** Each failing run's violations and trace tail. */
  violations: Array<{
    seed: number;
    traceHash: string;
    kinds: string[];
    details: string[];
    traceTail: string[];
    /** Client operations around a linearizability violation. */
    operationsAround?: string[];
    /** The command that replays this seed with every flag of the campaign. */
    replay: string;
  }>;
  /** Linearizability verdicts "unknown" (search budget exhausted). */
  linearizabilityUnknown: number;
  /** Scheduler events per wall second. */
  eventsPerSecond: number;
  /** Simulated seconds per wall second. */
  simulatedSecondsPerWallSecond: number;
  /** Total simulated seconds. */
  simulatedSeconds: number;
  /** Wall seconds. */
  wallSeconds: number;
}

/** Runs a campaign, reporting progress through `progress`. */
export function runCampaign(
  options: CliOptions,
  progress: (done: number, total: number, failures: number) => void,
  clock: () => number,
): CampaignSummary {
  const plan = runPlan(options);
  const startMs = clock();
  let events = 0;
  let simulatedUs = 0;
  let unknown = 0;
  const failed: SimulationResult[] = [];
  for (let i = 0; i < options.seeds; i++) {
    const seed = options.firstSeed + i;
    const r = runSimulation({ seed, nodeCount: options.nodes, ...plan });
    events += r.schedulerEvents;
    simulatedUs += r.simulatedUs;
    if (r.linearizability === "unknown") unknown++;
    if (r.violations.length > 0) failed.push(r);
    progress(i + 1, options.seeds, failed.length);
  }
  const wallSeconds = Math.max(1e-9, (clock() - startMs) / 1000);
  return {
    seedsRun: options.seeds,
    firstSeed: options.firstSeed,
    scenario: options.scenario ?? null,
    bug: options.bug ?? null,
    failedSeeds: failed.map((r) => r.seed),
    violations: failed.map((r) => ({
      seed: r.seed,
      traceHash: r.traceHash,
      kinds: [...new Set(r.violations.map((v) => v.kind))],
      details: r.violations.map((v) => `${v.kind}: ${v.detail}`),
      traceTail: r.traceTail,
      operationsAround: r.violations.find((v) => v.operationsAround)?.operationsAround,
      replay: replayCommand(options, r.seed),
    })),
    linearizabilityUnknown: unknown,
    eventsPerSecond: Math.round(events / wallSeconds),
    simulatedSecondsPerWallSecond: Number((simulatedUs / 1e6 / wallSeconds).toFixed(1)),
    simulatedSeconds: Number((simulatedUs / 1e6).toFixed(1)),
    wallSeconds: Number(wallSeconds.toFixed(2)),
  };
}

function progressBar(done: number, total: number, failures: number): string {
  const width = 30;
  const filled = Math.round((done / total) * width);
  return `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} seeds, ` +
    `${failures} failing`;
}

function printSummary(s: CampaignSummary): void {
  const lines = [
    "",
    `seeds run:            ${s.seedsRun} (from ${s.firstSeed})` +
    (s.scenario ? `, scenario ${s.scenario}` : "") + (s.bug ? `, injected bug ${s.bug}` : ""),
    `violations:           ${s.failedSeeds.length} seed(s)${
      s.failedSeeds.length ? `: ${s.failedSeeds.slice(0, 20).join(", ")}` : ""
    }`,
    `linearizability unknown (budget): ${s.linearizabilityUnknown}`,
    `events per second:    ${s.eventsPerSecond}`,
    `simulated s / wall s: ${s.simulatedSecondsPerWallSecond} (${s.simulatedSeconds}s in ${s.wallSeconds}s)`,
  ];
  for (const v of s.violations.slice(0, 5)) {
    lines.push("", `--- seed ${v.seed} (trace ${v.traceHash}): ${v.kinds.join(", ")}`);
    for (const d of v.details.slice(0, 3)) {
      lines.push(`  ${d.split("\n").slice(0, 6).join("\n  ")}`);
    }
    if (v.operationsAround) {
      lines.push(
        "  operations around it (* = witness):",
        ...v.operationsAround.map((l) => `  ${l}`),
      );
    }
    lines.push("  last events:", ...v.traceTail.map((l) => `  ${l}`));
    lines.push(`  replay: ${v.replay}`);
  }
  console.log(lines.join("\n"));
}

function replay(options: CliOptions, seed: number): SimulationResult {
  const plan = runPlan(options);
  return runSimulation({
    seed,
    nodeCount: options.nodes,
    ...plan,
    onTrace: options.json ? undefined : (e) => console.log(formatTraceEvent(e)),
  });
}

/**
 * Runs one of the call-path scenarios of `sim/mcp` (seeded, each returning
 * figures); a non-zero count under `figures.violations` is a failure.
 */
function runFigureScenario(
  options: CliOptions,
  scenario: (seed: number) => Record<string, unknown>,
): number {
  const seeds = options.seed !== undefined
    ? [options.seed]
    : Array.from({ length: options.seeds }, (_, i) => options.firstSeed + i);
  const failing: number[] = [];
  const results: Array<{ seed: number; figures: Record<string, unknown> }> = [];
  for (const seed of seeds) {
    const figures = scenario(seed);
    const violations = figures.violations as Record<string, number> | undefined;
    if (violations !== undefined && Object.values(violations).some((n) => n !== 0)) {
      failing.push(seed);
    }
    results.push({ seed, figures });
  }
  if (options.json) {
    const replays = failing.map((seed) => replayCommand(options, seed));
    console.log(
      JSON.stringify({ scenario: options.scenario, failedSeeds: failing, replays, results }),
    );
  } else {
    for (const r of results.slice(0, 3)) {
      console.log(`seed ${r.seed}: ${JSON.stringify(r.figures, null, 2)}`);
    }
    console.log(
      `\n${options.scenario}: ${seeds.length} seed(s), ${failing.length} with violations`,
    );
    for (const seed of failing.slice(0, 5)) {
      console.log(`  replay: ${replayCommand(options, seed)}`);
    }
  }
  return failing.length > 0 ? 1 : 0;
}

function main(args: string[]): number {
  let options: CliOptions;
  try {
    options = parseArgs(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(error.message);
    return 2;
  }
  if (options.scenario !== undefined && options.scenario in FIGURE_SCENARIOS) {
    return runFigureScenario(options, FIGURE_SCENARIOS[options.scenario]);
  }
  if (options.scenario === FIGURE_8) {
    const raft = options.bug ? BUGS[options.bug].bugs.raft ?? {} : {};
    const r = runFigure8(raft);
    if (options.json) console.log(JSON.stringify(r));
    else {
      console.log(r.traceTail.join("\n"));
      console.log(
        `\nfigure 8: old entry committed early: ${r.oldEntryCommittedEarly}; ` +
          `newer leader elected: ${r.newerLeaderElected}`,
      );
      for (const d of r.details) console.log(`VIOLATION ${d}`);
    }
    return r.violations.length > 0 ? 1 : 0;
  }
  if (options.seed !== undefined) {
    const r = replay(options, options.seed);
    const summary = {
      seed: r.seed,
      traceHash: r.traceHash,
      traceEvents: r.traceEvents,
      nodeCount: r.config.nodeCount,
      violations: r.violations,
      linearizability: r.linearizability,
      committedIndex: r.committedIndex,
      workload: r.workload,
      faults: r.faults,
      convergedAfterTicks: r.convergedAfterTicks,
      simulatedSeconds: r.simulatedUs / 1e6,
      replay: replayCommand(options, r.seed),
    };
    if (options.json) console.log(JSON.stringify(summary));
    else {
      console.log(
        `\nseed ${r.seed}: ${r.config.nodeCount} nodes, trace ${r.traceHash} ` +
          `(${r.traceEvents} events), committed ${r.committedIndex}, linearizability ` +
          `${r.linearizability}, converged after ${r.convergedAfterTicks ?? "-"} ticks`,
      );
      for (const v of r.violations) {
        console.log(`VIOLATION ${v.kind}: ${v.detail}`);
        if (v.operationsAround) console.log(v.operationsAround.join("\n"));
      }
    }
    return r.violations.length > 0 ? 1 : 0;
  }
  const interactive = !options.json || Deno.stderr.isTerminal();
  const summary = runCampaign(
    options,
    (done, total, failures) => {
      if (!interactive) return;
      Deno.stderr.writeSync(new TextEncoder().encode(progressBar(done, total, failures)));
    },
    () => performance.now(),
  );
  if (interactive) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  if (options.json) console.log(JSON.stringify(summary));
  else printSummary(summary);
  return summary.failedSeeds.length > 0 ? 1 : 0;
}

if (import.meta.main) {
  if (Deno.args.includes("--coverage")) {
    // The campaign runs again in a child under `deno run --coverage` (sim/coverage.ts).
    const { code, coverage } = await runWithCoverage(Deno.args.filter((a) => a !== "--coverage"));
    console.log(`\ncoverage of the core over this campaign:\n${formatCoverage(coverage)}`);
    Deno.exit(code);
  }
  Deno.exit(main(Deno.args));
}
