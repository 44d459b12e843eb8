/**
 * KV write benchmark: our 3-node Raft cluster against a 3-member Debian
 * etcd cluster, both on loopback, both fsyncing every commit, with the same
 * number of concurrent clients and the same value size. Prints one table
 * row per system and concurrency: throughput, p50 and p99 latency.
 *
 *     deno run -A server/bench/kv_vs_etcd.ts [--clients 200,500] [--value-bytes 256]
 *       [--duration-ms 10000] [--warmup-ms 1000] [--max-ops 200000]
 *       [--timeline]            (also a table per row: ops, p99 and max latency per second)
 *       [--systems etcd,raft]   (also: etcd-http, etcd through its JSON gateway with fetch;
 *                                raft-http, our REST route with fetch)
 *
 * Each client runs one write at a time in a closed loop. Clients are spread
 * round-robin over the members of each system, so followers forward to the
 * leader in both. etcd is driven through {@link EtcdStore} (gRPC: one HTTP/2
 * channel per member carries the calls of every client of that member), the
 * Raft cluster through its KV session API (`GET /admin/kv-session`: one
 * WebSocket per node carries the calls of every client of that node; see
 * `server/cluster/admin/kv_session.ts`); both return the previous record. The load
 * generator is this one Deno process for both systems.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { percentileMs } from "./gateway_stats.ts";
import { startEtcdCluster } from "../store/etcd/etcd_process.ts";
import { EtcdStore } from "../store/etcd/etcd_store.ts";
import { LocalCluster } from "../cluster/local_cluster.ts";
import { KvSessionClient } from "../cluster/admin/kv_session_client.ts";

/** A system under test, as the benchmark drives it. */
export interface KvWriteTarget {
  /** Row label. */
  readonly name: string;
  /** Writes `value` at `key` on behalf of client number `client`; resolves once committed. */
  put(client: number, key: string, value: string): Promise<void>;
  /** Stops the system and releases its resources. */
  close(): Promise<void>;
}

/** Starts a system under test. Pluggable: any engine with a write API fits. */
export type KvWriteTargetFactory = () => Promise<KvWriteTarget>;

/** Bounds and shape of one measurement. */
export interface WriteBenchOptions {
  /** Concurrent clients, each with one write in flight. */
  clients: number;
  /** Size of every value, in bytes (ASCII). */
  valueBytes: number;
  /** Measured phase length, in milliseconds. */
  durationMs: number;
  /** Unmeasured phase before it (connections, JIT), in milliseconds. */
  warmupMs: number;
  /** Measured writes after which the phase ends early. */
  maxOps: number;
  /** Also report throughput and latency per second of the measured phase. */
  timeline?: boolean;
  /** The key of a client's `seq`-th write; default: 64 keys per client. */
  key?: (client: number, seq: number) => string;
}

/** One second of the measured phase (writes counted in the second they completed). */
export interface TimelineSecond {
  /** Seconds since the start of the measured phase. */
  second: number;
  ops: number;
  errors: number;
  p99Ms: number;
  maxMs: number;
}

/** One table row. */
export interface WriteBenchRow {
  system: string;
  clients: number;
  /** Writes that completed inside the measured phase. */
  ops: number;
  /** Writes that failed inside the measured phase. */
  errors: number;
  /** Length of the measured phase. */
  elapsedMs: number;
  throughputOpsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** First error message seen, if any. */
  firstError?: string;
  /** Wall-clock start of the measured phase (ISO 8601). */
  measuredFrom: string;
  /** Per second of the measured phase, with `timeline`. */
  timeline?: TimelineSecond[];
}

/** Keys per client: enough to spread writes, few enough to keep the keyspace small. */
const KEYS_PER_CLIENT = 64;

/** A value of `sizeBytes` ASCII letters and digits. */
export function asciiValue(sizeBytes: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  let value = "";
  for (let i = 0; i < sizeBytes; i++) value += alphabet[(i * 7 + 3) % alphabet.length];
  return value;
}

/** Runs `options.clients` closed-loop writers against `target` and measures them. */
export async function runWriteBench(
  target: KvWriteTarget,
  options: WriteBenchOptions,
): Promise<WriteBenchRow> {
  const value = asciiValue(options.valueBytes);
  const keyOf = options.key ??
    ((id: number, seq: number) => `bench/${id}/${seq % KEYS_PER_CLIENT}`);
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  // Bounded: one bucket per second of the measured phase.
  const seconds = options.timeline ? Math.ceil(options.durationMs / 1_000) : 0;
  const buckets = Array.from(
    { length: seconds },
    () => ({ latenciesMs: [] as number[], errors: 0 }),
  );
  const startedAt = performance.now();
  const measureFrom = startedAt + options.warmupMs;
  const measuredFromIso = new Date(Date.now() + options.warmupMs).toISOString();
  let measureUntil = measureFrom + options.durationMs;
  let stopped = false;

  const client = async (id: number): Promise<void> => {
    for (let seq = 0; !stopped; seq++) {
      const key = keyOf(id, seq);
      const opStart = performance.now();
      let failed = false;
      try {
        await target.put(id, key, value);
      } catch (error) {
        failed = true;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
      const opEnd = performance.now();
      if (opStart < measureFrom || opEnd > measureUntil) continue;
      if (failed) errors++;
      else latenciesMs.push(opEnd - opStart);
      const bucket = buckets[Math.min(seconds - 1, Math.floor((opEnd - measureFrom) / 1_000))];
      if (bucket && failed) bucket.errors++;
      else if (bucket) bucket.latenciesMs.push(opEnd - opStart);
      if (latenciesMs.length >= options.maxOps) {
        measureUntil = opEnd;
        stopped = true;
      }
    }
  };
  const timer = setTimeout(() => stopped = true, options.warmupMs + options.durationMs);
  try {
    await Promise.all(Array.from({ length: options.clients }, (_, id) => client(id)));
  } finally {
    clearTimeout(timer);
  }
  const elapsedMs = measureUntil - measureFrom;
  latenciesMs.sort((a, b) => a - b);
  return {
    system: target.name,
    clients: options.clients,
    ops: latenciesMs.length,
    errors,
    elapsedMs,
    throughputOpsPerSec: latenciesMs.length / (elapsedMs / 1_000),
    p50Ms: latenciesMs.length > 0 ? percentileMs(latenciesMs, 0.5) : NaN,
    p99Ms: latenciesMs.length > 0 ? percentileMs(latenciesMs, 0.99) : NaN,
    firstError,
    measuredFrom: measuredFromIso,
    timeline: options.timeline ? buckets.map((b, second) => timelineSecond(second, b)) : undefined,
  };
}

function timelineSecond(
  second: number,
  bucket: { latenciesMs: number[]; errors: number },
): TimelineSecond {
  const sorted = bucket.latenciesMs.sort((a, b) => a - b);
  return {
    second,
    ops: sorted.length,
    errors: bucket.errors,
    p99Ms: sorted.length > 0 ? percentileMs(sorted, 0.99) : NaN,
    maxMs: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
  };
}

/** Renders a row's timeline as a Markdown table. */
export function formatTimeline(row: WriteBenchRow): string {
  const lines = [
    `${row.system}, ${row.clients} clients, per second from ${row.measuredFrom}:`,
    `| s | ops | errors | p99 ms | max ms |`,
    `|---:|---:|---:|---:|---:|`,
  ];
  for (const s of row.timeline ?? []) {
    lines.push(
      `| ${s.second} | ${s.ops} | ${s.errors} | ${fixed(s.p99Ms, 1)} | ${fixed(s.maxMs, 1)} |`,
    );
  }
  return lines.join("\n");
}

/** A 3-member etcd cluster (Debian's `etcd`, fsync on, default timeouts), driven over gRPC. */
export const etcdTarget: KvWriteTargetFactory = async () => {
  const cluster = await startEtcdCluster({ members: 3 });
  // One store per member: client i talks to member i mod 3.
  const stores = cluster.endpoints.map((endpoint) => new EtcdStore({ endpoints: [endpoint] }));
  return {
    name: `etcd ${(await etcdVersion())} x3`,
    put: async (client, key, value) => {
      await stores[client % stores.length].put(key, value);
    },
    close: async () => {
      await Promise.all(stores.map((store) => store.close()));
      await cluster.stop();
    },
  };
};

/**
 * The same etcd cluster driven through its JSON gateway (`POST /v3/kv/put`)
 * with `fetch`: the client stack the Raft target uses, to tell the client's
 * cost from the server's.
 */
export const etcdHttpTarget: KvWriteTargetFactory = async () => {
  const cluster = await startEtcdCluster({ members: 3 });
  const base64 = (text: string) => btoa(text); // keys and values here are ASCII
  return {
    name: `etcd ${(await etcdVersion())} x3 (JSON gateway)`,
    put: async (client, key, value) => {
      const url = `${cluster.clientUrls[client % cluster.clientUrls.length]}/v3/kv/put`;
      const response = await fetch(url, {
        method: "POST",
        body: JSON.stringify({ key: base64(key), value: base64(value), prev_kv: true }),
      });
      const body = await response.text();
      if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${body}`);
    },
    close: () => cluster.stop(),
  };
};

async function etcdVersion(): Promise<string> {
  const binary = Deno.env.get("ETCD_BIN") ?? "etcd";
  const output = await new Deno.Command(binary, { args: ["--version"], stderr: "null" }).output();
  return /etcd Version: (\S+)/.exec(new TextDecoder().decode(output.stdout))?.[1] ?? "?";
}

/** Whether node log lines go to stderr (with `--timeline`). */
let nodeLogs = false;

/** Our 3-node cluster (node processes, WAL with fdatasync), once it has a leader and is ready. */
async function startRaftCluster(): Promise<
  { urls: string[]; adminToken: string; close: () => Promise<void> }
> {
  const dataDir = await Deno.makeTempDir({ prefix: "safla-bench-raft-" });
  const secret = crypto.randomUUID() + crypto.randomUUID();
  const cluster = await LocalCluster.start({
    nodes: 3,
    basePort: 0,
    dataDir,
    secret,
    // Node events (elections, snapshots) with the time they were seen, to line up with a timeline.
    onLog: nodeLogs
      ? (_id, line) => console.error(`${new Date().toISOString()} ${line}`)
      : undefined,
  });
  const close = async (): Promise<void> => {
    await cluster.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  try {
    await cluster.waitForLeader(30_000);
    await cluster.waitForReady(30_000);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    urls: cluster.ids.map((id) => cluster.url(id)),
    adminToken: await cluster.adminToken(),
    close,
  };
}

/**
 * Our cluster driven through its KV session API (`GET /admin/kv-session`):
 * one WebSocket per node carries the calls of every client sent to that node,
 * as etcd's gRPC channel does for etcd.
 */
export const raftTarget: KvWriteTargetFactory = async () => {
  const { urls, adminToken, close } = await startRaftCluster();
  let sessions: KvSessionClient[];
  try {
    sessions = await Promise.all(urls.map((url) => KvSessionClient.connect(url, adminToken)));
  } catch (error) {
    await close();
    throw error;
  }
  return {
    name: "safla raft x3",
    put: async (client, key, value) => {
      await sessions[client % sessions.length].put(key, value);
    },
    close: async () => {
      for (const session of sessions) session.close();
      await close();
    },
  };
};

/**
 * The same cluster driven through the REST route (`PUT /admin/kv/:key`) with
 * `fetch`, one HTTP exchange per write: the per-request protocol's cost next
 * to the session's.
 */
export const raftHttpTarget: KvWriteTargetFactory = async () => {
  const { urls, adminToken, close } = await startRaftCluster();
  return {
    name: "safla raft x3 (REST)",
    put: async (client, key, value) => {
      const url = `${urls[client % urls.length]}/admin/kv/${encodeURIComponent(key)}`;
      const response = await fetch(url, {
        method: "PUT",
        headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
        body: JSON.stringify({ value }),
      });
      const body = await response.text();
      if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${body}`);
    },
    close,
  };
};

const TARGETS: Record<string, KvWriteTargetFactory> = {
  etcd: etcdTarget,
  "etcd-http": etcdHttpTarget,
  raft: raftTarget,
  "raft-http": raftHttpTarget,
};

function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : "-";
}

/** Renders rows as a Markdown table. */
export function formatTable(rows: readonly WriteBenchRow[], valueBytes: number): string {
  const lines = [
    `| system | clients | value B | ops | errors | throughput ops/s | p50 ms | p99 ms |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|`,
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.system} | ${r.clients} | ${valueBytes} | ${r.ops} | ${r.errors} | ${
        fixed(r.throughputOpsPerSec, 0)
      } | ${fixed(r.p50Ms, 1)} | ${fixed(r.p99Ms, 1)} |`,
    );
  }
  return lines.join("\n");
}

function positiveInt(flag: string, raw: string): number {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new Error(`--${flag}: expected a positive integer, got "${raw}"`);
  }
  return value;
}

async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      clients: { type: "string", default: "200,500" },
      "value-bytes": { type: "string", default: "256" },
      "duration-ms": { type: "string", default: "10000" },
      "warmup-ms": { type: "string", default: "1000" },
      "max-ops": { type: "string", default: "200000" },
      systems: { type: "string", default: "etcd,raft" },
      timeline: { type: "boolean", default: false },
    },
  });
  const concurrency = values.clients.split(",").map((c) => positiveInt("clients", c.trim()));
  if (concurrency.some((c) => c > 5_000)) throw new Error("--clients: at most 5000");
  const valueBytes = positiveInt("value-bytes", values["value-bytes"]);
  const durationMs = positiveInt("duration-ms", values["duration-ms"]);
  const warmupMs = Number(values["warmup-ms"]);
  if (!Number.isSafeInteger(warmupMs) || warmupMs < 0) {
    throw new Error(`--warmup-ms: expected a non-negative integer`);
  }
  const maxOps = positiveInt("max-ops", values["max-ops"]);
  const systems = values.systems.split(",").map((s) => s.trim());
  for (const system of systems) {
    if (!TARGETS[system]) {
      throw new Error(`--systems: unknown system "${system}" (${Object.keys(TARGETS).join(", ")})`);
    }
  }

  nodeLogs = values.timeline;
  const loadBefore = Deno.loadavg().map((l) => l.toFixed(1)).join(" ");
  const rows: WriteBenchRow[] = [];
  for (const system of systems) {
    const target = await TARGETS[system]();
    try {
      for (const clients of concurrency) {
        const row = await runWriteBench(target, {
          clients,
          valueBytes,
          durationMs,
          warmupMs,
          maxOps,
          timeline: values.timeline,
        });
        rows.push(row);
        console.error(
          `${row.system} clients=${clients}: ${fixed(row.throughputOpsPerSec, 0)} ops/s` +
            (row.firstError ? ` (first error: ${row.firstError})` : ""),
        );
      }
    } finally {
      await target.close();
    }
  }
  const loadAfter = Deno.loadavg().map((l) => l.toFixed(1)).join(" ");
  console.log(
    `${new Date().toISOString()}: ${navigator.hardwareConcurrency} cores, load average ` +
      `${loadBefore} before, ${loadAfter} after; ${durationMs} ms measured per row after ` +
      `${warmupMs} ms warm-up, at most ${maxOps} ops\n`,
  );
  console.log(formatTable(rows, valueBytes));
  if (values.timeline) { for (const row of rows) console.log(`\n${formatTimeline(row)}`); }
}

if (import.meta.main) await main(Deno.args);
