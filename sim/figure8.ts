/**
 * A directed scenario: Figure 8 of the Raft paper, played step by step on
 * the simulated cluster (random search reaches it only with the leader-aimed
 * faults of the bug's fault mix, see `bugs.ts`). A leader that
 * commits an entry of an earlier term by counting replicas, then dies, lets
 * a later leader overwrite that "committed" entry; correct Raft never
 * commits it that way, so nothing committed is lost.
 *
 * Steps (5 nodes, elections only on demand):
 * 1. n1 leads; a partition {n1,n2} | {n3,n4,n5} leaves entry k (old term) on n1, n2 only.
 * 2. n1 crashes; n5 is elected by n3, n4 but its entry k (newer term) reaches no one; n5 crashes.
 * 3. n1 restarts and is elected again; its appends reach n2, and n3 only up to
 *    entry k, so entry k is on a majority while n1's own entry k+1 is not. If n1
 *    commits k (only the mutation does), or after a while, n1 crashes.
 * 4. n5 restarts and is elected by n3, n4 (its last term is newer), and overwrites k.
 *
 * @module
 */

import { SeededRng } from "@safla/core";
import type { TestingBugs } from "@safla/core/raft";
import type { KvQuery } from "@safla/core/node";
import { type CommandResult, encodeCommand } from "@safla/core/state";
import { formatViolation, type Violation } from "./checkers/raft_safety.ts";
import { SimCluster } from "./cluster.ts";
import { Scheduler } from "./scheduler.ts";
import { PRODUCTION_PARTS } from "./simulation.ts";
import { swarmConfig } from "./swarm.ts";
import { Trace } from "./trace.ts";

/** What the scripted run found. */
export interface Figure8Result {
  /** Safety violations the checker reported. */
  violations: Violation[];
  /** Readable violations. */
  details: string[];
  /** Whether step 3 saw n1 commit entry k before its own entry k+1 was on a majority. */
  oldEntryCommittedEarly: boolean;
  /** Whether step 4 elected n5, the node whose entry k differs. */
  newerLeaderElected: boolean;
  /** The last trace events. */
  traceTail: string[];
}

/** Runs the script with or without the Raft mutation. */
export function runFigure8(raftBugs: TestingBugs): Figure8Result {
  const base = swarmConfig(8, 5);
  const config = {
    ...base,
    electionTicks: 1_000,
    heartbeatTicks: 1,
    tickUs: 10_000,
    preVote: false,
    checkQuorum: false,
    maxSizePerMsgBytes: 0,
    maxInflightMsgs: 1,
    snapshotEveryEntries: 0,
    network: {
      ...base.network,
      latencyMinUs: 1_000,
      latencyMeanExtraUs: 0,
      slowRate: 0,
      lossRate: 0,
      duplicateRate: 0,
      reorderRate: 0,
    },
    disk: { ...base.disk, writeLatencyMinUs: 100, writeLatencyMeanExtraUs: 0, syncLatencyUs: 200 },
  };
  const scheduler = new Scheduler();
  const trace = new Trace(60);
  const cluster = new SimCluster<KvQuery, CommandResult>(
    scheduler,
    new SeededRng(8),
    config,
    PRODUCTION_PARTS,
    trace,
    { onReply: () => {} },
    { raft: raftBugs },
  );
  const net = cluster.network;
  const role = (id: string) => cluster.process(id).node?.softState.role;
  const lastIndex = (id: string) => cluster.process(id).node!.storage.lastIndex();
  const commit = (id: string) => cluster.process(id).node!.storage.initialState().hardState.commit;
  /** Runs until `done` holds (checked after every event), at most `forUs`. */
  const runUntil = (done: () => boolean, forUs: number): boolean => {
    const endUs = scheduler.nowUs + forUs;
    while (scheduler.nowUs < endUs) {
      if (done()) return true;
      if (scheduler.runUntil(endUs, 1) === 0) break;
    }
    return done();
  };
  const elect = (id: string): void => {
    for (let attempt = 0; attempt < 5 && role(id) !== "leader"; attempt++) {
      cluster.deliver(id, { type: "campaign" });
      runUntil(() => role(id) === "leader", 50_000);
    }
    if (role(id) !== "leader") throw new Error(`figure 8 script: ${id} was not elected`);
  };
  let requestId = 0;
  const put = (id: string, value: string): void => {
    const command = encodeCommand({ op: "put", key: "x", value });
    cluster.deliver(id, {
      type: "request",
      requestId: ++requestId,
      request: { kind: "command", command },
    });
  };

  cluster.bootstrap();
  runUntil(() => false, 20_000);
  // Step 1.
  elect("n1");
  put("n1", "settled");
  runUntil(() => commit("n3") >= lastIndex("n1"), 50_000);
  net.partition([["n1", "n2"], ["n3", "n4", "n5"]]);
  put("n1", "old-term");
  const k = lastIndex("n1") + 1;
  runUntil(() => lastIndex("n2") >= k, 50_000);
  // Step 2.
  cluster.crash("n1");
  net.heal();
  net.partition([["n1", "n2"], ["n3", "n4", "n5"]]);
  cluster.deliver("n5", { type: "campaign" });
  // Once n3 and n4 have voted, n5's appends must not reach them.
  runUntil(() =>
    cluster.process("n3").node!.storage.initialState().hardState.vote === "n5" &&
    cluster.process("n4").node!.storage.initialState().hardState.vote === "n5", 50_000);
  net.blockOneWay("n5", "n3");
  net.blockOneWay("n5", "n4");
  runUntil(() => role("n5") === "leader" && lastIndex("n5") >= k, 50_000);
  runUntil(() => false, 5_000);
  cluster.crash("n5");
  // Step 3.
  net.heal();
  cluster.restart("n1");
  elect("n1");
  net.blockOneWay("n1", "n4");
  // n3 may get entry k, but nothing after it: its acknowledgement still flows back.
  runUntil(() => lastIndex("n3") >= k, 100_000);
  net.blockOneWay("n1", "n3");
  let oldEntryCommittedEarly = false;
  runUntil(() => {
    const n1 = cluster.process("n1").node;
    if (!n1 || commit("n1") < k) return false;
    const onMajority = ["n1", "n2", "n3", "n4"].filter((id) => {
      const node = cluster.process(id).node;
      return node !== undefined && node.storage.lastIndex() > k;
    }).length >= 3;
    oldEntryCommittedEarly = !onMajority;
    return true;
  }, 200_000);
  cluster.crash("n1");
  // Step 4.
  net.heal();
  net.blockOneWay("n2", "n5");
  net.blockOneWay("n5", "n2");
  cluster.restart("n5");
  for (let attempt = 0; attempt < 10 && role("n5") !== "leader"; attempt++) {
    cluster.deliver("n5", { type: "campaign" });
    runUntil(() => role("n5") === "leader", 50_000);
  }
  const newerLeaderElected = role("n5") === "leader";
  put("n5", "new-term");
  runUntil(() => false, 200_000);
  return {
    newerLeaderElected,
    violations: cluster.violations,
    details: cluster.violations.map(formatViolation),
    oldEntryCommittedEarly,
    traceTail: trace.tail().map((e) => `${e.timeUs} ${e.node} ${e.kind} ${e.detail}`),
  };
}
