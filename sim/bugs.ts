/**
 * Named bugs the simulator can inject to show its checkers catch them
 * (mutation testing of the test harness). Each bug lives in the simulated
 * driver, the workload, or Raft's `testingBugs` knob: the production node
 * code itself is never changed. Each also names the fault mix that exposes
 * it, as a configuration adjustment.
 *
 * @module
 */

import type { InjectedBugs } from "./simulation.ts";
import type { SwarmConfig } from "./swarm.ts";

/** One injectable bug. */
export interface BugDefinition {
  /** What the bug is, in the words of the bug class. */
  description: string;
  /** What is injected. */
  bugs: InjectedBugs;
  /** The fault mix that exposes it. */
  adjust: (config: SwarmConfig) => SwarmConfig;
}

const crashHeavy = (c: SwarmConfig): SwarmConfig => ({
  ...c,
  faults: {
    ...c.faults,
    corruptOnCrashRate: 0,
    crashPerSec: 4,
    partitionPerSec: 1,
    maxFaultDurationUs: c.electionTicks * c.tickUs * 3,
  },
});

const partitionHeavy = (c: SwarmConfig): SwarmConfig => ({
  ...c,
  faults: { ...c.faults, partitionPerSec: 3, maxFaultDurationUs: c.electionTicks * c.tickUs * 10 },
  workload: { ...c.workload, readRatio: 0.6, keys: 2 },
});

/** The catalogue, by CLI name. */
export const BUGS: Readonly<Record<string, BugDefinition>> = {
  ackBeforeFsync: {
    description:
      "the disk acknowledges writes before they are durable (acknowledging before fsync)",
    bugs: { driver: { acksBeforeSync: true } },
    adjust: (c) => ({ ...crashHeavy(c), disk: { ...c.disk, syncLatencyUs: 20_000 } }),
  },
  voteNotPersisted: {
    description: "the driver persists the hard state without the vote (voting state not persisted)",
    bugs: { driver: { dropsVoteOnPersist: true } },
    // Double votes need a voter to restart within one election: quick crash-restart
    // cycles, frequent elections, and slow links so that elections overlap.
    adjust: (c) => ({
      ...c,
      nodeCount: 3,
      preVote: false,
      network: { ...c.network, latencyMinUs: 2_000, latencyMeanExtraUs: 3_000, lossRate: 0.05 },
      faults: {
        ...c.faults,
        corruptOnCrashRate: 0,
        crashPerSec: 20,
        partitionPerSec: 4,
        pausePerSec: 4,
        maxFaultDurationUs: c.tickUs * 4,
      },
    }),
  },
  commitPreviousTermByCounting: {
    description:
      "the leader commits a previous term's entry by counting replicas (Raft paper §5.4.2, Figure 8)",
    bugs: { raft: { commitPreviousTermByCounting: true } },
    // Figure 8 needs leaders in a row whose first entries stay on a minority (cut off or
    // crashed as they take office), a leader that counts an old-term entry onto a
    // majority and dies right after committing it, and then a leader without that entry.
    adjust: (c) => {
      const electionUs = c.electionTicks * c.tickUs;
      const network = {
        ...c.network,
        latencyMinUs: 1_000,
        latencyMeanExtraUs: 5_000,
        lossRate: 0.1,
      };
      const roundTripUs = 2 * (network.latencyMinUs + network.latencyMeanExtraUs);
      return {
        ...c,
        nodeCount: 5,
        // One entry per append, one append in flight: an old-term entry can reach a
        // majority before the new leader's own entry does.
        maxSizePerMsgBytes: 0,
        maxInflightMsgs: 1,
        network,
        chaosUs: 20_000_000,
        // Logs grow long under this load with one entry per append: time to converge.
        livenessBoundUs: electionUs * 100,
        faults: {
          ...c.faults,
          corruptOnCrashRate: 0,
          crashPerSec: 0.3,
          partitionPerSec: 0,
          clogPerSec: 1,
          pausePerSec: 0,
          maxFaultDurationUs: electionUs * 2,
          newLeaderIsolateRate: 0.5,
          newLeaderCrashRate: 0.5,
          newLeaderCrashWithinUs: 3 * roundTripUs,
          leaderCommitCrashRate: 0.5,
        },
        workload: { ...c.workload, clients: 8, thinkTimeUs: 0, readRatio: 0.3 },
      };
    },
  },
  leaderCountsSelfBeforeDurable: {
    description:
      "the leader counts its own entries towards commit before they are on its disk (asyncLeaderAppend)",
    bugs: { raft: { leaderCountsSelfBeforeDurable: true } },
    // The node sends nothing of a ready taken while a write is in flight, so the
    // early commit never leaves the leader before its write is durable: only the
    // durable-quorum check sees it. Slow, uneven writes widen the window.
    adjust: (c) => ({
      ...c,
      disk: { ...c.disk, writeLatencyMeanExtraUs: 3_000, syncLatencyUs: 1_000 },
    }),
  },
  commitAheadBeforeDurable: {
    description:
      "the node applies committed entries ahead of their write though they are not yet durable",
    bugs: { raft: { commitAheadBeforeDurable: true } },
    // Applied entries a crash then loses, or a follower's entries about to be
    // overwritten, need crashes and leader changes while writes are in flight.
    adjust: crashHeavy,
  },
  watchResumesFromNow: {
    description:
      "a watcher that changes leader resumes from the new leader's latest revision, losing events",
    bugs: { watchResumesFromNow: true },
    adjust: (c) => ({
      ...c,
      faults: {
        ...c.faults,
        partitionPerSec: 3,
        crashPerSec: 1,
        corruptOnCrashRate: 0,
        maxFaultDurationUs: c.electionTicks * c.tickUs * 6,
      },
      workload: { ...c.workload, readRatio: 0.1, keys: 3, clients: 6, thinkTimeUs: 0 },
    }),
  },
  staleReadFromDeposedLeader: {
    description:
      "reads are answered from local state without ReadIndex, so a deposed leader serves stale data",
    bugs: { workload: { serializableReadsAsLinearizable: true } },
    adjust: partitionHeavy,
  },
};

/** Names of every bug, sorted. */
export function bugNames(): string[] {
  return Object.keys(BUGS).sort();
}
