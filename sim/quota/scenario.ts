/**
 * `quota-partition`: clients on every node of a 3-node cluster of production
 * nodes hammer one quota (several times its rate) while a nemesis isolates
 * leaders, crashes and restarts them, and cuts minorities off; every node's
 * clock is off by a seeded amount. Each node admits calls only from the
 * slices it took from the replicated bucket (`@safla/core/quota`).
 * Checked (see `checker.ts`): the tokens granted and the calls admitted
 * cluster-wide never exceed the bucket's refill plus the slices outstanding,
 * no node admits a call it holds no token for, the Raft safety checkers stay
 * quiet, and once the faults heal the quota grants again.
 *
 * @module
 */
import { SeededRng } from "@safla/core";
import type { KvQuery, NodeReply } from "@safla/core/node";
import type { NodeId } from "@safla/core/raft";
import type { CommandResult } from "@safla/core/state";
import { SimCluster } from "../cluster.ts";
import { Scheduler } from "../scheduler.ts";
import { PRODUCTION_PARTS } from "../simulation.ts";
import { type SwarmConfig, swarmConfig } from "../swarm.ts";
import { Trace } from "../trace.ts";
import { type AgentWorld, QuotaAgent, type QuotaBugs } from "./agent.ts";
import { type AdmissionRecord, checkQuota, type GrantRecord, type QuotaCheck } from "./checker.ts";

/** Options of {@link quotaPartition}. */
export interface QuotaPartitionOptions {
  /** An over-grant bug to plant (the checker must catch it). */
  readonly bugs?: QuotaBugs;
}

/** The figures of one run. */
export interface QuotaPartitionFigures {
  scenario: "quota-partition";
  seed: number;
  ratePerSec: number;
  burst: number;
  sliceTtlMs: number;
  clockSpreadMs: number;
  /** Calls offered, admitted and refused over the whole run. */
  calls: { offered: number; admitted: number; refused: number };
  /** Slices granted (each one replicated write) and their tokens. */
  slices: number;
  grantedTokens: number;
  /** Most tokens the bucket could have refilled over the run (burst + rate x time). */
  budgetTokens: number;
  faults: { isolations: number; crashes: number; minorityCuts: number; leaderChanges: number };
  /** Calls admitted in the calm second after the faults healed. */
  admittedAfterHeal: number;
  simulatedMs: number;
  check: QuotaCheck;
  /** Each must be 0. */
  violations: {
    safety: number;
    overGranted: number;
    unbackedAdmissions: number;
    overAdmitted: number;
    starvedAfterHeal: number;
  };
}

const RATE = { ratePerSec: 100, burst: 40 };
const SLICE_TTL_MS = 500;
const KEY = "/gateway/quota/0/scenario";
const MAX_CLOCK_OFFSET_MS = 30;
const CALL_INTERVAL_US = 2_000;
const CHAOS_US = 6_000_000;
const CALM_US = 1_500_000;
const STEP_US = 10_000;

function scenarioConfig(seed: number): SwarmConfig {
  const base = swarmConfig(seed, 3);
  return {
    ...base,
    electionTicks: 10,
    heartbeatTicks: 1,
    tickUs: 10_000,
    preVote: true,
    checkQuorum: true,
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
 * const figures = quotaPartition(1);
 * console.assert(Object.values(figures.violations).every((n) => n === 0));
 * ```
 */
export function quotaPartition(
  seed: number,
  options: QuotaPartitionOptions = {},
): QuotaPartitionFigures {
  const config = scenarioConfig(seed);
  const rng = new SeededRng(seed);
  const scheduler = new Scheduler();
  const trace = new Trace(40);
  const routes = new Map<number, QuotaAgent>();
  const hopUs = config.network.latencyMinUs;
  const cluster = new SimCluster<KvQuery, CommandResult>(
    scheduler,
    rng.fork(),
    config,
    PRODUCTION_PARTS,
    trace,
    {
      onReply: (node, requestId, reply: NodeReply<CommandResult>) => {
        const agent = routes.get(requestId);
        routes.delete(requestId);
        scheduler.after(hopUs, () => agent?.onReply(node, requestId, reply));
      },
    },
    {},
  );
  let nextRequestId = 1;
  const grants: GrantRecord[] = [];
  const admissions: AdmissionRecord[] = [];
  const world: AgentWorld = {
    scheduler,
    ids: cluster.ids,
    reachable: (a, b) => cluster.network.connected(a, b) && cluster.network.connected(b, a),
    deliver: (id, event) => cluster.deliver(id, event),
    register: (agent) => {
      const id = nextRequestId++;
      routes.set(id, agent);
      return id;
    },
    grants,
    admissions,
  };
  const offsets = cluster.ids.map(() => rng.int(2 * MAX_CLOCK_OFFSET_MS + 1) - MAX_CLOCK_OFFSET_MS);
  const agents = cluster.ids.map((id, i) =>
    new QuotaAgent(id, world, {
      key: KEY,
      rate: RATE,
      sliceTtlMs: SLICE_TTL_MS,
      hopUs,
      requestTimeoutUs: 300_000,
      bugs: options.bugs ?? {},
    }, offsets[i])
  );
  const leaderOf = (): NodeId | undefined =>
    cluster.ids.find((id) => {
      const p = cluster.process(id);
      return p.status === "up" && p.node?.softState.role === "leader";
    });
  const faults = { isolations: 0, crashes: 0, minorityCuts: 0, leaderChanges: 0 };
  cluster.onRoleChanged = (_id, role) => {
    if (role === "leader") faults.leaderChanges++;
  };

  cluster.bootstrap();
  const startUs = scheduler.nowUs;
  const endChaosUs = startUs + CHAOS_US;
  let offered = 0;
  const hammer = (agent: QuotaAgent): void => {
    if (scheduler.nowUs >= endChaosUs + CALM_US) return;
    offered++;
    agent.call();
    scheduler.after(CALL_INTERVAL_US + rng.int(CALL_INTERVAL_US), () => hammer(agent));
  };
  for (const agent of agents) scheduler.after(rng.int(CALL_INTERVAL_US), () => hammer(agent));

  // The nemesis: one fault at a time, each healed before the next.
  const nemesis = (): void => {
    if (scheduler.nowUs >= endChaosUs) return;
    const leader = leaderOf();
    const outageUs = 200_000 + rng.int(700_000);
    const roll = rng.next();
    if (leader !== undefined && roll < 0.4) {
      cluster.network.isolate(leader, cluster.ids);
      faults.isolations++;
      scheduler.after(outageUs, () => cluster.network.heal());
    } else if (leader !== undefined && roll < 0.7) {
      cluster.crash(leader);
      faults.crashes++;
      scheduler.after(outageUs, () => cluster.restart(leader));
    } else {
      const cut = cluster.ids[rng.int(cluster.ids.length)];
      cluster.network.isolate(cut, cluster.ids);
      faults.minorityCuts++;
      scheduler.after(outageUs, () => cluster.network.heal());
    }
    scheduler.after(outageUs + 100_000 + rng.int(400_000), nemesis);
  };
  scheduler.after(500_000, nemesis);

  while (scheduler.nowUs < endChaosUs + CALM_US && cluster.violations.length === 0) {
    scheduler.runUntil(scheduler.nowUs + STEP_US, 200_000);
  }
  const calmStartUs = endChaosUs + CALM_US - 1_000_000;
  const admittedAfterHeal = admissions.filter((a) => a.timeUs >= calmStartUs).length;
  const clockSpreadMs = Math.max(...offsets) - Math.min(...offsets);
  const check = checkQuota(grants, admissions, {
    ratePerSec: RATE.ratePerSec,
    burst: RATE.burst,
    sliceTtlUs: SLICE_TTL_MS * 1000,
    clockSpreadUs: clockSpreadMs * 1000,
  });
  const simulatedUs = scheduler.nowUs - startUs;
  return {
    scenario: "quota-partition",
    seed,
    ratePerSec: RATE.ratePerSec,
    burst: RATE.burst,
    sliceTtlMs: SLICE_TTL_MS,
    clockSpreadMs,
    calls: {
      offered,
      admitted: admissions.length,
      refused: agents.reduce((sum, a) => sum + a.refused, 0),
    },
    slices: grants.length,
    grantedTokens: grants.reduce((sum, g) => sum + g.count, 0),
    budgetTokens: Math.floor(RATE.burst + (RATE.ratePerSec * simulatedUs) / 1e6),
    faults,
    admittedAfterHeal,
    simulatedMs: Math.round(simulatedUs / 1000),
    check,
    violations: {
      safety: cluster.violations.length,
      overGranted: check.overGranted,
      unbackedAdmissions: check.unbackedAdmissions,
      overAdmitted: check.overAdmitted,
      // Healthy, the quota grants ~its rate; a third of it is a generous floor.
      starvedAfterHeal: admittedAfterHeal >= RATE.ratePerSec / 3 ? 0 : 1,
    },
  };
}
