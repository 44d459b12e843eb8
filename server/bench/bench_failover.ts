/**
 * Failover bench: on a 3-process cluster on loopback with default timeouts,
 * kill -9 the leader N times and measure the time from the kill to the first
 * write acknowledged through a surviving node. Prints p50/p99/max.
 *
 *     deno run -A server/bench/bench_failover.ts [--kills 20] [--tick-ms N --election-ticks N]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { generateSecret } from "../cluster/cluster_args.ts";
import { LocalCluster } from "../cluster/local_cluster.ts";
import type { HostTiming } from "@safla/transports/host";

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError("no samples");
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** Timeout of one client attempt; the node itself waits for a leader within it. */
const ATTEMPT_TIMEOUT_MS = 3_000;
/** Most attempts to write after one kill. */
const MAX_ATTEMPTS = 100;

async function writeUntilAcknowledged(
  cluster: LocalCluster,
  id: string,
  key: string,
): Promise<void> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    try {
      const response = await cluster.adminFetch(id, `/admin/kv/${key}`, {
        method: "PUT",
        body: JSON.stringify({ value: String(attempt) }),
        signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      });
      await response.body?.cancel();
      if (response.status === 200) return;
    } catch { /* the survivor may be busy electing: try again */ }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`no write acknowledged after ${MAX_ATTEMPTS} attempts`);
}

/** Runs the bench; returns the failover times in ms. */
export async function benchFailover(
  kills: number,
  log: (line: string) => void,
  timing?: Partial<HostTiming>,
): Promise<number[]> {
  const dataDir = await Deno.makeTempDir({ prefix: "bench-failover-" });
  const cluster = await LocalCluster.start({
    nodes: 3,
    basePort: 0,
    dataDir,
    secret: generateSecret(),
    clusterId: "bench-failover",
    timing,
  });
  const samplesMs: number[] = [];
  try {
    await cluster.waitForLeader(60_000);
    await cluster.waitForReady(30_000);
    for (let kill = 0; kill < kills; kill++) {
      const leader = await cluster.waitForLeader(30_000);
      await cluster.waitForReady(30_000);
      const survivor = cluster.ids.find((id) => id !== leader)!;
      // Warm the path: the survivor's connection to the leader and the leader's log.
      await writeUntilAcknowledged(cluster, survivor, "warm");
      const started = performance.now();
      await cluster.kill(leader, "SIGKILL");
      await writeUntilAcknowledged(cluster, survivor, `after-kill-${kill}`);
      const elapsedMs = performance.now() - started;
      samplesMs.push(elapsedMs);
      const status = await cluster.status(survivor);
      log(
        `kill ${kill + 1}/${kills}: leader ${leader} killed, write served in ` +
          `${elapsedMs.toFixed(0)} ms (new leader ${status?.leader}, term ${status?.term})`,
      );
      cluster.startNode(leader);
    }
  } finally {
    await cluster.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
  return samplesMs;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      kills: { type: "string", default: "20" },
      "tick-ms": { type: "string" },
      "election-ticks": { type: "string" },
    },
  });
  const timing: Partial<HostTiming> = {};
  if (values["tick-ms"]) timing.tickMs = Number(values["tick-ms"]);
  if (values["election-ticks"]) timing.electionTicks = Number(values["election-ticks"]);
  const kills = Number(values.kills);
  if (!Number.isInteger(kills) || kills < 1 || kills > 1000) {
    console.error(`--kills must be an integer from 1 to 1000, got ${values.kills}`);
    Deno.exit(2);
  }
  const samples = await benchFailover(kills, (line) => console.error(line), timing);
  const sorted = [...samples].sort((a, b) => a - b);
  console.log(
    `failover (kill -9 leader -> write served), 3 nodes on loopback, ${kills} kills: ` +
      `p50 ${percentile(sorted, 50).toFixed(0)} ms, p99 ${percentile(sorted, 99).toFixed(0)} ms, ` +
      `max ${sorted[sorted.length - 1].toFixed(0)} ms`,
  );
}
