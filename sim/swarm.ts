/**
 * Swarm testing: one seed derives the whole run's configuration (cluster
 * size, timeouts, fault rates, workload), so that different seeds explore
 * different corners and any one seed replays exactly.
 *
 * @module
 */

import { SeededRng } from "@safla/core";
import { DEFAULT_DISK, type DiskConfig } from "./disk.ts";
import type { SnapshotTransferConfig } from "@safla/core/node";
import type { NetworkConfig } from "./network.ts";

/** Rates (per simulated second) and bounds of the fault injector. */
export interface FaultConfig {
  /** Process crashes per second (each followed by a restart). */
  crashPerSec: number;
  /** Partitions per second (symmetric, one-way, isolate or bridge; each healed later). */
  partitionPerSec: number;
  /** Link clogs per second. */
  clogPerSec: number;
  /** Process pauses per second. */
  pausePerSec: number;
  /**
   * Probability that a leader is crashed the moment its durable commit index
   * advances, before followers learn of the commit. Absent: never.
   */
  leaderCommitCrashRate?: number;
  /**
   * Probability that a newly elected leader is crashed within
   * `newLeaderCrashWithinUs` of taking office: before its first entry
   * reaches a majority, or right after an old entry does. Absent: never.
   */
  newLeaderCrashRate?: number;
  /** Longest delay of a new-leader crash. */
  newLeaderCrashWithinUs?: number;
  /**
   * Probability that a newly elected leader is cut off from every node the
   * moment it takes office, so its first entry stays its own (for a drawn
   * fault duration). Not while another partition is in place. Absent: never.
   */
  newLeaderIsolateRate?: number;
  /** Probability that a crashed node's disk also gets a bit flip. */
  corruptOnCrashRate: number;
  /** Most nodes allowed to refuse to start from a corrupt disk (keeps a quorum alive). */
  maxCorruptNodes: number;
  /** Longest a fault lasts before it is undone. */
  maxFaultDurationUs: number;
  /** Largest relative tick-rate drift of a node's clock (0.1 = ±10%). */
  maxClockDrift: number;
  /** Which partitions the nemesis draws from. */
  partitionKinds: PartitionKind[];
}

/** The shapes of network partition. */
export type PartitionKind = "symmetric" | "oneWay" | "isolate" | "bridge";

/** The client workload. */
export interface WorkloadConfig {
  /** Concurrent sequential clients. */
  clients: number;
  /** Distinct keys (few keys: more contention, sharper checks). */
  keys: number;
  /** Fraction of operations that are linearizable reads. */
  readRatio: number;
  /** Fraction of operations that are compare-and-swaps. */
  casRatio: number;
  /** Fraction of operations that are deletes. */
  deleteRatio: number;
  /** Fraction of operations that are service registry writes (outside the checked KV history). */
  registryRatio: number;
  /** A client gives up after this long; a write then counts as indeterminate. */
  requestTimeoutUs: number;
  /** Pause between a client's operations. */
  thinkTimeUs: number;
  /** One-way latency between a client and a node. */
  clientLatencyUs: number;
}

/** Everything a simulation run is configured by. */
export interface SwarmConfig {
  /** The seed everything derives from. */
  seed: number;
  /** Cluster size. */
  nodeCount: number;
  /** Raft election timeout in ticks. */
  electionTicks: number;
  /** Raft heartbeat interval in ticks. */
  heartbeatTicks: number;
  /** Length of one tick. */
  tickUs: number;
  /** Raft PreVote. */
  preVote: boolean;
  /** Raft CheckQuorum. */
  checkQuorum: boolean;
  /** Largest append message. */
  maxSizePerMsgBytes: number;
  /** Most unacknowledged appends per follower. */
  maxInflightMsgs: number;
  /** Snapshot every this many applied entries. */
  snapshotEveryEntries: number;
  /** How nodes stream snapshots (chunks must fit `network.maxMessageBytes`). */
  snapshotTransfer: Partial<SnapshotTransferConfig>;
  /** Network knobs during the chaos phase. */
  network: NetworkConfig;
  /** Disk knobs. */
  disk: DiskConfig;
  /** Fault injector. */
  faults: FaultConfig;
  /** Client workload. */
  workload: WorkloadConfig;
  /** Length of the chaos phase. */
  chaosUs: number;
  /** After healing, the cluster must have one leader and converged logs within this. */
  livenessBoundUs: number;
  /** When set, at this time a client asks the leader to remove itself from the cluster. */
  removeLeaderAtUs?: number;
  /** How the leader confirms ReadIndex reads: a heartbeat round, or its CheckQuorum lease. */
  readOnlyOption: "safe" | "leaseBased";
  /** Membership changes during the chaos (see `membership_nemesis.ts`). */
  membership: MembershipConfig;
}

/** Membership changes during the chaos. */
export interface MembershipConfig {
  /** Processes beyond `nodeCount` that start empty and join only when a change adds them. */
  spareNodes: number;
  /** Changes requested per second (0: the membership never changes). */
  changesPerSec: number;
}

function pick<T>(rng: SeededRng, options: readonly T[]): T {
  return options[rng.int(options.length)];
}

function between(rng: SeededRng, lo: number, hi: number): number {
  return lo + rng.next() * (hi - lo);
}

/**
 * Derives a configuration from `seed`. `nodeCount` overrides the drawn size.
 *
 * @example
 * ```ts
 * import { swarmConfig } from "./swarm.ts";
 * console.assert(swarmConfig(7).nodeCount === swarmConfig(7).nodeCount);
 * ```
 */
export function swarmConfig(seed: number, nodeCount?: number): SwarmConfig {
  const rng = new SeededRng(seed ^ 0x5eed);
  const size = nodeCount ?? pick(rng, [1, 2, 3, 3, 4, 5, 5, 6, 7]);
  if (!Number.isInteger(size) || size < 1 || size > 9) {
    throw new RangeError(`nodeCount must be an integer in [1, 9], got ${size}`);
  }
  const electionTicks = 10 + rng.int(11);
  const heartbeatTicks = 1 + rng.int(3);
  const tickUs = pick(rng, [5_000, 10_000, 20_000]);
  const calm = rng.next() < 0.15;
  const faultScale = calm ? 0 : between(rng, 0.3, 1.5);
  // Drawn apart from the rest, so that adding these draws left every other one as it was.
  const wide = new SeededRng(seed ^ 0x61de);
  const maxSizePerMsgBytes = wide.next() < 0.25
    ? pick(wide, [300, 1024])
    : pick(rng, [4 * 1024, 64 * 1024, 1024 * 1024]);
  const membershipChanges = wide.next() < 0.35;
  // Lease reads are only as safe as the clocks and the scheduler: no pauses, little drift.
  const leaseReads = wide.next() < 0.25;
  const config: SwarmConfig = {
    seed,
    nodeCount: size,
    electionTicks,
    heartbeatTicks,
    tickUs,
    preVote: true,
    checkQuorum: true,
    maxSizePerMsgBytes,
    maxInflightMsgs: wide.next() < 0.2 ? pick(wide, [1, 2]) : pick(rng, [4, 64, 256]),
    snapshotEveryEntries: pick(rng, [50, 200, 1000]),
    // Small chunks, so that the snapshots of every run (a few KB) are streams
    // of several; not drawn, so that each seed keeps the rest of its draws.
    snapshotTransfer: { chunkBytes: 1024, windowChunks: 8 },
    network: {
      latencyMinUs: pick(rng, [100, 500, 2_000]),
      latencyMeanExtraUs: pick(rng, [200, 1_000, 5_000]),
      slowRate: between(rng, 0, 0.05),
      lossRate: calm ? 0 : pick(rng, [0, 0.01, 0.05, 0.2]),
      duplicateRate: calm ? 0 : pick(rng, [0, 0.01, 0.05]),
      reorderRate: calm ? 0 : pick(rng, [0, 0.02, 0.1]),
      capacityBytesPerMs: pick(rng, [10_000, 100_000, 1_000_000]),
      linkQueueLimitBytes: 4_000_000,
      // An append carries up to maxSizePerMsgBytes of entries plus one entry
      // and per-entry headers; anything larger is a bug (a whole snapshot).
      maxMessageBytes: maxSizePerMsgBytes + 64 * 1024,
    },
    disk: {
      ...DEFAULT_DISK,
      writeLatencyMinUs: pick(rng, [20, 100, 1_000]),
      writeLatencyMeanExtraUs: pick(rng, [50, 500, 3_000]),
      syncLatencyUs: pick(rng, [100, 1_000, 5_000]),
      tornWriteRate: between(rng, 0, 0.8),
    },
    faults: {
      crashPerSec: faultScale * between(rng, 0, 1.5),
      partitionPerSec: faultScale * between(rng, 0, 1.5),
      clogPerSec: faultScale * between(rng, 0, 1),
      pausePerSec: faultScale * between(rng, 0, 1),
      corruptOnCrashRate: pick(rng, [0, 0, 0.1, 0.3]),
      // A one- or two-node cluster has no quorum left without its corrupted node.
      maxCorruptNodes: size >= 5 ? 1 : Math.min(rng.int(2), size > 2 ? 1 : 0),
      maxFaultDurationUs: electionTicks * tickUs * pick(rng, [2, 5, 10]),
      maxClockDrift: pick(rng, [0, 0.02, 0.1, 0.3]),
      partitionKinds: ["symmetric", "oneWay", "isolate", "bridge"],
    },
    workload: {
      clients: pick(rng, [2, 4, 8]),
      keys: pick(rng, [1, 3, 8]),
      readRatio: between(rng, 0.2, 0.5),
      casRatio: between(rng, 0, 0.3),
      deleteRatio: between(rng, 0, 0.1),
      registryRatio: 0.1,
      requestTimeoutUs: electionTicks * tickUs * 3,
      thinkTimeUs: pick(rng, [0, 1_000, 10_000]),
      clientLatencyUs: pick(rng, [100, 500]),
    },
    chaosUs: pick(rng, [3_000_000, 6_000_000, 10_000_000]),
    livenessBoundUs: electionTicks * tickUs * 30,
    readOnlyOption: leaseReads ? "leaseBased" : "safe",
    membership: {
      spareNodes: membershipChanges ? 1 + wide.int(2) : 0,
      changesPerSec: membershipChanges ? 0.5 + wide.next() * 2 : 0,
    },
  };
  if (leaseReads) {
    config.faults.pausePerSec = 0;
    config.faults.maxClockDrift = Math.min(config.faults.maxClockDrift, 0.02);
  }
  return config;
}
