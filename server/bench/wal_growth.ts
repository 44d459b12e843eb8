/**
 * What a node's disk, memory and restart time follow: a 3-node cluster
 * written through the KV session API, then measured (RSS of each node
 * process, WAL and snapshot bytes on disk, kill -9 + restart time of a
 * follower), optionally after deleting every key.
 *
 *     deno run -A server/bench/wal_growth.ts --keys 100000 [--writes 300000]
 *       [--value-bytes 256] [--concurrency 256] [--delete] [--node-args="--flag value ..."]
 *
 * `--writes` beyond `--keys` overwrite the same keys again (history, not live data).
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { NodeId } from "@safla/core";
import { LocalCluster } from "../cluster/local_cluster.ts";
import { KvSessionClient } from "../cluster/admin/kv_session_client.ts";

/** Tries per write before the run fails. */
const MAX_ATTEMPTS = 20;
/** Bound on the whole run's waits for a restarted node. */
const CATCH_UP_TIMEOUT_MS = 120_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Pid of the node process of `id` running on `dataDir` (from /proc, as LocalCluster hides it). */
function nodePid(dataDir: string, id: NodeId): number | undefined {
  for (const item of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(item.name)) continue;
    try {
      const args = Deno.readTextFileSync(`/proc/${item.name}/cmdline`).split("\0");
      const at = args.indexOf("--node-id");
      if (at >= 0 && args[at + 1] === id && args[args.indexOf("--data") + 1] === dataDir) {
        return Number(item.name);
      }
    } catch { /* the process went away */ }
  }
  return undefined;
}

function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

function dirMb(dir: string): number {
  let bytes = 0;
  try {
    for (const item of Deno.readDirSync(dir)) {
      const path = `${dir}/${item.name}`;
      bytes += item.isDirectory ? dirMb(path) * 1024 * 1024 : Deno.statSync(path).size;
    }
  } catch { /* not there yet */ }
  return bytes / 1024 / 1024;
}

function report(cluster: LocalCluster, dataDir: string, label: string): void {
  for (const id of cluster.ids) {
    const dir = `${dataDir}/${id}`;
    console.log(
      `${label} ${id}: rss ${rssMb(nodePid(dataDir, id)).toFixed(0)} MB, wal ${
        dirMb(`${dir}/wal`).toFixed(1)
      } MB, snap ${dirMb(`${dir}/snap`).toFixed(1)} MB`,
    );
  }
}

async function writeAll(
  sessions: KvSessionClient[],
  count: number,
  concurrency: number,
  op: (session: KvSessionClient, i: number) => Promise<unknown>,
  label: string,
): Promise<void> {
  let next = 0;
  let done = 0;
  let blockStart = performance.now();
  const block = Math.max(1, Math.floor(count / 5));
  const worker = async (w: number) => {
    while (next < count) {
      const i = next++;
      // A write lost to a leader change is written again: puts and deletes repeat safely here.
      for (let attempt = 1;; attempt++) {
        try {
          await op(sessions[w % sessions.length], i);
          break;
        } catch (error) {
          if (attempt >= MAX_ATTEMPTS) throw error;
          await sleep(100);
        }
      }
      if (++done % block === 0) {
        const now = performance.now();
        console.log(`${label} ${done}: ${(block / ((now - blockStart) / 1000)).toFixed(0)} ops/s`);
        blockStart = now;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
}

async function restartFollower(
  cluster: LocalCluster,
  dataDir: string,
  label: string,
): Promise<void> {
  const leader = await cluster.waitForLeader(30_000);
  const follower = cluster.ids.find((id) => id !== leader)!;
  const target = (await cluster.status(leader))!.commitIndex;
  await cluster.kill(follower, "SIGKILL");
  const startedMs = performance.now();
  cluster.startNode(follower);
  while (performance.now() - startedMs < CATCH_UP_TIMEOUT_MS) {
    const status = await cluster.status(follower, 500);
    if (status !== undefined && status.appliedIndex >= target) break;
    await sleep(20);
  }
  const restartMs = performance.now() - startedMs;
  await sleep(3_000);
  console.log(
    `${label} restart ${follower}: caught up to ${target} in ${restartMs.toFixed(0)} ms, rss ${
      rssMb(nodePid(dataDir, follower)).toFixed(0)
    } MB after 3 s`,
  );
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      keys: { type: "string", default: "100000" },
      writes: { type: "string" },
      "value-bytes": { type: "string", default: "256" },
      concurrency: { type: "string", default: "256" },
      delete: { type: "boolean", default: false },
      "node-args": { type: "string", default: "" },
    },
  });
  const keys = Number(values.keys);
  const writes = Number(values.writes ?? values.keys);
  const value = "v".repeat(Number(values["value-bytes"]));
  const concurrency = Number(values.concurrency);
  const dataDir = await Deno.makeTempDir({ prefix: "safla-wal-growth-" });
  const cluster = await LocalCluster.start({
    nodes: 3,
    basePort: 0,
    dataDir,
    secret: crypto.randomUUID() + crypto.randomUUID(),
    nodeArgs: values["node-args"].split(" ").filter((arg) => arg !== ""),
  });
  let sessions: KvSessionClient[] = [];
  try {
    await cluster.waitForLeader(30_000);
    await cluster.waitForReady(30_000);
    await sleep(1_000);
    report(cluster, dataDir, "fresh");
    const adminToken = await cluster.adminToken();
    sessions = await Promise.all(
      cluster.ids.map((id) => KvSessionClient.connect(cluster.url(id), adminToken)),
    );
    const key = (i: number) => `k${String(i % keys).padStart(8, "0")}`;
    await writeAll(sessions, writes, concurrency, (s, i) => s.put(key(i), value), "put");
    await sleep(3_000);
    report(cluster, dataDir, `after ${writes} writes of ${keys} keys`);
    await restartFollower(cluster, dataDir, `${keys} keys`);
    if (values.delete) {
      sessions.forEach((s) => s.close());
      sessions = await Promise.all(
        cluster.ids.map((id) => KvSessionClient.connect(cluster.url(id), adminToken)),
      );
      await writeAll(sessions, keys, concurrency, (s, i) => s.delete(key(i)), "delete");
      await sleep(5_000);
      report(cluster, dataDir, "after deleting every key");
      await restartFollower(cluster, dataDir, "empty store");
      report(cluster, dataDir, "after restart");
    }
  } finally {
    sessions.forEach((s) => s.close());
    await cluster.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) await main(Deno.args);
