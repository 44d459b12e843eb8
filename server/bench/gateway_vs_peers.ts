/**
 * Our gateway against its peers, in front of `server-everything` over stdio:
 *
 *     deno run -A server/bench/gateway_vs_peers.ts [--client lean|sdk|sdk-capable] [--calls 20000]
 *       [--concurrency 16] [--warmup 3000] [--serial-calls 500] [--max-seconds 30]
 *       [--systems direct,safla,supergateway,mcp-proxy] [--rounds 1] [--profile-dir DIR] [--json]
 *
 * Each system runs alone (one at a time, so they do not share the CPU), gets
 * its own client session, a warm-up, a throughput phase with
 * `--concurrency` echo calls in flight, and a latency phase with one call in
 * flight. With `--rounds N` the systems run N times round-robin and each
 * figure is the median over rounds (the machine is shared, so single runs are
 * noisy). Prints a Markdown table, or with `--json` one JSON object; progress
 * goes to stderr. A peer that cannot start (offline, say) is shown with the
 * reason instead of failing the run. `--profile-dir` runs our gateway under
 * `--cpu-prof` and leaves the profile in DIR.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  CLIENT_KINDS,
  type ClientKind,
  type LoadClient,
  type PhasePlan,
  runEchoPhase,
} from "./gateway_load.ts";
import { endProcessTree } from "./gateway_process.ts";
import { cpuPerCall, sampleCpu } from "./gateway_cpu.ts";
import {
  type BackendCommand,
  connectWhenReady,
  EVERYTHING_PACKAGE,
  MCP_PROXY_PACKAGE,
  resolveBackend,
  type RunningSystem,
  startSystem,
  SUPERGATEWAY_PACKAGE,
  SYSTEM_IDS,
  type SystemId,
  SystemUnavailableError,
} from "./gateway_systems.ts";
import {
  compare,
  type Comparison,
  markdownReport,
  medianResult,
  roundRatioLine,
  roundRatios,
  type SystemResult,
} from "./gateway_report.ts";

/** What to run and how hard. */
export interface BenchOptions {
  systems: SystemId[];
  /** The load generator's client: lean (default), or the v2 SDK `Client` declaring nothing or roots and sampling. */
  client: ClientKind;
  /** Calls in the throughput phase. */
  calls: number;
  /** Calls in flight during warm-up and the throughput phase. */
  concurrency: number;
  warmupCalls: number;
  /** Calls in the latency phase (one in flight). */
  serialCalls: number;
  /** Wall-time bound of each phase. */
  maxPhaseMs: number;
  /** How long a system may take to serve its echo tool after spawning. */
  startTimeoutMs: number;
  /** Times each system runs, round-robin; figures are medians over rounds. */
  rounds: number;
  /** Where our gateway writes a CPU profile (`--cpu-prof`), if set. */
  profileDir?: string;
}

/** The defaults of the CLI. */
export const DEFAULT_BENCH_OPTIONS: Readonly<BenchOptions> = Object.freeze({
  systems: [...SYSTEM_IDS],
  client: "lean",
  // Steady state: with 1 000 + 5 000 calls every system was still warming up
  // (JIT, GC heap sizing): ours measured 5.9k calls/s there and 7.6k at 20 000,
  // the peers 1.9–2.0k and 2.1–2.3k.
  calls: 20_000,
  concurrency: 16,
  warmupCalls: 3000,
  serialCalls: 500,
  maxPhaseMs: 30_000,
  startTimeoutMs: 120_000,
  rounds: 1,
});

/** Everything one run measured. */
export interface BenchReport {
  options: BenchOptions;
  backend: BackendCommand;
  versions: Record<string, string>;
  /** Per system, the median over its rounds. */
  results: SystemResult[];
  /** Every round's figures, in run order. */
  rounds: SystemResult[][];
  comparison: Comparison;
}

/** Runs every system of `options` in turn; `log` gets progress lines. */
export async function runGatewayBench(
  options: BenchOptions,
  log: (line: string) => void = () => {},
): Promise<BenchReport> {
  const backend = await resolveBackend();
  log(`backend: ${backend.command} ${backend.args.join(" ")}`);
  const rounds: SystemResult[][] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const thisRound: SystemResult[] = [];
    for (const system of options.systems) {
      log(`round ${round}, ${system}: starting`);
      const result = await benchSystem(system, backend, options);
      thisRound.push(result);
      log(
        result.status === "ok"
          ? `round ${round}, ${system}: ${
            result.concurrent?.throughputPerSec.toFixed(0)
          } calls/s, p50 ${result.serial?.p50Ms.toFixed(2)} ms at 1 in flight`
          : `round ${round}, ${system}: unavailable: ${result.reason}`,
      );
    }
    rounds.push(thisRound);
  }
  const results = options.systems.map((_, i) => medianResult(rounds.map((r) => r[i])));
  return {
    options,
    backend,
    versions: {
      deno: Deno.version.deno,
      everything: EVERYTHING_PACKAGE,
      supergateway: SUPERGATEWAY_PACKAGE,
      mcpProxy: MCP_PROXY_PACKAGE,
    },
    results,
    rounds,
    comparison: compare(results),
  };
}

async function benchSystem(
  system: SystemId,
  backend: BackendCommand,
  options: BenchOptions,
): Promise<SystemResult> {
  let running: RunningSystem | undefined;
  let client: LoadClient | undefined;
  let directPid: number | undefined;
  try {
    running = await startSystem(system, backend, options.profileDir);
    client = await connectWhenReady(system, running, options.client, options.startTimeoutMs);
    directPid = client.serverPid;
    const toolName = running.toolName;
    const phase = (calls: number, concurrency: number): PhasePlan => ({
      calls,
      concurrency,
      maxPhaseMs: options.maxPhaseMs,
    });
    const warmup = await runEchoPhase(
      client,
      toolName,
      phase(options.warmupCalls, options.concurrency),
    );
    if (warmup.okCalls === 0 && options.warmupCalls > 0) {
      throw new SystemUnavailableError(system, `every warm-up call failed (${warmup.failedCalls})`);
    }
    const rootPid = running.process?.pid ?? directPid;
    if (rootPid === undefined) throw new Error(`${system}: no process to account CPU to`);
    const before = sampleCpu(rootPid);
    const concurrent = await runEchoPhase(
      client,
      toolName,
      phase(options.calls, options.concurrency),
    );
    const cpu = cpuPerCall(
      before,
      sampleCpu(rootPid),
      concurrent.okCalls + concurrent.failedCalls,
      running.backendArgs,
    );
    const beforeSerial = sampleCpu(rootPid);
    const serial = await runEchoPhase(client, toolName, phase(options.serialCalls, 1));
    const serialCpu = cpuPerCall(
      beforeSerial,
      sampleCpu(rootPid),
      serial.okCalls + serial.failedCalls,
      running.backendArgs,
    );
    return { system, status: "ok", concurrent, serial, cpu, serialCpu };
  } catch (error) {
    if (!(error instanceof SystemUnavailableError)) throw error;
    return { system, status: "unavailable", reason: error.reason };
  } finally {
    await client?.close().catch(() => {});
    if (directPid !== undefined) await endProcessTree(directPid);
    await running?.close();
  }
}

const CLIENT_CAPTIONS: Readonly<Record<ClientKind, string>> = {
  lean: "lean client (gateway_lean_client.ts: plain fetch / newline JSON, no schema layer)",
  sdk: "v2 SDK Client (StreamableHTTPClientTransport / StdioClientTransport)",
  "sdk-capable":
    "v2 SDK Client declaring roots and sampling, as desktop clients do (StreamableHTTPClientTransport / StdioClientTransport)",
};

/** Parses the CLI flags into options; throws a RangeError naming a bad flag. */
export function parseBenchArgs(args: string[]): { options: BenchOptions; json: boolean } {
  const { values } = parseArgs({
    args,
    options: {
      calls: { type: "string" },
      concurrency: { type: "string" },
      warmup: { type: "string" },
      "serial-calls": { type: "string" },
      "max-seconds": { type: "string" },
      systems: { type: "string" },
      client: { type: "string" },
      "profile-dir": { type: "string" },
      rounds: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const count = (flag: string, raw: string | undefined, fallback: number, min: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) {
      throw new RangeError(`--${flag} must be an integer ≥ ${min}, got ${raw}`);
    }
    return n;
  };
  const d = DEFAULT_BENCH_OPTIONS;
  const systems = values.systems === undefined ? [...d.systems] : values.systems.split(",");
  for (const s of systems) {
    if (!(SYSTEM_IDS as readonly string[]).includes(s)) {
      throw new RangeError(`--systems: unknown system ${s}; known: ${SYSTEM_IDS.join(", ")}`);
    }
  }
  const client = values.client ?? d.client;
  if (!(CLIENT_KINDS as readonly string[]).includes(client)) {
    throw new RangeError(`--client must be one of ${CLIENT_KINDS.join(", ")}, got ${client}`);
  }
  return {
    json: values.json,
    options: {
      systems: systems as SystemId[],
      client: client as ClientKind,
      calls: count("calls", values.calls, d.calls, 1),
      concurrency: count("concurrency", values.concurrency, d.concurrency, 1),
      warmupCalls: count("warmup", values.warmup, d.warmupCalls, 0),
      serialCalls: count("serial-calls", values["serial-calls"], d.serialCalls, 1),
      maxPhaseMs: count("max-seconds", values["max-seconds"], d.maxPhaseMs / 1000, 1) * 1000,
      startTimeoutMs: d.startTimeoutMs,
      rounds: count("rounds", values.rounds, d.rounds, 1),
      profileDir: values["profile-dir"],
    },
  };
}

if (import.meta.main) {
  let parsed;
  try {
    parsed = parseBenchArgs(Deno.args);
  } catch (error) {
    console.error((error as Error).message);
    Deno.exit(2);
  }
  const report = await runGatewayBench(parsed.options, (line) => console.error(line));
  const o = parsed.options;
  console.log(
    parsed.json
      ? JSON.stringify(report)
      : `Echo tool of server-everything over stdio; load from the ${CLIENT_CAPTIONS[o.client]}, ` +
        `the same client for every system including the direct stdio baseline; ` +
        `per system ${o.warmupCalls} warm-up calls, ` +
        `${o.calls} calls with ${o.concurrency} in flight, ${o.serialCalls} with 1 in flight, ` +
        `each phase at most ${o.maxPhaseMs / 1000} s; medians over ${o.rounds} round(s).\n\n` +
        markdownReport(report.results, report.comparison, o.concurrency) + "\n" +
        roundRatioLine(roundRatios(report.rounds)),
  );
  // The SDK's stdio transport may hold the event loop open after close.
  Deno.exit(0);
}
