/**
 * `watch-across-failover`: a simulated cluster of production nodes (3 or
 * 5) under a write workload on a few prefixes, with several watch clients,
 * each attached to one node's hub, while the leader crashes, is partitioned
 * away and loses leadership, other nodes crash, pause and restart, links
 * clog, and clients drop off. Clients reconnect to another live node and
 * resume from the last `nextRevision` they received.
 *
 * After the faults heal and every client has caught up, each client's
 * events are checked against the global committed event sequence
 * (reconstructed from what the nodes applied): every matching event exactly
 * once, in revision order, no gaps except revisions a node reported
 * compacted. The result is a set of figures, the violations among them.
 *
 * @module
 */
import { SeededRng } from "@safla/core";
import type { KvQuery } from "@safla/core/node";
import { type CommandResult, type WatchEvent, type WatchFilter } from "@safla/core/state";
import { formatViolation } from "../checkers/raft_safety.ts";
import { SimCluster } from "../cluster.ts";
import { Nemesis } from "../nemesis.ts";
import { Scheduler } from "../scheduler.ts";
import { PRODUCTION_PARTS } from "../simulation.ts";
import { type SwarmConfig, swarmConfig } from "../swarm.ts";
import { Trace } from "../trace.ts";
import { AppliedLog, tappedStateMachines } from "./applied_log.ts";
import { type FailoverFaultStats, FailoverNemesis } from "./failover_nemesis.ts";
import { PrefixWriter, type PrefixWriterStats } from "./prefix_writer.ts";
import {
  type AttachPolicy,
  type ReconnectReason,
  type ResumeMutation,
  WatchClient,
} from "./watch_client.ts";
import {
  addWatchViolations,
  checkWatcher,
  indexCanonical,
  nodeHistoryMismatch,
  noWatchViolations,
  type WatchViolationCounts,
} from "./watch_checker.ts";
import { WatchServers } from "./watch_server.ts";

/** Options of {@link watchAcrossFailover}. */
export interface WatchAcrossFailoverOptions {
  /** Cluster size. Default: 3 for odd seeds, 5 for even ones. */
  readonly nodeCount?: 3 | 5;
  /** Length of the fault phase. Default 3 s or 20 election timeouts, whichever is longer. */
  readonly chaosUs?: number;
  /** Watch clients. Default 8. */
  readonly watchers?: number;
  /** Writers. Default 6. */
  readonly writers?: number;
  /** Events each node's watch history keeps (small: clients fall behind it). Default 100. */
  readonly historyLimitEvents?: number;
  /** A deliberately broken client resume, to show the checker catches it. */
  readonly mutation?: ResumeMutation;
}

/** The figures of one run. */
export interface WatchAcrossFailoverFigures {
  /** Scenario name. */
  scenario: "watch-across-failover";
  /** The seed. */
  seed: number;
  /** Cluster size. */
  nodeCount: number;
  /** The injected resume bug, or null. */
  mutation: ResumeMutation | null;
  /** Virtual time simulated, ms. */
  simulatedMs: number;
  /** Committed commands in the reference replay. */
  committedCommands: number;
  /** Last committed revision. */
  committedRevision: number;
  /** Events in the global committed sequence. */
  committedEvents: number;
  /** Watch clients. */
  watchers: number;
  /** Events received by all clients. */
  eventsDelivered: number;
  /** Events the clients were required to receive. */
  eventsExpected: number;
  /** Events clients skipped after a compaction error (re-reading the state instead). */
  eventsExcused: number;
  /** Reconnections of all clients. */
  reconnects: number;
  /** Reconnections by reason. */
  reconnectsByReason: Record<ReconnectReason, number>;
  /** Compaction errors clients received. */
  compactedErrors: number;
  /** Of those, running watches a node cancelled because they fell behind its history. */
  watchCancellations: number;
  /** Times a node became leader. */
  leaderElections: number;
  /** Leader changes (elections after the first). */
  leaderChanges: number;
  /** Faults injected. */
  faults: FailoverFaultStats & { crashes: number; pauses: number; clogs: number };
  /** The writers' counters. */
  writes: PrefixWriterStats;
  /** Hash of the whole trace (equal for two runs of one seed). */
  traceHash: string;
  /** Violations by kind; all zero when the run passed. */
  violations: WatchViolationCounts & {
    /** Running nodes whose retained watch history differs from the committed sequence. */
    nodeHistoryMismatch: number;
    /** Indices where two state machines applied different commands. */
    appliedLogDisagreement: number;
    /** Raft safety violations (sim/checkers) seen during the run. */
    raftSafety: number;
    /** 1 if the run threw. */
    crash: number;
  };
  /** The first problems found, readable. */
  problems: string[];
}

/** The selectors and attachment policies the clients cycle through. */
const CLIENT_SHAPES: ReadonlyArray<
  { filter: WatchFilter; fromStart: boolean; policy: AttachPolicy }
> = [
  { filter: { prefix: "" }, fromStart: true, policy: "leader" },
  { filter: { prefix: "services/" }, fromStart: true, policy: "any" },
  { filter: { prefix: "sessions/" }, fromStart: false, policy: "leader" },
  { filter: { key: "services/b" }, fromStart: true, policy: "any" },
  { filter: { pattern: "*/c" }, fromStart: false, policy: "any" },
  { filter: { prefix: "registry/" }, fromStart: true, policy: "leader" },
  { filter: { pattern: "s*s/a" }, fromStart: true, policy: "any" },
  { filter: { prefix: "" }, fromStart: false, policy: "any" },
];

const PREFIXES = ["services/", "sessions/", "registry/"];
const NAMES = ["a", "b", "c", "d"];
/** How often nodes hand watch deliveries out. */
const POLL_US = 5_000;
/** Bound on scheduler events per run. */
const MAX_EVENTS = 30_000_000;
const CHUNK_EVENTS = 5_000;
const MAX_PROBLEMS = 10;

/** A rate of one per `n` election timeouts, per second: faults leave time to recover. */
function perElections(electionUs: number, n: number): number {
  return 1_000_000 / (electionUs * n);
}

function scenarioConfig(seed: number, nodeCount: 3 | 5, chaosUs?: number): SwarmConfig {
  const base = swarmConfig(seed, nodeCount);
  const electionUs = base.electionTicks * base.tickUs;
  return {
    ...base,
    chaosUs: chaosUs ?? Math.max(3_000_000, 20 * electionUs),
    // Frequent snapshots: lagging nodes catch up by snapshot, history included.
    snapshotEveryEntries: 50,
    // The failover under test is the leader's, not a membership change.
    membership: { spareNodes: 0, changesPerSec: 0 },
    faults: {
      ...base.faults,
      crashPerSec: perElections(electionUs, 15),
      partitionPerSec: 0,
      clogPerSec: 0.5,
      pausePerSec: 0.5,
      corruptOnCrashRate: 0,
      maxCorruptNodes: 0,
      maxFaultDurationUs: electionUs * 4,
    },
  };
}

/**
 * Runs `watch-across-failover` for one seed and returns its figures.
 *
 * @example
 * ```ts ignore
 * const figures = watchAcrossFailover(1);
 * console.assert(Object.values(figures.violations).every((n) => n === 0));
 * ```
 */
export function watchAcrossFailover(
  seed: number,
  options: WatchAcrossFailoverOptions = {},
): WatchAcrossFailoverFigures {
  const nodeCount = options.nodeCount ?? (seed % 2 === 0 ? 5 : 3);
  const config = scenarioConfig(seed, nodeCount, options.chaosUs);
  const rng = new SeededRng(seed ^ 0x3a7c4);
  const scheduler = new Scheduler();
  const trace = new Trace(40);
  let leaderElections = 0;
  trace.onEvent = (e) => {
    if (e.kind === "role" && e.detail.startsWith("leader ")) leaderElections++;
  };
  const appliedLog = new AppliedLog();
  const replies: { to?: PrefixWriter } = {};
  const cluster = new SimCluster<KvQuery, CommandResult>(
    scheduler,
    rng.fork(),
    config,
    {
      createRaft: PRODUCTION_PARTS.createRaft,
      createStateMachine: tappedStateMachines(appliedLog, {
        historyLimitEvents: options.historyLimitEvents ?? 100,
      }),
    },
    trace,
    { onReply: (node, requestId, reply) => replies.to?.onReply(node, requestId, reply) },
    {},
  );
  const latencyUs = config.workload.clientLatencyUs;
  const writer = new PrefixWriter(scheduler, rng.fork(), {
    writers: options.writers ?? 6,
    prefixes: PREFIXES,
    names: NAMES,
    latencyUs,
    requestTimeoutUs: config.workload.requestTimeoutUs,
    thinkTimeUs: 2_000,
  }, cluster);
  replies.to = writer;
  const servers = new WatchServers(cluster);
  const electionUs = config.electionTicks * config.tickUs;
  const clients = Array.from({ length: options.watchers ?? 8 }, (_, i) => {
    const shape = CLIENT_SHAPES[i % CLIENT_SHAPES.length];
    return new WatchClient(scheduler, rng.fork(), cluster, servers, trace, {
      name: `watcher${i}`,
      ...shape,
      latencyUs,
      checkUs: config.tickUs,
      keepaliveUs: electionUs,
      noLeaderUs: electionUs,
      connectTimeoutUs: electionUs,
      backoffUs: config.tickUs * 2,
    }, options.mutation);
  });
  const nemesis = new Nemesis(scheduler, rng.fork(), config.faults, cluster, trace);
  const failover = new FailoverNemesis(
    scheduler,
    rng.fork(),
    {
      leaderCrashPerSec: perElections(electionUs, 8),
      leaderPartitionPerSec: perElections(electionUs, 10),
      clientOutagePerSec: 1.5,
      maxFaultDurationUs: electionUs * 4,
      maxOutageUs: 800_000,
    },
    cluster,
    clients,
    trace,
  );

  const problems: string[] = [];
  let crashed = 0;
  const drainBoundUs = config.livenessBoundUs + config.workload.requestTimeoutUs + 2_000_000;
  const endUs = config.chaosUs + drainBoundUs;
  const poll = (): void => {
    servers.pollAll();
    if (scheduler.nowUs < endUs) scheduler.after(POLL_US, poll);
  };
  const runUntil = (untilUs: number): void => {
    while (scheduler.nowUs < untilUs) {
      if (scheduler.executed > MAX_EVENTS) throw new Error(`run exceeded ${MAX_EVENTS} events`);
      scheduler.runUntil(untilUs, CHUNK_EVENTS);
    }
  };
  try {
    cluster.bootstrap();
    scheduler.after(POLL_US, poll);
    writer.start(config.chaosUs);
    for (const client of clients) {
      const startUs = rng.int(200_000);
      scheduler.after(startUs, () => client.start(endUs));
    }
    nemesis.start(config.chaosUs);
    failover.start(config.chaosUs);
    runUntil(config.chaosUs);
    nemesis.healAll();
    failover.healAll();
    // Drain: writes finish, then every client catches up with the newest revision.
    while (scheduler.nowUs < endUs && !caughtUp(servers, cluster.ids, clients, writer)) {
      runUntil(scheduler.nowUs + config.tickUs);
    }
  } catch (error) {
    crashed = 1;
    problems.push(error instanceof Error ? `${error.message}\n${error.stack}` : String(error));
  }

  const canonical = appliedLog.canonical();
  const positions = indexCanonical(canonical);
  const watchViolations = noWatchViolations();
  let eventsExpected = 0;
  let eventsExcused = 0;
  for (const client of clients) {
    const verdict = checkWatcher(
      {
        name: client.config.name,
        filter: client.config.filter,
        startRevision: client.startRevision,
        nextRevision: client.nextRevision,
        received: client.received,
        excused: client.excused,
      },
      canonical,
      positions,
    );
    addWatchViolations(watchViolations, verdict.violations);
    eventsExpected += verdict.expected;
    eventsExcused += verdict.excusedEvents;
    problems.push(...verdict.problems);
  }
  let nodeHistoryMismatches = 0;
  for (const id of cluster.ids) {
    const store = servers.store(id);
    if (store === undefined) continue;
    const retained: WatchEvent[] = [];
    store.history.forEachFrom(0, (e) => retained.push(e) > 0);
    const mismatch = nodeHistoryMismatch(retained, store.history.compactRevision, canonical);
    if (mismatch === undefined) continue;
    nodeHistoryMismatches++;
    problems.push(`${id}'s watch history ${mismatch}`);
  }
  problems.push(...appliedLog.disagreements);
  problems.push(...cluster.violations.map(formatViolation));

  const reconnectsByReason = sumReasons(clients);
  return {
    scenario: "watch-across-failover",
    seed,
    nodeCount,
    mutation: options.mutation ?? null,
    simulatedMs: Math.round(scheduler.nowUs / 1000),
    committedCommands: canonical.commands,
    committedRevision: canonical.lastRevision,
    committedEvents: canonical.events.length,
    watchers: clients.length,
    eventsDelivered: clients.reduce((n, c) => n + c.received.length, 0),
    eventsExpected,
    eventsExcused,
    reconnects: Object.values(reconnectsByReason).reduce((a, b) => a + b, 0),
    reconnectsByReason,
    compactedErrors: clients.reduce((n, c) => n + c.stats.compactedErrors, 0),
    watchCancellations: clients.reduce((n, c) => n + c.stats.cancellations, 0),
    leaderElections,
    leaderChanges: Math.max(0, leaderElections - 1),
    faults: {
      ...failover.stats,
      crashes: nemesis.stats.crashes,
      pauses: nemesis.stats.pauses,
      clogs: nemesis.stats.clogs,
    },
    writes: { ...writer.stats },
    traceHash: trace.hash,
    violations: {
      ...watchViolations,
      nodeHistoryMismatch: nodeHistoryMismatches,
      appliedLogDisagreement: appliedLog.disagreements.length,
      raftSafety: cluster.violations.length,
      crash: crashed,
    },
    problems: problems.slice(0, MAX_PROBLEMS),
  };
}

/** Writes are done and every client has received (or been told of) everything up to the newest revision. */
function caughtUp(
  servers: WatchServers,
  ids: readonly string[],
  clients: readonly WatchClient[],
  writer: PrefixWriter,
): boolean {
  if (writer.inFlight > 0) return false;
  let newest = 0;
  for (const id of ids) newest = Math.max(newest, servers.store(id)?.revision ?? 0);
  return newest > 0 && clients.every((c) => c.watching && c.nextRevision > newest);
}

function sumReasons(clients: readonly WatchClient[]): Record<ReconnectReason, number> {
  const sum = { ...clients[0]?.stats.reconnects } as Record<ReconnectReason, number>;
  for (const client of clients.slice(1)) {
    for (const [reason, n] of Object.entries(client.stats.reconnects)) {
      sum[reason as ReconnectReason] += n;
    }
  }
  return sum;
}
