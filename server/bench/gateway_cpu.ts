/**
 * CPU cost per call, split by role: the benchmark's client, the gateway
 * process(es) and the backend. On a shared machine wall-clock throughput
 * depends on what else runs; CPU time per call is the intrinsic cost, and
 * tells which process a saturated run is waiting on.
 *
 * @module
 */
import { type ProcessCpu, processCpu, treeCpu } from "./gateway_process.ts";

/** CPU time so far of the client and of each process of a system's tree. */
export interface CpuSample {
  clientMs: number;
  members: ProcessCpu[];
}

/** Microseconds of CPU per call, by role. */
export interface CpuPerCall {
  clientUs: number;
  /** Absent for the direct baseline, which has no gateway. */
  gatewayUs?: number;
  backendUs: number;
}

/** Samples this process and the live processes of the tree under `rootPid`. */
export function sampleCpu(rootPid: number): CpuSample {
  const self = processCpu("self");
  if (self === undefined) throw new Error("cannot read /proc/self/stat");
  return { clientMs: self.cpuMs, members: treeCpu(rootPid) };
}

/**
 * CPU per call between two samples over `calls` calls. A member counts as
 * backend if its arguments are `backendArgs` (the program may appear under
 * another path, and a gateway's own arguments may contain the backend's),
 * else as gateway;
 * members present in only one sample (started or ended between) count from
 * zero or are dropped, so short-lived helpers do not skew the figure.
 */
export function cpuPerCall(
  before: CpuSample,
  after: CpuSample,
  calls: number,
  backendArgs: readonly string[],
): CpuPerCall {
  const backendKey = backendArgs.join("\0");
  if (!(calls > 0)) throw new RangeError(`CPU per call needs calls > 0, got ${calls}`);
  const start = new Map(before.members.map((m) => [m.pid, m.cpuMs]));
  let gatewayMs = 0;
  let backendMs = 0;
  let gatewaySeen = false;
  for (const m of after.members) {
    const usedMs = m.cpuMs - (start.get(m.pid) ?? 0);
    if (m.argv.slice(1).join("\0") === backendKey) backendMs += usedMs;
    else {
      gatewayMs += usedMs;
      gatewaySeen = true;
    }
  }
  const us = (ms: number) => (ms * 1000) / calls;
  return {
    clientUs: us(after.clientMs - before.clientMs),
    gatewayUs: gatewaySeen ? us(gatewayMs) : undefined,
    backendUs: us(backendMs),
  };
}
