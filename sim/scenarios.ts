/**
 * Named scenarios for the known bug classes of DESIGN.md §2: each one is a
 * fault mix (a configuration adjustment) that stresses the class, and, where
 * the class can be injected without touching the production node, the
 * injected bug (see `bugs.ts`) that the checkers must catch under it.
 *
 * @module
 */

import { BUGS } from "./bugs.ts";
import type { InjectedBugs } from "./simulation.ts";
import type { SwarmConfig } from "./swarm.ts";

/** One named scenario. */
export interface Scenario {
  /** The bug class it stresses. */
  bugClass: string;
  /** The fault mix. */
  adjust: (config: SwarmConfig) => SwarmConfig;
  /** The bug to inject to demonstrate detection, if the class can be injected. */
  injectable?: string;
  /** Bugs injected when the scenario runs (none: the correct system). */
  bugs?: InjectedBugs;
}

const electionChurn = (c: SwarmConfig): SwarmConfig => ({
  ...c,
  faults: {
    ...c.faults,
    partitionPerSec: 3,
    pausePerSec: 2,
    crashPerSec: 1,
    corruptOnCrashRate: 0,
    maxFaultDurationUs: c.electionTicks * c.tickUs * 6,
  },
  workload: { ...c.workload, readRatio: 0.6, keys: 2, clients: 6 },
});

function asymmetric(guarded: boolean): (c: SwarmConfig) => SwarmConfig {
  return (c) => ({
    ...c,
    preVote: guarded,
    checkQuorum: guarded,
    // Lease reads need CheckQuorum.
    readOnlyOption: guarded ? c.readOnlyOption : "safe",
    faults: {
      ...c.faults,
      partitionKinds: ["oneWay"],
      partitionPerSec: 4,
      maxFaultDurationUs: c.electionTicks * c.tickUs * 20,
      crashPerSec: 0,
      pausePerSec: 0,
      clogPerSec: 0,
    },
  });
}

/** The catalogue, by CLI name. */
export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  staleReadDeposedLeader: {
    bugClass: "stale reads from a deposed leader",
    adjust: BUGS.staleReadFromDeposedLeader.adjust,
    injectable: "staleReadFromDeposedLeader",
  },
  readBeforeLeaderCommitsInTerm: {
    bugClass: "reads before the new leader commits an entry in its term",
    adjust: electionChurn,
  },
  ackBeforeFsync: {
    bugClass: "acknowledging before fsync",
    adjust: BUGS.ackBeforeFsync.adjust,
    injectable: "ackBeforeFsync",
  },
  votingStateNotPersisted: {
    bugClass: "voting state not persisted",
    adjust: BUGS.voteNotPersisted.adjust,
    injectable: "voteNotPersisted",
  },
  commitPreviousTermByCounting: {
    bugClass: "committing a previous term's entry by counting replicas",
    adjust: BUGS.commitPreviousTermByCounting.adjust,
    injectable: "commitPreviousTermByCounting",
  },
  truncateCommittedOnConflict: {
    bugClass: "truncating committed entries on a conflicting append",
    adjust: (c) => ({
      ...electionChurn(c),
      nodeCount: 5,
      workload: { ...c.workload, readRatio: 0.1, clients: 8, thinkTimeUs: 0 },
    }),
  },
  snapshotCompactionSlowFollower: {
    bugClass: "snapshot and compaction races with slow followers",
    adjust: (c) => ({
      ...c,
      snapshotEveryEntries: 20,
      faults: {
        ...c.faults,
        clogPerSec: 4,
        crashPerSec: 2,
        pausePerSec: 2,
        corruptOnCrashRate: 0,
        maxFaultDurationUs: c.electionTicks * c.tickUs * 10,
      },
      workload: { ...c.workload, readRatio: 0.2, thinkTimeUs: 0 },
    }),
  },
  removeLeader: {
    bugClass: "removing the leader",
    adjust: (c) => ({
      ...electionChurn(c),
      nodeCount: 5,
      removeLeaderAtUs: Math.floor(c.chaosUs / 3),
      // The one removal under test, so that the final voters are known.
      membership: { spareNodes: 0, changesPerSec: 0 },
      faults: { ...electionChurn(c).faults, crashPerSec: 0.5, partitionPerSec: 1 },
    }),
  },
  jointConsensus: {
    bugClass: "membership changes through joint consensus under faults",
    // A small old configuration and two spares: the incoming half can reach a quorum
    // the outgoing one has not, which is where a wrong joint rule shows.
    adjust: (c) => ({
      ...c,
      nodeCount: 3,
      membership: { spareNodes: 2, changesPerSec: 3 },
      faults: { ...c.faults, clogPerSec: 2, partitionPerSec: 1, corruptOnCrashRate: 0 },
    }),
  },
  leaseReadDeposedLeader: {
    bugClass: "lease reads from a leader that lost its quorum",
    // Lease reads on, partitions that cut leaders off, clients that keep asking them;
    // no pauses or clock drift, which lease reads cannot survive by design.
    adjust: (c) => {
      const stale = BUGS.staleReadFromDeposedLeader.adjust(c);
      return {
        ...stale,
        readOnlyOption: "leaseBased",
        faults: { ...stale.faults, pausePerSec: 0, maxClockDrift: 0 },
      };
    },
  },
  asymmetricPartition: {
    bugClass: "asymmetric partitions (PreVote and CheckQuorum on)",
    adjust: asymmetric(true),
  },
  asymmetricPartitionWithoutPreVote: {
    bugClass: "asymmetric partitions without PreVote and CheckQuorum (term inflation)",
    adjust: asymmetric(false),
  },
  watchEventsAcrossLeaderChanges: {
    bugClass: "watch events lost or reordered across leader changes",
    adjust: BUGS.watchResumesFromNow.adjust,
    injectable: "watchResumesFromNow",
  },
};

/** Names of every scenario, sorted. */
export function scenarioNames(): string[] {
  return Object.keys(SCENARIOS).sort();
}
