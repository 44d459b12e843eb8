/**
 * The comparison the benchmark reports: per-system figures, our throughput
 * over each peer's, and our added p50 latency over a direct stdio call,
 * checked against the targets of issue 5. Printed as a Markdown table or as
 * one JSON object.
 *
 * @module
 */
import { median, medianPhase, type PhaseStats } from "./gateway_stats.ts";
import type { CpuPerCall } from "./gateway_cpu.ts";
import { SYSTEM_LABELS, type SystemId } from "./gateway_systems.ts";

/** Our throughput must be at least this multiple of each peer's. */
export const TARGET_THROUGHPUT_RATIO = 3;
/** Our p50 (one call in flight) may exceed the direct stdio p50 by at most this. */
export const TARGET_ADDED_P50_MS = 1;
/** JWT authentication may cost at most this much gateway CPU per call... */
export const TARGET_AUTH_ADDED_CPU_US = 15;
/** ...and keep at least this share of the unauthenticated throughput, in the same run. */
export const TARGET_AUTH_THROUGHPUT_RATIO = 0.9;

/** What the benchmark measured for one system. */
export interface SystemResult {
  system: SystemId;
  /** `unavailable`: it could not start or serve, and `reason` says why. */
  status: "ok" | "unavailable";
  reason?: string;
  /** Many calls in flight (the throughput phase). */
  concurrent?: PhaseStats;
  /** One call in flight (the latency phase). */
  serial?: PhaseStats;
  /** CPU per call during the throughput phase. */
  cpu?: CpuPerCall;
  /** CPU per call during the latency phase (one call in flight). */
  serialCpu?: CpuPerCall;
  /** How many rounds the figures are the median of. */
  rounds?: number;
}

/**
 * One system's rounds folded into one result: each figure is the median over
 * the rounds that ran; unavailable only if no round ran, with the first reason.
 */
export function medianResult(runs: readonly SystemResult[]): SystemResult {
  if (runs.length === 0) throw new RangeError("median of no rounds");
  const system = runs[0].system;
  if (runs.some((r) => r.system !== system)) throw new Error("rounds of different systems");
  const ok = runs.filter((r) => r.status === "ok");
  if (ok.length === 0) return { ...runs[0], rounds: 0 };
  const phases = (pick: (r: SystemResult) => PhaseStats | undefined) =>
    ok.flatMap((r) => pick(r) ?? []);
  const medianCpu = (pick: (r: SystemResult) => CpuPerCall | undefined) => {
    const cpus = ok.flatMap((r) => pick(r) ?? []);
    if (cpus.length === 0) return undefined;
    const gatewayUs = cpus.flatMap((c) => c.gatewayUs ?? []);
    return {
      clientUs: median(cpus.map((c) => c.clientUs)),
      gatewayUs: gatewayUs.length === 0 ? undefined : median(gatewayUs),
      backendUs: median(cpus.map((c) => c.backendUs)),
    };
  };
  return {
    system,
    status: "ok",
    concurrent: medianPhase(phases((r) => r.concurrent)),
    serial: medianPhase(phases((r) => r.serial)),
    cpu: medianCpu((r) => r.cpu),
    serialCpu: medianCpu((r) => r.serialCpu),
    rounds: ok.length,
  };
}

/** How we compare to the baseline and the peers. */
export interface Comparison {
  /** Our throughput divided by each available peer's. */
  throughputRatio: Partial<Record<SystemId, number>>;
  /**
   * Each peer's gateway CPU per call divided by ours: the throughput ratio
   * when the gateways alone are CPU-bound, which the wall-clock ratio hides
   * when client, gateway and backend share a few cores.
   */
  gatewayCpuRatio: Partial<Record<SystemId, number>>;
  /** Our p50 minus the direct stdio p50, one call in flight. */
  addedP50Ms?: number;
  /** With JWT auth on: throughput over the same gateway's without auth. */
  authThroughputRatio?: number;
  /** With JWT auth on: gateway CPU µs per call minus the same without auth. */
  authAddedCpuUs?: number;
  authTargetMet?: boolean;
  /** The same with many calls in flight, for context. */
  addedP50MsConcurrent?: number;
  /** Whether each target was met; absent when a needed system did not run. */
  throughputTargetMet?: boolean;
  addedLatencyTargetMet?: boolean;
}

/** Derives the comparison from the per-system results. */
export function compare(results: readonly SystemResult[]): Comparison {
  const ok = new Map(results.filter((r) => r.status === "ok").map((r) => [r.system, r]));
  const ours = ok.get("safla");
  const out: Comparison = { throughputRatio: {}, gatewayCpuRatio: {} };
  if (ours?.concurrent === undefined) return out;
  const ratios: number[] = [];
  for (const peer of ["supergateway", "mcp-proxy"] as const) {
    const theirs = ok.get(peer)?.concurrent;
    if (theirs === undefined || theirs.throughputPerSec === 0) continue;
    const ratio = ours.concurrent.throughputPerSec / theirs.throughputPerSec;
    out.throughputRatio[peer] = ratio;
    ratios.push(ratio);
    const theirCpuUs = ok.get(peer)?.cpu?.gatewayUs;
    const ourCpuUs = ours.cpu?.gatewayUs;
    if (theirCpuUs !== undefined && ourCpuUs !== undefined && ourCpuUs > 0) {
      out.gatewayCpuRatio[peer] = theirCpuUs / ourCpuUs;
    }
  }
  if (ratios.length > 0) {
    out.throughputTargetMet = ratios.every((r) => r >= TARGET_THROUGHPUT_RATIO);
  }
  const direct = ok.get("direct");
  if (direct?.serial !== undefined && ours.serial !== undefined) {
    out.addedP50Ms = ours.serial.p50Ms - direct.serial.p50Ms;
    out.addedLatencyTargetMet = out.addedP50Ms <= TARGET_ADDED_P50_MS;
  }
  if (direct?.concurrent !== undefined) {
    out.addedP50MsConcurrent = ours.concurrent.p50Ms - direct.concurrent.p50Ms;
  }
  const authed = ok.get("safla-jwt");
  if (authed?.concurrent !== undefined && ours.concurrent.throughputPerSec > 0) {
    out.authThroughputRatio = authed.concurrent.throughputPerSec / ours.concurrent.throughputPerSec;
    const authedCpuUs = authed.cpu?.gatewayUs;
    const ourCpuUs = ours.cpu?.gatewayUs;
    if (authedCpuUs !== undefined && ourCpuUs !== undefined) {
      out.authAddedCpuUs = authedCpuUs - ourCpuUs;
      out.authTargetMet = out.authAddedCpuUs <= TARGET_AUTH_ADDED_CPU_US &&
        out.authThroughputRatio >= TARGET_AUTH_THROUGHPUT_RATIO;
    }
  }
  return out;
}

/**
 * Our throughput over each peer's within each round, in round order: the
 * spread shows how much the shared machine moved the figures (a round runs
 * its systems back to back). A round where either side did not run is left out.
 */
export function roundRatios(
  rounds: readonly (readonly SystemResult[])[],
): Partial<Record<SystemId, number[]>> {
  const out: Partial<Record<SystemId, number[]>> = {};
  for (const round of rounds) {
    const ours = round.find((r) => r.system === "safla")?.concurrent?.throughputPerSec;
    for (const peer of ["supergateway", "mcp-proxy"] as const) {
      const theirs = round.find((r) => r.system === peer)?.concurrent?.throughputPerSec;
      if (ours === undefined || theirs === undefined || theirs === 0) continue;
      (out[peer] ??= []).push(ours / theirs);
    }
  }
  return out;
}

/** The per-round ratios as one report line. */
export function roundRatioLine(ratios: Partial<Record<SystemId, number[]>>): string {
  const parts = Object.entries(ratios).map(([peer, rs]) =>
    `${peer} ${rs.map((r) => `${r.toFixed(2)}×`).join(" / ")}`
  );
  return `- throughput per round, safla ÷ peer: ${parts.join("; ") || "–"}`;
}

const ms = (x: number | undefined): string =>
  x === undefined || Number.isNaN(x) ? "–" : x.toFixed(2);

/** The results as a Markdown table followed by the two target lines. */
export function markdownReport(
  results: readonly SystemResult[],
  comparison: Comparison,
  concurrency: number,
): string {
  const header = [
    "system",
    "status",
    "ok / failed calls",
    `calls/s (${concurrency} in flight)`,
    "p50 ms",
    "p99 ms",
    "p50 ms (1 in flight)",
    "p99 ms (1 in flight)",
    "CPU µs/call client / gateway / backend",
    "same, 1 in flight",
    "safla ÷ system",
  ];
  const row = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const lines = [row(header), row(header.map(() => "---"))];
  const us = (x: number | undefined) => x === undefined ? "–" : x.toFixed(0);
  const cpuCell = (c: CpuPerCall | undefined) =>
    c === undefined ? "–" : `${us(c.clientUs)} / ${us(c.gatewayUs)} / ${us(c.backendUs)}`;
  for (const r of results) {
    const c = r.concurrent;
    const s = r.serial;
    const ratio = comparison.throughputRatio[r.system];
    lines.push(row([
      SYSTEM_LABELS[r.system],
      r.status === "ok" ? "ok" : `unavailable: ${r.reason ?? "?"}`.replaceAll("|", "/"),
      c === undefined ? "–" : `${c.okCalls} / ${c.failedCalls}`,
      c === undefined ? "–" : c.throughputPerSec.toFixed(0),
      ms(c?.p50Ms),
      ms(c?.p99Ms),
      ms(s?.p50Ms),
      ms(s?.p99Ms),
      cpuCell(r.cpu),
      cpuCell(r.serialCpu),
      ratio === undefined ? "–" : `${ratio.toFixed(2)}×`,
    ]));
  }
  const verdict = (met: boolean | undefined) =>
    met === undefined ? "not measured" : met ? "met" : "NOT met";
  const ratios = Object.entries(comparison.throughputRatio)
    .map(([peer, r]) => `${peer} ${r.toFixed(2)}×`).join(", ");
  lines.push(
    "",
    `- throughput, safla ÷ peer: ${ratios || "–"} (target ≥ ${TARGET_THROUGHPUT_RATIO}×: ${
      verdict(comparison.throughputTargetMet)
    })`,
    `- gateway CPU per call, peer ÷ safla: ${
      Object.entries(comparison.gatewayCpuRatio).map(([peer, r]) => `${peer} ${r.toFixed(2)}×`)
        .join(", ") || "–"
    } (the throughput ratio if the gateways alone were CPU-bound)`,
    `- added p50 over direct stdio, 1 in flight: ${
      ms(comparison.addedP50Ms)
    } ms (target ≤ ${TARGET_ADDED_P50_MS} ms: ${
      verdict(comparison.addedLatencyTargetMet)
    }); at ${concurrency} in flight: ${ms(comparison.addedP50MsConcurrent)} ms`,
  );
  if (comparison.authThroughputRatio !== undefined) {
    lines.push(
      `- JWT auth on ÷ off: throughput ${comparison.authThroughputRatio.toFixed(2)}× ` +
        `(target ≥ ${TARGET_AUTH_THROUGHPUT_RATIO}), gateway CPU ${
          comparison.authAddedCpuUs === undefined
            ? "–"
            : `${comparison.authAddedCpuUs >= 0 ? "+" : ""}${comparison.authAddedCpuUs.toFixed(1)}`
        } µs/call (target ≤ +${TARGET_AUTH_ADDED_CPU_US}): ${verdict(comparison.authTargetMet)}`,
    );
  }
  for (const r of results) {
    for (
      const [phase, stats] of [["throughput", r.concurrent], ["1 in flight", r.serial]] as const
    ) {
      for (const [reason, n] of Object.entries(stats?.failureReasons ?? {})) {
        lines.push(`- failed calls, ${r.system} (${phase}): ${n}× ${reason}`);
      }
    }
  }
  return lines.join("\n");
}
