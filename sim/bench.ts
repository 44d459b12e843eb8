/**
 * `deno task bench` (after `deno bench`): prints two figures.
 *
 * (a) Simulation speed: a 5-node cluster under chaos (crashes, partitions,
 *     clogs, pauses, loss, duplication) with etcd's default timing (100 ms
 *     ticks, heartbeat every tick, election after 10) and a light client
 *     workload, the safety checkers after every node event that changes
 *     anything (a quiet tick changes nothing they see), over seeds
 *     1-40 (about 40 simulated minutes), as simulated seconds per wall
 *     second and per CPU second of the process. Target ≥ 200×.
 * (b) Throughput: committed entries per second through a 3-node cluster of
 *     production nodes (RawNode + KvStore) with in-memory storage and an
 *     in-process network, proposals batched per event loop turn; median of
 *     three runs after a warm-up run. Target ≥ 200k/s.
 *
 * @module
 */

import process from "node:process";
import { SeededRng } from "@safla/core";
import { emptyConfState, MemoryStorage, type Message, RawNode } from "@safla/core/raft";
import { ClusterNode, type KvQuery, KvStateMachine, type StateMachine } from "@safla/core/node";
import { encodeCommand } from "@safla/core/state";
import { slowReplica } from "./mcp/scenarios.ts";
import { runSimulation } from "./simulation.ts";
import type { SwarmConfig } from "./swarm.ts";

/** The chaos configuration of figure (a). */
export function benchChaos(c: SwarmConfig): SwarmConfig {
  return {
    ...c,
    nodeCount: 5,
    tickUs: 100_000,
    electionTicks: 10,
    heartbeatTicks: 1,
    chaosUs: 60_000_000,
    livenessBoundUs: 30 * 10 * 100_000,
    network: { ...c.network, lossRate: 0.02, duplicateRate: 0.01, reorderRate: 0.02 },
    faults: {
      ...c.faults,
      crashPerSec: 0.2,
      partitionPerSec: 0.2,
      clogPerSec: 0.2,
      pausePerSec: 0.1,
      maxFaultDurationUs: 5_000_000,
    },
    workload: {
      ...c.workload,
      clients: 4,
      thinkTimeUs: 200_000,
      requestTimeoutUs: 3_000_000,
    },
  };
}

/** Figure (a) over several seeds: speed, and the work behind it. */
export interface ChaosSpeed {
  /** Simulated seconds per wall second. */
  ratio: number;
  /** Simulated seconds per CPU second of the process (all its threads). */
  cpuRatio: number;
  /** Simulated seconds in total. */
  simulatedS: number;
  /** Wall seconds. */
  wallS: number;
  /** CPU seconds (user + system). */
  cpuS: number;
  /** Scheduler events run. */
  events: number;
  /** Events handled by nodes (the safety checkers observe after each that changed anything). */
  nodeEvents: number;
  /** Crashes, partitions, clogs and pauses injected. */
  faults: number;
}

/**
 * Runs figure (a) over seeds 1..`seeds`; returns simulated seconds per wall
 * second and per CPU second (the machine may be shared: CPU time is the
 * figure that does not depend on other load).
 */
export function chaosSpeed(seeds: number): ChaosSpeed {
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  let simulatedUs = 0;
  let events = 0;
  let nodeEvents = 0;
  let faults = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const r = runSimulation({ seed, adjust: benchChaos });
    if (r.violations.length > 0) {
      throw new Error(`bench seed ${seed} found a violation: ${r.violations[0].detail}`);
    }
    simulatedUs += r.simulatedUs;
    events += r.schedulerEvents;
    nodeEvents += r.nodeEvents;
    faults += r.faults.crashes + r.faults.partitions + r.faults.clogs + r.faults.pauses;
  }
  const wallS = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const simulatedS = simulatedUs / 1e6;
  return {
    ratio: simulatedS / wallS,
    cpuRatio: simulatedS / cpuS,
    simulatedS,
    wallS,
    cpuS,
    events,
    nodeEvents,
    faults,
  };
}

/** A state machine that only counts, to measure Raft and the node without the KV. */
class CountingStateMachine implements StateMachine<null, number> {
  count = 0;
  apply(): number {
    return ++this.count;
  }
  read(): number {
    return this.count;
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(): void {
    this.count = 0;
  }
}

/**
 * Figure (b): proposes `total` commands in batches of `batch` to the leader
 * of a 3-node in-memory cluster and runs until all are committed on every
 * node. Returns committed entries per second.
 */
export function throughput(
  total: number,
  batch: number,
  kv: boolean,
): { entriesPerSecond: number; wallS: number } {
  const ids = ["a", "b", "c"];
  const nodes = new Map<string, ClusterNode<KvQuery | null, unknown>>();
  for (const [i, id] of ids.entries()) {
    const storage = new MemoryStorage();
    const raft = new RawNode({
      id,
      electionTicks: 10,
      heartbeatTicks: 1,
      storage,
      rng: new SeededRng(i + 1),
      maxSizePerMsgBytes: 1024 * 1024,
      maxInflightMsgs: 256,
    });
    raft.bootstrap(ids);
    nodes.set(
      id,
      new ClusterNode<KvQuery | null, unknown>({
        id,
        raft,
        storage,
        stateMachine: (kv ? new KvStateMachine() : new CountingStateMachine()) as StateMachine<
          KvQuery | null,
          unknown
        >,
        appliedIndex: 0,
        confState: emptyConfState(),
        rng: new SeededRng(i + 10),
        snapshotEveryEntries: 10_000,
        maxPendingRequests: batch * 4,
      }),
    );
  }
  // Index-based FIFO queues: Array.shift is linear in the queue length.
  let inbox: Array<[string, Message]> = [];
  let inboxHead = 0;
  let persists: Array<[string, number]> = [];
  let persistsHead = 0;
  let applied = 0;
  const run = (id: string, effects: ReturnType<ClusterNode<KvQuery | null, unknown>["handle"]>) => {
    for (const e of effects) {
      if (e.type === "persist") persists.push([id, e.persistId]);
      else if (e.type === "send") { for (const m of e.messages) inbox.push([m.to, m]); }
      else if (e.type === "applied" && id === "a") applied += e.entries.length;
    }
  };
  const settle = () => {
    for (let guard = 0; guard < 10_000_000; guard++) {
      if (persistsHead < persists.length) {
        const [id, persistId] = persists[persistsHead++];
        run(id, nodes.get(id)!.handle({ type: "persisted", persistId }));
      } else if (inboxHead < inbox.length) {
        const [id, m] = inbox[inboxHead++];
        run(id, nodes.get(id)!.handle({ type: "message", message: m }));
      } else break;
    }
    inbox = [];
    inboxHead = 0;
    persists = [];
    persistsHead = 0;
  };
  for (const id of ids) run(id, nodes.get(id)!.handle({ type: "tick" }));
  settle();
  run("a", nodes.get("a")!.handle({ type: "campaign" }));
  settle();
  const leader = nodes.get("a")!;
  if (leader.softState.role !== "leader") throw new Error("bench: no leader");
  const command = kv
    ? encodeCommand({ op: "put", key: "bench", value: "x".repeat(64) })
    : new Uint8Array(64);
  const baseline = applied;
  const start = performance.now();
  let requestId = 0;
  while (requestId < total) {
    for (let i = 0; i < batch && requestId < total; i++) {
      run(
        "a",
        leader.handle({
          type: "request",
          requestId: ++requestId,
          request: { kind: "command", command },
        }),
      );
    }
    settle();
  }
  const wallS = (performance.now() - start) / 1000;
  const committed = applied - baseline;
  if (committed < total) throw new Error(`bench: only ${committed} of ${total} entries applied`);
  return { entriesPerSecond: committed / wallS, wallS };
}

/** Median of three numbers or more. */
function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Figure (b), steady state: one untimed warm-up run (the JIT compiles the
 * hot path), then `runs` measured runs; medians of committed entries per
 * wall second and per CPU second.
 */
export function steadyThroughput(
  total: number,
  batch: number,
  kv: boolean,
  runs: number,
): { perWallSecond: number; perCpuSecond: number } {
  throughput(total / 4, batch, kv);
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const cpuStart = process.cpuUsage();
    const r = throughput(total, batch, kv);
    const used = process.cpuUsage(cpuStart);
    wall.push(r.entriesPerSecond);
    cpu.push(total / ((used.user + used.system) / 1e6));
  }
  return { perWallSecond: median(wall), perCpuSecond: median(cpu) };
}

/** Seeds of figure (a): 40 runs of ~61 simulated seconds each (about 40 simulated minutes). */
const CHAOS_SEEDS = 40;

if (import.meta.main) {
  // (b) first, in a fresh process, as a micro-benchmark is measured: run after (a), the
  // KV path has been compiled for (a)'s mix of commands and measured ~20% slower.
  const kv = steadyThroughput(200_000, 1_000, true, 3);
  console.log(
    `(b) 3-node in-memory cluster, KV puts, batches of 1000, median of 3 runs after a warm-up: ` +
      `${Math.round(kv.perWallSecond)} committed entries/s ` +
      `(${Math.round(kv.perCpuSecond)} per CPU second; target >= 200k/s)`,
  );
  const raw = steadyThroughput(200_000, 1_000, false, 3);
  console.log(
    `    same with a counting state machine (Raft + node only): ` +
      `${Math.round(raw.perWallSecond)} committed entries/s ` +
      `(${Math.round(raw.perCpuSecond)} per CPU second)`,
  );
  const a = chaosSpeed(CHAOS_SEEDS);
  console.log(
    `(a) 5-node cluster under chaos, seeds 1-${CHAOS_SEEDS} (${a.faults} faults, ` +
      `${a.nodeEvents} node events): ${a.simulatedS.toFixed(0)} simulated s in ` +
      `${a.wallS.toFixed(2)} wall s, ${a.cpuS.toFixed(2)} CPU s = ${
        a.ratio.toFixed(0)
      }x real time ` +
      `(${a.cpuRatio.toFixed(0)}x per process CPU second, GC and JIT threads included; ` +
      `${Math.round(a.events / a.cpuS)} events per CPU second; target >= 200x)`,
  );
  const ratio = slowReplica(1).p99RatioRoundRobinToP2c;
  console.log(
    `(c) slow replica (sim/mcp, seed 1): p99 round robin / p99 P2C peak-EWMA = ` +
      `${typeof ratio === "number" ? ratio.toFixed(1) : "n/a"} (target >= 3)`,
  );
}
