/**
 * `large-snapshot-catchup`: a follower of a 3-node cluster of production
 * nodes is down while the leader writes a state many times the network's
 * message size limit and compacts its log past the follower; the follower
 * then restarts and must catch up from a snapshot that can only cross the
 * network as a stream of chunks, while messages are lost, duplicated and
 * reordered, and the follower is crashed and cut off from the leader during
 * the transfer. Checked: the follower converges to the leader's state, no
 * message exceeds the limit, the Raft safety checkers stay quiet, and the
 * transfer causes no election (the leader keeps its term throughout).
 *
 * @module
 */
import { type KvQuery, type NodeReply } from "@safla/core/node";
import { SeededRng } from "@safla/core";
import { type CommandResult, encodeCommand } from "@safla/core/state";
import { SimCluster } from "./cluster.ts";
import { Scheduler } from "./scheduler.ts";
import { PRODUCTION_PARTS } from "./simulation.ts";
import { type SwarmConfig, swarmConfig } from "./swarm.ts";
import { Trace } from "./trace.ts";

/** Options of {@link largeSnapshotCatchUp}. */
export interface LargeSnapshotCatchUpOptions {
  /**
   * Snapshot chunk size; default 2 KiB. Above the message limit (8 KiB) it
   * shows what the scenario catches: a snapshot that cannot cross the network.
   */
  readonly chunkBytes?: number;
}

/** The figures of one run. */
export interface LargeSnapshotCatchUpFigures {
  /** Scenario name. */
  scenario: "large-snapshot-catchup";
  /** The seed. */
  seed: number;
  /** The network's per-message limit. */
  maxMessageBytes: number;
  /** Size of the leader's snapshot when the follower restarted. */
  snapshotBytes: number;
  /** Largest message sent. */
  largestMessageBytes: number;
  /** Snapshots the lagging follower installed. */
  snapshotsInstalled: number;
  /** Faults injected while the follower caught up. */
  faults: { followerCrashes: number; partitions: number; lossRate: number };
  /** From the follower's restart until it applied everything the leader had, ms; null: never. */
  caughtUpAfterMs: number | null;
  /** Virtual time simulated, ms. */
  simulatedMs: number;
  /** Each must be 0. */
  violations: {
    safety: number;
    oversizedMessages: number;
    notCaughtUp: number;
    leaderChanges: number;
    stateMismatch: number;
  };
}

const KEYS = 400;
const VALUE_BYTES = 1_024;
const MAX_IN_FLIGHT = 16;
/** Bound on the phases' virtual time. */
const PHASE_LIMIT_US = 30_000_000;
const STEP_US = 10_000;

function scenarioConfig(seed: number, chunkBytes: number): SwarmConfig {
  const base = swarmConfig(seed, 3);
  return {
    ...base,
    electionTicks: 10,
    heartbeatTicks: 1,
    tickUs: 10_000,
    preVote: true,
    checkQuorum: true,
    maxSizePerMsgBytes: 4 * 1024,
    snapshotEveryEntries: 100,
    snapshotTransfer: { chunkBytes, windowChunks: 4, ackTimeoutTicks: 3 },
    network: {
      ...base.network,
      latencyMinUs: 200,
      latencyMeanExtraUs: 500,
      lossRate: 0.02,
      duplicateRate: 0.01,
      reorderRate: 0.02,
      // ~100 ms of link time for the snapshot: the faults land inside the transfer.
      capacityBytesPerMs: 8_000,
      maxMessageBytes: 8 * 1024,
    },
    faults: {
      ...base.faults,
      crashPerSec: 0,
      partitionPerSec: 0,
      clogPerSec: 0,
      pausePerSec: 0,
      corruptOnCrashRate: 0,
      maxClockDrift: 0,
    },
  };
}

/**
 * Runs the scenario for one seed.
 *
 * @example
 * ```ts ignore
 * const figures = largeSnapshotCatchUp(1);
 * console.assert(Object.values(figures.violations).every((n) => n === 0));
 * ```
 */
export function largeSnapshotCatchUp(
  seed: number,
  options: LargeSnapshotCatchUpOptions = {},
): LargeSnapshotCatchUpFigures {
  const config = scenarioConfig(seed, options.chunkBytes ?? 2 * 1024);
  const rng = new SeededRng(seed);
  const scheduler = new Scheduler();
  const trace = new Trace(40);
  const replies = new Map<number, NodeReply<CommandResult>>();
  const cluster = new SimCluster<KvQuery, CommandResult>(
    scheduler,
    rng.fork(),
    config,
    PRODUCTION_PARTS,
    trace,
    { onReply: (_node, requestId, reply) => replies.set(requestId, reply) },
    {},
  );
  const runUntil = (done: () => boolean, limitUs: number): boolean => {
    const endUs = scheduler.nowUs + limitUs;
    while (!done() && scheduler.nowUs < endUs && cluster.violations.length === 0) {
      scheduler.runUntil(scheduler.nowUs + STEP_US, 100_000);
    }
    return done();
  };
  const leaderOf = (): string | undefined =>
    cluster.ids.find((id) => {
      const p = cluster.process(id);
      return p.status === "up" && p.node?.softState.role === "leader";
    });
  let nextRequestId = 1;
  const write = (key: string, value: string): number => {
    const requestId = nextRequestId++;
    const leader = leaderOf();
    if (leader === undefined) return requestId;
    const command = encodeCommand({ op: "put", key, value });
    cluster.deliver(leader, { type: "request", requestId, request: { kind: "command", command } });
    return requestId;
  };

  cluster.bootstrap();
  runUntil(() => leaderOf() !== undefined, PHASE_LIMIT_US);
  const leader = leaderOf()!;
  const follower = cluster.ids.find((id) => id !== leader)!;
  cluster.crash(follower);

  // The state the follower misses: KEYS values, each written until it applies.
  const pending = new Map<number, number>();
  let nextKey = 0;
  runUntil(() => {
    for (const [requestId, key] of pending) {
      const reply = replies.get(requestId);
      if (reply === undefined) continue;
      pending.delete(requestId);
      if (!reply.ok) pending.set(write(`k${key}`, valueOf(key)), key);
    }
    while (pending.size < MAX_IN_FLIGHT && nextKey < KEYS) {
      pending.set(write(`k${nextKey}`, valueOf(nextKey)), nextKey);
      nextKey++;
    }
    return nextKey === KEYS && pending.size === 0;
  }, PHASE_LIMIT_US);

  const lead = cluster.process(leader).node!;
  const term = lead.term;
  const snapshotBytes = lead.storage.snapshot().data.length;
  let leaderChanges = 0;
  cluster.onRoleChanged = (id, role, roleTerm) => {
    if ((role === "leader" && id !== leader) || roleTerm !== term) leaderChanges++;
  };
  let snapshotsInstalled = 0;

  // The follower restarts. Once chunks reach it, it is crashed (and
  // restarted); once they reach it again, it is cut off from the leader for
  // a while: both in the middle of a transfer, at seed-drawn moments.
  const restartUs = scheduler.nowUs;
  const faults = { followerCrashes: 0, partitions: 0, lossRate: config.network.lossRate };
  let faultsDoneUs = Infinity;
  let nextFault: "crash" | "cut" | "none" = "crash";
  trace.onEvent = (e) => {
    if (e.node !== follower) return;
    if (e.kind === "snapshotInstalled") snapshotsInstalled++;
    if (e.kind !== "snapChunk" || nextFault === "none") return;
    const fault = nextFault;
    nextFault = "none";
    scheduler.after(rng.int(30_000), () => {
      const outageUs = 50_000 + rng.int(250_000);
      if (fault === "crash") {
        cluster.crash(follower);
        faults.followerCrashes++;
        scheduler.after(outageUs, () => {
          cluster.restart(follower);
          nextFault = "cut";
        });
        return;
      }
      cluster.network.partition([[follower], [leader]]);
      faults.partitions++;
      scheduler.after(outageUs, () => {
        cluster.network.heal();
        faultsDoneUs = scheduler.nowUs;
      });
    });
  };
  cluster.restart(follower);
  let writes = 0;
  const trickle = (): void => {
    if (writes++ >= 100) return;
    write(`t${writes % 10}`, valueOf(writes));
    scheduler.after(20_000, trickle);
  };
  scheduler.after(20_000, trickle);
  let caughtUpAfterMs: number | null = null;
  const caughtUp = runUntil(() => {
    const f = cluster.process(follower).node;
    if (scheduler.nowUs < faultsDoneUs || f === undefined) return false;
    return f.appliedIndex >= lead.appliedIndex;
  }, PHASE_LIMIT_US);
  if (caughtUp) caughtUpAfterMs = Math.round((scheduler.nowUs - restartUs) / 1000);

  let stateMismatch = 0;
  if (caughtUp) {
    runUntil(
      () => writes > 100 && cluster.process(follower).node!.appliedIndex === lead.appliedIndex,
      PHASE_LIMIT_US,
    );
    const leaderSm = cluster.process(leader).stateMachine!;
    const followerSm = cluster.process(follower).stateMachine!;
    for (let key = 0; key < KEYS; key++) {
      const query: KvQuery = { op: "get", key: `k${key}` };
      if (JSON.stringify(leaderSm.read(query)) !== JSON.stringify(followerSm.read(query))) {
        stateMismatch++;
      }
    }
  }
  const net = cluster.network.stats;
  return {
    scenario: "large-snapshot-catchup",
    seed,
    maxMessageBytes: config.network.maxMessageBytes,
    snapshotBytes,
    largestMessageBytes: net.largestMessageBytes,
    snapshotsInstalled,
    faults,
    caughtUpAfterMs,
    simulatedMs: Math.round(scheduler.nowUs / 1000),
    violations: {
      safety: cluster.violations.length,
      oversizedMessages: net.oversized,
      notCaughtUp: caughtUp ? 0 : 1,
      leaderChanges,
      stateMismatch,
    },
  };
}

function valueOf(i: number): string {
  return `${i}:`.padEnd(VALUE_BYTES, String.fromCharCode(97 + (i % 26)));
}
