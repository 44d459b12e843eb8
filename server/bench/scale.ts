/**
 * Scale benchmark: how our 3-node Raft cluster holds up with many keys, next
 * to etcd 3.4 under the same load in the same run. For each system it writes
 * K keys of `--value-bytes` (256) and, at 10 000 keys and at each K, measures
 * write throughput (overwrites of random existing keys), RSS per member
 * (`/proc/<pid>/status` VmRSS) and data directory size. At the largest K it
 * then measures, each as the time until the member has applied everything
 * the leader had committed when it started:
 *
 * - restart: a follower killed (SIGKILL) and started again on its data;
 * - catch-up: a follower killed while `--missed-writes` overwrites go to the
 *   others (default 30 % of K: 300 000 at 1M keys), then started again;
 * - join: a new voting member added (our `--join`, etcd's member add);
 *
 * counting elections (new terms) during catch-up and join. Last it compacts
 * (etcd: compaction + defragment; our nodes compact by themselves), measures
 * the data directory, deletes every key with one prefix delete (counting
 * elections again), compacts again and compares RSS with the fresh cluster's. Prints two Markdown tables, the second with the targets.
 *
 *     deno run -A server/bench/scale.ts [--keys 100000,1000000] [--value-bytes 256]
 *       [--clients 200] [--missed-writes N] [--measure-ms 3000] [--systems raft,etcd]
 *       [--node-arg=--some-flag=value ...]   (passed to every node of ours)
 *
 * etcd is skipped with a message when its binary is not on the PATH (or `$ETCD_BIN`).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { asciiValue, runWriteBench } from "./kv_vs_etcd.ts";
import {
  BASELINE_KEYS,
  formatScaleReport,
  type Recovery,
  type ScaleResult,
  type SizeRow,
} from "./scale_report.ts";
import {
  dirMb,
  rssMb,
  type ScaleCluster,
  startEtcdScale,
  startRaftScale,
} from "./scale_systems.ts";

/** What to run. */
export interface ScaleOptions {
  /** Key counts to measure at, ascending; the last one gets the recovery phases. */
  keys: number[];
  valueBytes: number;
  /** Concurrent writers. */
  clients: number;
  /** Overwrites a killed follower misses before it is restarted. */
  missedWrites: number;
  /** Length of each throughput measurement. */
  measureMs: number;
  /** Systems, in order: "raft", "etcd". */
  systems: ("raft" | "etcd")[];
  /** Extra flags for every node of ours. */
  nodeArgs: string[];
}

/** Longest a recovery may take before it is reported as not finished. */
const RECOVERY_TIMEOUT_MS = 300_000;
/** Attempts per write before the load fails (elections make a few writes fail). */
const WRITE_ATTEMPTS = 5;

function keyName(index: number): string {
  return `scale/${String(index).padStart(8, "0")}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function maxOver(
  cluster: ScaleCluster,
  measure: (member: string) => Promise<number>,
): Promise<number> {
  const values = await Promise.all(cluster.members().map(measure));
  return Math.max(...values.filter((v) => Number.isFinite(v)));
}

/** Writes `count` keys (`keyOf(i)`) with `clients` writers; resolves to writes per second. */
async function writeAll(
  cluster: ScaleCluster,
  count: number,
  keyOf: (i: number) => string,
  clients: number,
  value: string,
): Promise<number> {
  let next = 0;
  const startedAt = performance.now();
  const writer = async (client: number): Promise<void> => {
    while (next < count) {
      const key = keyOf(next++);
      for (let attempt = 1;; attempt++) {
        try {
          await cluster.put(client, key, value);
          break;
        } catch (error) {
          if (attempt >= WRITE_ATTEMPTS) throw error;
          await sleep(100 * attempt);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, client) => writer(client)));
  return count / ((performance.now() - startedAt) / 1_000);
}

/** The leader's commit index, as the running members report it. */
async function leaderCommit(cluster: ScaleCluster): Promise<number> {
  const progress = await Promise.all(cluster.members().map((m) => cluster.progress(m)));
  return Math.max(0, ...progress.map((p) => p?.commitIndex ?? 0));
}

/**
 * Runs `phase` while polling the members for their leader; resolves to how
 * long the phase says it took and how many elections happened meanwhile (a
 * new term with a leader, even when the same member won it again).
 */
async function countingElections(
  cluster: ScaleCluster,
  phase: () => Promise<number>,
): Promise<Recovery> {
  let elections = 0;
  let lastTerm: number | undefined;
  let running = true;
  const poll = (async () => {
    while (running) {
      const progress = await Promise.all(cluster.members().map((m) => cluster.progress(m)));
      const terms = progress.filter((p) => p?.leader !== undefined).map((p) => p!.term);
      const term = terms.length > 0 ? Math.max(...terms) : undefined;
      if (term !== undefined) {
        if (lastTerm !== undefined && term > lastTerm) elections++;
        lastTerm = Math.max(term, lastTerm ?? 0);
      }
      await sleep(100);
    }
  })();
  try {
    const ms = await phase();
    return { ms, elections };
  } finally {
    running = false;
    await poll;
  }
}

/** Time until `member` has applied `target`; rejects after {@link RECOVERY_TIMEOUT_MS}. */
async function waitApplied(
  cluster: ScaleCluster,
  member: string,
  target: number,
  startedAt: number,
): Promise<number> {
  while (performance.now() - startedAt < RECOVERY_TIMEOUT_MS) {
    const progress = await cluster.progress(member);
    if (progress && progress.appliedIndex >= target) return performance.now() - startedAt;
    await sleep(50);
  }
  throw new Error(`${member} did not catch up within ${RECOVERY_TIMEOUT_MS} ms`);
}

async function follower(cluster: ScaleCluster): Promise<string> {
  for (const member of cluster.members()) {
    const progress = await cluster.progress(member);
    if (progress && !progress.isLeader && progress.leader !== undefined) return member;
  }
  throw new Error("no follower found");
}

/** Runs `measure`, turning a failure into a reported error. */
async function recovery(
  measure: () => Promise<Recovery>,
  log: (line: string) => void,
): Promise<Recovery> {
  try {
    const result = await measure();
    log(`  ${(result.ms / 1_000).toFixed(1)} s, ${result.elections} elections`);
    return result;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    log(`  not finished: ${message}`);
    return { ms: NaN, elections: NaN, error: message };
  }
}

/** Runs every phase on one system. */
export async function runScale(
  cluster: ScaleCluster,
  options: ScaleOptions,
  log: (line: string) => void = (line) => console.error(line),
): Promise<ScaleResult> {
  const value = asciiValue(options.valueBytes);
  const liveMb = (keys: number) => keys * (keyName(0).length + options.valueBytes) / (1024 * 1024);
  await sleep(1_000);
  const freshRssMb = await maxOver(cluster, (m) => rssMb(cluster.pid(m)));
  const finalKeys = options.keys[options.keys.length - 1];
  const sizes = [...new Set([...options.keys, BASELINE_KEYS])]
    .filter((k) => k <= finalKeys).sort((a, b) => a - b);
  const rows: SizeRow[] = [];
  let written = 0;
  for (const keys of sizes) {
    const loadOpsPerSec = await writeAll(
      cluster,
      keys - written,
      (i) => keyName(written + i),
      options.clients,
      value,
    );
    written = keys;
    const overwrite = await runWriteBench(cluster, {
      clients: options.clients,
      valueBytes: options.valueBytes,
      durationMs: options.measureMs,
      warmupMs: 500,
      maxOps: 1_000_000,
      key: (client, seq) => keyName((client * 7_919 + seq * 104_729) % keys),
    });
    const row: SizeRow = {
      keys,
      loadOpsPerSec,
      writeOpsPerSec: overwrite.throughputOpsPerSec,
      rssMb: await maxOver(cluster, (m) => rssMb(cluster.pid(m))),
      dataDirMb: await maxOver(cluster, (m) => dirMb(cluster.dataDir(m))),
      liveMb: liveMb(keys),
    };
    rows.push(row);
    log(
      `${cluster.name} ${keys} keys: load ${row.loadOpsPerSec.toFixed(0)}/s, overwrite ` +
        `${row.writeOpsPerSec.toFixed(0)}/s, RSS ${row.rssMb.toFixed(0)} MB, ` +
        `data ${row.dataDirMb.toFixed(0)} MB` +
        (overwrite.firstError ? ` (first error: ${overwrite.firstError})` : ""),
    );
  }

  log(`${cluster.name}: restart of a follower after kill -9`);
  const restart = await recovery(async () => {
    const member = await follower(cluster);
    return await countingElections(cluster, async () => {
      await cluster.kill(member);
      const target = await leaderCommit(cluster);
      const startedAt = performance.now();
      await cluster.restart(member);
      return await waitApplied(cluster, member, target, startedAt);
    });
  }, log);

  log(`${cluster.name}: a follower misses ${options.missedWrites} writes`);
  const catchUp = await recovery(async () => {
    const member = await follower(cluster);
    return await countingElections(cluster, async () => {
      await cluster.kill(member);
      await writeAll(
        cluster,
        options.missedWrites,
        (i) => keyName((i * 104_729) % finalKeys),
        options.clients,
        value,
      );
      const target = await leaderCommit(cluster);
      const startedAt = performance.now();
      await cluster.restart(member);
      return await waitApplied(cluster, member, target, startedAt);
    });
  }, log);

  // etcd refuses a member add until every member has been connected for 5 s
  // (its strict reconfiguration check); the restarted one just came back.
  await sleep(6_000);
  log(`${cluster.name}: a new member joins`);
  const join = await recovery(
    () =>
      countingElections(cluster, async () => {
        const target = await leaderCommit(cluster);
        const startedAt = performance.now();
        const member = await cluster.join();
        return await waitApplied(cluster, member, target, startedAt);
      }),
    log,
  );

  const compacted = await cluster.compact();
  const dataDirAfterCompactionMb = await maxOver(cluster, (m) => dirMb(cluster.dataDir(m)));
  log(`${cluster.name}: deleting every key`);
  const deleteAll = await recovery(
    () =>
      countingElections(cluster, async () => {
        const startedAt = performance.now();
        for (let attempt = 1;; attempt++) {
          try {
            await cluster.deletePrefix("scale/");
            return performance.now() - startedAt;
          } catch (error) {
            log(`  delete attempt ${attempt} failed: ${error}`);
            if (attempt >= WRITE_ATTEMPTS) throw error;
            await sleep(1_000);
          }
        }
      }),
    log,
  );
  // A system that could not delete may not answer the check either: the report still prints.
  const allDeleted = await cluster.anyUnder("scale/").then((any) => !any, (error) => {
    log(`  could not check what the delete left: ${error}`);
    return false;
  });
  await cluster.compact().catch((error) => log(`  compaction after the delete failed: ${error}`));
  // Give the runtimes a moment to collect and return what the deleted keys held.
  await sleep(3_000);
  const rssAfterDeleteMb = await maxOver(cluster, (m) => rssMb(cluster.pid(m)));
  return {
    system: cluster.name,
    sizes: rows,
    freshRssMb,
    restart,
    catchUp,
    missedWrites: options.missedWrites,
    join,
    compacted,
    dataDirAfterCompactionMb,
    rssAfterDeleteMb,
    allDeleted,
    deleteAll,
  };
}

function positiveInt(flag: string, raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new Error(`--${flag}: expected a positive integer, got "${raw}"`);
  }
  return value;
}

/** Most keys a run may write (10x the 1M target; the store holds them in memory). */
const MAX_KEYS = 10_000_000;

/** Parses the command line. */
export function parseScaleArgs(args: string[]): ScaleOptions {
  const { values } = parseArgs({
    args,
    options: {
      keys: { type: "string", default: "100000,1000000" },
      "value-bytes": { type: "string", default: "256" },
      clients: { type: "string", default: "200" },
      "missed-writes": { type: "string" },
      "measure-ms": { type: "string", default: "3000" },
      systems: { type: "string", default: "raft,etcd" },
      "node-arg": { type: "string", multiple: true, default: [] },
    },
  });
  const keys = values.keys.split(",").map((k) => positiveInt("keys", k.trim()))
    .sort((a, b) => a - b);
  if (keys[keys.length - 1] > MAX_KEYS) throw new Error(`--keys: at most ${MAX_KEYS}`);
  const clients = positiveInt("clients", values.clients);
  if (clients > 5_000) throw new Error("--clients: at most 5000");
  const systems = values.systems.split(",").map((s) => s.trim());
  for (const system of systems) {
    if (system !== "raft" && system !== "etcd") {
      throw new Error(`--systems: unknown system "${system}" (raft, etcd)`);
    }
  }
  const largest = keys[keys.length - 1];
  return {
    keys,
    valueBytes: positiveInt("value-bytes", values["value-bytes"]),
    clients,
    missedWrites: values["missed-writes"] === undefined
      ? Math.max(1, Math.round(largest * 0.3))
      : positiveInt("missed-writes", values["missed-writes"]),
    measureMs: positiveInt("measure-ms", values["measure-ms"]),
    systems: systems as ("raft" | "etcd")[],
    nodeArgs: values["node-arg"],
  };
}

/** Whether the etcd binary runs here. */
export async function etcdAvailable(): Promise<boolean> {
  const binary = Deno.env.get("ETCD_BIN") ?? "etcd";
  try {
    const output = await new Deno.Command(binary, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .output();
    return output.success;
  } catch {
    return false;
  }
}

/** Runs the bench as the command line says; resolves to the report. */
export async function runScaleBench(
  options: ScaleOptions,
  log: (line: string) => void = (line) => console.error(line),
): Promise<{ results: ScaleResult[]; report: string }> {
  const results: ScaleResult[] = [];
  for (const system of options.systems) {
    if (system === "etcd" && !(await etcdAvailable())) {
      log("etcd: not on the PATH (install Debian's etcd-server or set ETCD_BIN): skipped");
      continue;
    }
    const cluster = system === "raft"
      ? await startRaftScale(options.nodeArgs)
      : await startEtcdScale();
    try {
      results.push(await runScale(cluster, options, log));
    } finally {
      await cluster.close();
    }
  }
  return { results, report: formatScaleReport(results) };
}

if (import.meta.main) {
  const options = parseScaleArgs(Deno.args);
  const loadBefore = Deno.loadavg().map((l) => l.toFixed(1)).join(" ");
  const { report } = await runScaleBench(options);
  const loadAfter = Deno.loadavg().map((l) => l.toFixed(1)).join(" ");
  console.log(
    `${new Date().toISOString()}: ${navigator.hardwareConcurrency} cores, load average ` +
      `${loadBefore} before, ${loadAfter} after; ${options.clients} writers, ` +
      `${options.valueBytes}-byte values, ${options.measureMs} ms per throughput row\n`,
  );
  console.log(report);
}
