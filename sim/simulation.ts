/**
 * One simulation run: a seed, a configuration derived from it, a cluster of
 * production nodes under a fault injector and a client workload, then a
 * healed liveness phase, with the checkers watching throughout.
 *
 * Phases: chaos (faults and clients), heal (every fault undone, clients
 * stop issuing and their last operations finish or time out), liveness
 * (one leader and converged logs within a bound), then the linearizability
 * check of the whole client history.
 *
 * @module
 */

import { SeededRng } from "@safla/core";
import { RawNode, type TestingBugs } from "@safla/core/raft";
import { type KvQuery, KvStateMachine, type NodeReply } from "@safla/core/node";
import type { CommandResult } from "@safla/core/state";
import { operationsAround } from "./checkers/history_excerpt.ts";
import { checkKvHistory, type KvCheckResult } from "./checkers/kv_model.ts";
import { LivenessChecker, type LivenessNodeView } from "./checkers/liveness.ts";
import { formatViolation } from "./checkers/raft_safety.ts";
import { type ClusterParts, type DriverBugs, SimCluster } from "./cluster.ts";
import { Nemesis, type NemesisStats } from "./nemesis.ts";
import {
  MEMBERSHIP_NEMESIS_REQUEST_BASE,
  MembershipNemesis,
  type MembershipStats,
} from "./membership_nemesis.ts";
import {
  type RegistryNodeView,
  registryProblems,
  type RegistryTapBugs,
  RegistryTappedKvStateMachine,
} from "./registry_check.ts";
import { Scheduler } from "./scheduler.ts";
import { type SwarmConfig, swarmConfig } from "./swarm.ts";
import { formatTraceEvent, Trace, type TraceEvent } from "./trace.ts";
import { allEvents, WatchFollower } from "./watch_follower.ts";
import { CampaignWatchers, type LeaderStore } from "./campaign_watchers.ts";
import { KvWorkload, type WorkloadBugs, type WorkloadStats } from "./workload.ts";

/** Everything that can be injected into one run to show that the checkers catch it. */
export interface InjectedBugs {
  /** Driver bugs (disk, persistence). */
  driver?: DriverBugs;
  /** Raft mutation knobs. */
  raft?: TestingBugs;
  /** Client-side bugs. */
  workload?: WorkloadBugs;
  /** The watch follower resumes from the new leader's latest revision after a leader change. */
  watchResumesFromNow?: boolean;
  /** The first state machine made (node n1's at bootstrap) feeds its registry wrongly. */
  registryTap?: RegistryTapBugs;
}

/** How to run one seed. */
export interface SimulationOptions {
  /** The seed. */
  seed: number;
  /** Overrides the drawn cluster size. */
  nodeCount?: number;
  /** Adjusts the drawn configuration (scenarios use this). */
  adjust?: (config: SwarmConfig) => SwarmConfig;
  /** Bugs to inject. */
  bugs?: InjectedBugs;
  /** Events kept for the report of a failure. */
  traceTailSize?: number;
  /** Called with every trace event (for `--seed` replay printing). */
  onTrace?: (e: TraceEvent) => void;
  /** Stop at the first safety violation (default true). */
  stopAtFirstViolation?: boolean;
  /** Search budget of the linearizability checker per key. */
  linearizabilityMaxSteps?: number;
}

/** A broken property found by a run. */
export interface SimViolation {
  /** Which check. */
  kind: "safety" | "linearizability" | "liveness" | "watch" | "registry" | "crash" | "network";
  /** What is wrong, readable. */
  detail: string;
  /** For a linearizability violation: the client operations around it, witness marked `*`. */
  operationsAround?: string[];
}

/** The outcome of one run. */
export interface SimulationResult {
  /** The seed. */
  seed: number;
  /** The configuration the seed gave. */
  config: SwarmConfig;
  /** Everything that went wrong (empty when the run passed). */
  violations: SimViolation[];
  /** Hash of the whole trace: equal for two runs of one seed. */
  traceHash: string;
  /** Events recorded in the trace. */
  traceEvents: number;
  /** Last trace events, formatted. */
  traceTail: string[];
  /** Scheduler events run. */
  schedulerEvents: number;
  /** Events handled by nodes (the safety checkers observe after each that changed anything). */
  nodeEvents: number;
  /** Virtual time simulated. */
  simulatedUs: number;
  /** Linearizability verdict. */
  linearizability: KvCheckResult["status"] | "skipped";
  /** Highest index known committed. */
  committedIndex: number;
  /** Highest term any node reached. */
  maxTerm: number;
  /** Voters at the end (from the most advanced running node). */
  finalVoters: string[];
  /** The node removed by a `removeLeaderAtUs` scenario, once its removal was applied. */
  removedNode: string | null;
  /** Client counters. */
  workload: WorkloadStats;
  /** Fault counters. */
  faults: NemesisStats;
  /** Membership changes requested, by kind. */
  membershipChanges: MembershipStats;
  /** Liveness: ticks after the heal until convergence, or null if it never came. */
  convergedAfterTicks: number | null;
}

/** The production parts the simulator runs. */
export const PRODUCTION_PARTS: ClusterParts<KvQuery, CommandResult> = {
  createRaft: (config) => new RawNode(config),
  createStateMachine: () => new KvStateMachine(),
};

/** How often the campaign's watchers are served by the leader's watch hub. */
const WATCH_POLL_US = 20_000;

/** Bound on scheduler events per run: a livelocked run ends instead of spinning. */
const MAX_EVENTS_PER_RUN = 20_000_000;
const CHUNK_EVENTS = 2_000;

/**
 * Runs one seed.
 *
 * @example
 * ```ts ignore
 * const result = runSimulation({ seed: 1 });
 * console.assert(result.violations.length === 0);
 * ```
 */
export function runSimulation(options: SimulationOptions): SimulationResult {
  const base = swarmConfig(options.seed, options.nodeCount);
  const config = options.adjust ? options.adjust(base) : base;
  const bugs = options.bugs ?? {};
  const stopAtFirst = options.stopAtFirstViolation ?? true;
  const rng = new SeededRng(options.seed);
  const scheduler = new Scheduler();
  const trace = new Trace(options.traceTailSize ?? 40);
  trace.onEvent = options.onTrace;
  const replies: { to?: KvWorkload } = {};
  const membership = new LeaderRemoval(scheduler, trace);
  let stateMachinesMade = 0;
  const cluster = new SimCluster<KvQuery, CommandResult>(
    scheduler,
    rng.fork(),
    config,
    {
      ...PRODUCTION_PARTS,
      // Still the production state machine; the tap only feeds each node's registry.
      createStateMachine: () =>
        new RegistryTappedKvStateMachine(++stateMachinesMade === 1 ? bugs.registryTap : {}),
    },
    trace,
    {
      onReply: (node, requestId, reply) => {
        // The membership nemesis abandons its requests: their outcome shows in the log.
        if (requestId >= MEMBERSHIP_NEMESIS_REQUEST_BASE) return;
        if (requestId >= MEMBERSHIP_REQUEST_BASE) membership.onReply(requestId, reply);
        else replies.to?.onReply(node, requestId, reply);
      },
    },
    { ...bugs.driver, raft: bugs.raft },
  );
  const workload = new KvWorkload(scheduler, rng.fork(), config.workload, cluster, trace, {
    ...bugs.workload,
  });
  replies.to = workload;
  cluster.onObserved = (p) => {
    const sm = p.stateMachine;
    if (!(sm instanceof KvStateMachine) || p.node === undefined) return;
    const problems = cluster.progress.observe(p.id, p.incarnation, {
      appliedIndex: p.node.appliedIndex,
      revision: sm.store.revision,
      keys: sm.store.size,
    });
    for (const detail of problems) cluster.report({ rule: "stateRegressed", nodeId: p.id, detail });
  };
  const nemesis = new Nemesis(scheduler, rng.fork(), config.faults, cluster, trace);
  // Its own stream, so that seeds without membership changes keep every other draw.
  const membershipNemesis = new MembershipNemesis(
    scheduler,
    new SeededRng(options.seed ^ 0x3e3b),
    cluster,
    trace,
    cluster.initialVoters,
  );
  const violations: SimViolation[] = [];
  let convergedAfterTicks: number | null = null;
  const watchers = new CampaignWatchers(options.seed, config.chaosUs, {
    resumeFromNow: bugs.watchResumesFromNow,
  });
  const pollWatch = (): void => {
    watchers.poll(scheduler.nowUs, runningLeaders(cluster));
    if (scheduler.nowUs < config.chaosUs) scheduler.after(WATCH_POLL_US, pollWatch);
  };
  scheduler.after(WATCH_POLL_US, pollWatch);

  const runUntil = (untilUs: number): void => {
    while (scheduler.nowUs < untilUs) {
      if (scheduler.executed > MAX_EVENTS_PER_RUN) {
        throw new Error(`run exceeded ${MAX_EVENTS_PER_RUN} events`);
      }
      scheduler.runUntil(untilUs, CHUNK_EVENTS);
      if (stopAtFirst && cluster.violations.length > 0) return;
    }
  };

  if (config.removeLeaderAtUs !== undefined) {
    scheduler.at(config.removeLeaderAtUs, () => membership.start(cluster));
  }
  try {
    cluster.bootstrap();
    workload.start(config.chaosUs);
    nemesis.start(config.chaosUs);
    membershipNemesis.start(config.membership.changesPerSec, config.chaosUs);
    runUntil(config.chaosUs);
    if (!(stopAtFirst && cluster.violations.length > 0)) {
      nemesis.healAll();
      const healUs = scheduler.nowUs;
      const tickOf = (us: number) => Math.floor(us / config.tickUs);
      const liveness = new LivenessChecker({
        healTick: tickOf(healUs),
        boundTicks: Math.ceil(config.livenessBoundUs / config.tickUs),
        membership: { voters: currentVoters(cluster) },
      });
      // Clients stop issuing at the heal; the phase runs until the cluster has
      // converged and the clients' last operations have finished or timed out.
      const endUs = healUs + config.livenessBoundUs + config.workload.requestTimeoutUs;
      let verdict = liveness.verdict;
      while (scheduler.nowUs < endUs) {
        runUntil(scheduler.nowUs + config.tickUs);
        if (stopAtFirst && cluster.violations.length > 0) break;
        if (verdict.status === "pending") {
          verdict = liveness.observe(
            tickOf(scheduler.nowUs),
            livenessViews(cluster),
            currentMembership(cluster),
          );
        }
        if (verdict.status !== "pending" && workload.inFlight === 0) break;
      }
      if (verdict.status === "converged") {
        convergedAfterTicks = verdict.afterTicks;
        // Convergence is judged on commit indices; the watch check needs every
        // running voter to have applied its whole log (the new leader's entry
        // commits everything before it), so let that happen first.
        const caughtUpBy = scheduler.nowUs + config.livenessBoundUs;
        while (scheduler.nowUs < caughtUpBy && !allApplied(cluster)) {
          runUntil(scheduler.nowUs + config.tickUs);
        }
        watchers.poll(scheduler.nowUs, runningLeaders(cluster));
        for (const detail of watchProblems(cluster, watchers)) {
          violations.push({ kind: "watch", detail });
        }
        for (const detail of registryProblems(registryViews(cluster))) {
          violations.push({ kind: "registry", detail });
        }
      } else if (cluster.violations.length === 0 || !stopAtFirst) {
        violations.push({ kind: "liveness", detail: verdict.reason });
      }
    }
  } catch (error) {
    const detail = error instanceof Error
      ? `${error.message}\n${error.stack ?? ""}`
      : String(error);
    violations.push({ kind: "crash", detail });
    trace.record(scheduler.nowUs, "-", "EXCEPTION", error instanceof Error ? error.message : "");
  }
  for (const v of cluster.violations) {
    violations.unshift({ kind: "safety", detail: formatViolation(v) });
  }
  const net = cluster.network.stats;
  if (net.oversized > 0) {
    violations.push({
      kind: "network",
      detail: `${net.oversized} messages over the ${config.network.maxMessageBytes}-byte limit ` +
        `(largest ${net.largestMessageBytes} bytes)`,
    });
  }
  let linearizability: SimulationResult["linearizability"] = "skipped";
  if (!violations.some((v) => v.kind === "crash")) {
    const verdict = checkKvHistory(workload.history(), {
      maxSteps: options.linearizabilityMaxSteps ?? 1_000_000,
    });
    linearizability = verdict.status;
    if (verdict.status === "notLinearizable") {
      violations.push({
        kind: "linearizability",
        detail: `key ${verdict.key}: ${verdict.explanation.text}`,
        operationsAround: operationsAround(
          workload.history(),
          verdict.key,
          verdict.explanation.witness,
        ),
      });
    }
  }
  return {
    seed: options.seed,
    config,
    violations,
    traceHash: trace.hash,
    traceEvents: trace.count,
    traceTail: trace.tail().map(formatTraceEvent),
    schedulerEvents: scheduler.executed,
    nodeEvents: cluster.nodeEvents,
    simulatedUs: scheduler.nowUs,
    linearizability,
    committedIndex: cluster.checker.highestCommitted,
    finalVoters: currentVoters(cluster),
    removedNode: membership.removed,
    maxTerm: Math.max(
      0,
      ...cluster.ids.map((id) => cluster.process(id).node?.term ?? 0),
    ),
    workload: { ...workload.stats },
    faults: { ...nemesis.stats },
    membershipChanges: { ...membershipNemesis.stats },
    convergedAfterTicks,
  };
}

function runningLeaders(cluster: SimCluster<KvQuery, CommandResult>): LeaderStore[] {
  const out: LeaderStore[] = [];
  for (const id of cluster.ids) {
    const p = cluster.process(id);
    if (p.status !== "up" || !p.node || p.node.softState.role !== "leader") continue;
    if (!(p.stateMachine instanceof KvStateMachine)) continue;
    out.push({ term: p.node.term, store: p.stateMachine.store });
  }
  return out;
}

/**
 * The watcher's events against the canonical history (that of the running
 * node with the highest revision), and every running node's history against
 * it too: the same revision must carry the same events everywhere.
 */
function watchProblems(
  cluster: SimCluster<KvQuery, CommandResult>,
  watchers: CampaignWatchers,
): string[] {
  const stores = cluster.ids
    .map((id) => cluster.process(id).stateMachine)
    .filter((sm): sm is KvStateMachine => sm instanceof KvStateMachine)
    .map((sm) => sm.store);
  if (stores.length === 0) return [];
  stores.sort((a, b) => b.revision - a.revision);
  const canonical = allEvents(stores[0].history);
  const problems = watchers.check(canonical);
  for (const store of stores.slice(1)) {
    const follower = new WatchFollower();
    follower.poll([{ term: 0, history: store.history }]);
    problems.push(...follower.check(canonical).map((p) => `node history: ${p}`));
  }
  return problems;
}

/** Every running voter's registry, as its own applied KV changes built it. */
function registryViews(cluster: SimCluster<KvQuery, CommandResult>): RegistryNodeView[] {
  const voters = new Set(currentVoters(cluster));
  const views: RegistryNodeView[] = [];
  for (const id of cluster.ids) {
    const sm = cluster.process(id).stateMachine;
    if (!voters.has(id) || cluster.process(id).status !== "up") continue;
    if (sm instanceof RegistryTappedKvStateMachine) views.push({ nodeId: id, stateMachine: sm });
  }
  return views;
}

/** Request ids of membership changes, apart from the workload's. */
const MEMBERSHIP_REQUEST_BASE = 1_000_000_000;

/**
 * A client that asks the current leader to remove itself (the "removing
 * the leader" bug class), retrying until the change is applied.
 */
class LeaderRemoval {
  readonly #scheduler: Scheduler;
  readonly #trace: Trace;
  #nextRequestId = MEMBERSHIP_REQUEST_BASE;
  #attempts = 0;
  #cluster: SimCluster<KvQuery, CommandResult> | undefined;
  removed: string | null = null;

  constructor(scheduler: Scheduler, trace: Trace) {
    this.#scheduler = scheduler;
    this.#trace = trace;
  }

  start(cluster: SimCluster<KvQuery, CommandResult>): void {
    this.#cluster = cluster;
    this.#attempt();
  }

  #attempt(): void {
    const cluster = this.#cluster!;
    if (this.removed !== null || this.#attempts++ > 200) return;
    const leaders = cluster.ids.filter((id) => {
      const p = cluster.process(id);
      return p.status === "up" && p.node?.softState.role === "leader";
    });
    if (leaders.length === 0) {
      this.#scheduler.after(50_000, () => this.#attempt());
      return;
    }
    const leader = leaders.reduce((a, b) =>
      cluster.process(b).node!.term > cluster.process(a).node!.term ? b : a
    );
    const requestId = this.#nextRequestId++;
    this.#trace.record(this.#scheduler.nowUs, leader, "removeSelf", `#${requestId}`);
    cluster.deliver(leader, {
      type: "request",
      requestId,
      request: {
        kind: "confChange",
        change: { transition: "auto", changes: [{ type: "removeNode", nodeId: leader }] },
      },
    });
    // Unanswered or refused: try again with whoever leads then.
    this.#scheduler.after(200_000, () => this.#attempt());
  }

  onReply(requestId: number, reply: NodeReply<CommandResult>): void {
    if (!reply.ok || !("confState" in reply) || this.removed !== null) return;
    const all = this.#cluster!.ids;
    this.removed = all.find((id) => !reply.confState.voters.includes(id)) ?? null;
    this.#trace.record(this.#scheduler.nowUs, "-", "removed", `${this.removed} #${requestId}`);
  }
}

/** Whether every running voter has applied every entry of the longest of their logs. */
function allApplied(cluster: SimCluster<KvQuery, CommandResult>): boolean {
  const voters = new Set(currentVoters(cluster));
  const running = cluster.ids
    .filter((id) => voters.has(id) && cluster.process(id).status === "up")
    .map((id) => cluster.process(id).node)
    .filter((node) => node !== undefined);
  // Every one has applied its whole log, and the logs are equally long: a follower whose
  // log still ends one entry short (the leader's last append in flight) has applied all it
  // has, yet not what the others applied (seed 1220 at cd958a9).
  const last = Math.max(0, ...running.map((node) => node.storage.lastIndex()));
  return running.every((node) => node.appliedIndex === last);
}

/** Voters as the running node that has applied the most knows them. */
function currentVoters(cluster: SimCluster<KvQuery, CommandResult>): string[] {
  const m = currentMembership(cluster);
  return [...new Set([...m.voters, ...m.votersOutgoing])].sort();
}

/** The configuration (both halves when joint) of the running node that has applied the most. */
function currentMembership(
  cluster: SimCluster<KvQuery, CommandResult>,
): { voters: string[]; votersOutgoing: string[] } {
  let best: { applied: number; voters: string[]; votersOutgoing: string[] } | undefined;
  for (const id of cluster.ids) {
    const node = cluster.process(id).node;
    if (!node || node.confState.voters.length === 0) continue;
    if (!best || node.appliedIndex > best.applied) {
      const { voters, votersOutgoing } = node.confState;
      best = { applied: node.appliedIndex, voters, votersOutgoing };
    }
  }
  return best ?? { voters: [...cluster.initialVoters], votersOutgoing: [] };
}

function livenessViews(cluster: SimCluster<KvQuery, CommandResult>): LivenessNodeView[] {
  const voters = new Set(currentVoters(cluster));
  return cluster.ids.map((id) => {
    const p = cluster.process(id);
    const node = p.node;
    // Nodes removed from the configuration no longer take part.
    if (p.status !== "up" || !node || !voters.has(id)) {
      return {
        nodeId: id,
        live: false,
        term: 0,
        role: "follower",
        lead: null,
        commitIndex: 0,
        lastIndex: 0,
        lastTerm: 0,
      };
    }
    const storage = node.storage;
    const hs = storage.initialState().hardState;
    const lastIndex = storage.lastIndex();
    return {
      nodeId: id,
      live: true,
      term: hs.term,
      role: node.softState.role,
      lead: node.softState.lead,
      commitIndex: hs.commit,
      lastIndex,
      lastTerm: storage.term(lastIndex),
    };
  });
}
