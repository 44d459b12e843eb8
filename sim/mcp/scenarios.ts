/**
 * Named scenarios for the call path: simulated MCP backends under faults,
 * driven through the production call router. Each is a pure function of its
 * seed and options that returns its figures as a JSON-ready object; the
 * invariants the issue asks for are figures too (counts of violations), so a
 * test and `deno task sim --scenario NAME --json` read the same numbers.
 *
 * @module
 */
import { STRATEGY_NAMES, type StrategyName } from "@safla/core/balancer";
import { DEFAULT_HEALTH_POLICY } from "@safla/core/registry";
import type { SimCallResult, SimToolCall } from "./driver.ts";
import { quantile } from "./latency.ts";
import { buildService, poissonWorkload, runUntil } from "./service.ts";

const READ_ONLY = { readOnlyHint: true } as const;
const IDEMPOTENT = { idempotentHint: true } as const;

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Latency summary of a set of calls. */
export interface LatencyFigures {
  /** Calls measured. */
  calls: number;
  /** Median client latency, ms. */
  p50Ms: number;
  /** 99th percentile client latency, ms. */
  p99Ms: number;
  /** Mean client latency, ms. */
  meanMs: number;
}

function latencyFigures(results: readonly SimCallResult[]): LatencyFigures {
  const latencies = results.map((r) => r.latencyMs);
  const sum = latencies.reduce((a, b) => a + b, 0);
  return {
    calls: latencies.length,
    p50Ms: round(quantile(latencies, 0.5)),
    p99Ms: round(quantile(latencies, 0.99)),
    meanMs: round(latencies.length === 0 ? NaN : sum / latencies.length),
  };
}

/** Options of {@link slowReplica}. */
export interface SlowReplicaOptions {
  /** Strategies to compare. Default: all built-in ones. */
  readonly strategies?: readonly StrategyName[];
  /** Offered load, calls per second. Default 600 (about 45% of capacity before the slowdown). */
  readonly ratePerSecond?: number;
  /** Length of the workload, ms. Default 10 000. */
  readonly durationMs?: number;
  /** When the slow replica turns slow, ms. Default 1 000. */
  readonly slowAtMs?: number;
  /** Service time multiplier of the slow replica. Default 10. */
  readonly slowdownFactor?: number;
  /** Client request timeout; a timed-out read is retried elsewhere. Default 1 000 ms. */
  readonly requestTimeoutMs?: number;
}

/** Figures of one strategy in {@link slowReplica}. */
export interface SlowReplicaStrategyFigures extends LatencyFigures {
  /** Calls that did not end with a result. */
  failed: number;
  /** Share of attempts after the slowdown that went to the slow replica. */
  slowReplicaShare: number;
  /** Retry verdicts the router gave. */
  retries: number;
}

/**
 * `slow-replica`: one of four replicas becomes `slowdownFactor` times slower under
 * steady load (all calls read-only, 1 s request timeout). Reports client latency of
 * the calls issued after the slowdown, per strategy, and the p99 ratio of round robin
 * to P2C with peak EWMA.
 */
export function slowReplica(
  seed: number,
  options: SlowReplicaOptions = {},
): Record<string, unknown> {
  const strategies = options.strategies ?? STRATEGY_NAMES;
  const ratePerSecond = options.ratePerSecond ?? 600;
  const durationMs = options.durationMs ?? 10_000;
  const slowAtMs = options.slowAtMs ?? 1_000;
  const slowdownFactor = options.slowdownFactor ?? 10;
  const requestTimeoutMs = options.requestTimeoutMs ?? 1_000;
  const slowReplicaId = "r3";
  const perStrategy: Record<string, SlowReplicaStrategyFigures> = {};
  for (const strategy of strategies) {
    const service = buildService({
      seed,
      strategy,
      replicaCount: 4,
      tools: ["search"],
      driver: { requestTimeoutMs },
    });
    let attemptsBefore = 0;
    let slowBefore = 0;
    service.scheduler.at(slowAtMs * 1000, () => {
      service.backends[3].setSlowdown(slowdownFactor);
      attemptsBefore = sum(service.driver.attemptsByReplica.values());
      slowBefore = service.driver.attemptsByReplica.get(slowReplicaId)!;
    });
    service.driver.startHousekeeping(durationMs);
    poissonWorkload(service, ratePerSecond, 0, durationMs, () => ({
      toolName: "search",
      annotations: READ_ONLY,
    }));
    runUntil(service, durationMs + 5 * requestTimeoutMs);
    const measured = service.driver.results.filter((r) => r.openedMs >= slowAtMs);
    const attemptsAfter = sum(service.driver.attemptsByReplica.values()) - attemptsBefore;
    const slowAfter = service.driver.attemptsByReplica.get(slowReplicaId)! - slowBefore;
    perStrategy[strategy] = {
      ...latencyFigures(measured),
      failed: measured.filter((r) => r.result !== "ok").length,
      slowReplicaShare: round(attemptsAfter === 0 ? 0 : slowAfter / attemptsAfter),
      retries: service.router.metrics().retries,
    };
  }
  const rr = perStrategy["round-robin"];
  const p2c = perStrategy["p2c-peak-ewma"];
  return {
    scenario: "slow-replica",
    seed,
    replicas: 4,
    slowReplica: slowReplicaId,
    slowdownFactor,
    ratePerSecond,
    durationMs,
    slowAtMs,
    requestTimeoutMs,
    strategies: perStrategy,
    p99RatioRoundRobinToP2c: rr !== undefined && p2c !== undefined
      ? round(rr.p99Ms / p2c.p99Ms)
      : null,
  };
}

function sum(values: Iterable<number>): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}

/** Options of {@link replicaCrash}. */
export interface ReplicaCrashOptions {
  /** Offered load, calls per second. Default 300. */
  readonly ratePerSecond?: number;
  /** Length of the workload, ms. Default 6 000. */
  readonly durationMs?: number;
  /** When replica r1 crashes, ms. Default 2 000. */
  readonly crashAtMs?: number;
  /** When it restarts, ms (omit: never). Default 4 000. */
  readonly restartAtMs?: number;
  /** Hedge repeat-safe calls unanswered after this long; omit for no hedging. */
  readonly hedgeDelayMs?: number;
}

/**
 * `replica-crash`: replica r1 of three dies under load (and restarts later). 40% of
 * the calls are read-only, 20% idempotent, 40% neither. Executions are counted
 * at the simulated backends. The `violations` figures must all be zero: repeat-safe
 * calls that did not succeed, unsafe calls executed more than once, unsafe calls that
 * saw an unknown outcome and did not end in `OutcomeUnknownError`, and unsafe calls
 * that succeeded without exactly one execution.
 */
export function replicaCrash(
  seed: number,
  options: ReplicaCrashOptions = {},
): Record<string, unknown> {
  const ratePerSecond = options.ratePerSecond ?? 300;
  const durationMs = options.durationMs ?? 6_000;
  const crashAtMs = options.crashAtMs ?? 2_000;
  const restartAtMs = options.restartAtMs ?? 4_000;
  const service = buildService({
    seed,
    strategy: "p2c-peak-ewma",
    replicaCount: 3,
    tools: ["get", "put", "append"],
    concurrency: 32,
    latency: { medianMs: 100, sigma: 0.5, tailProbability: 0.01, tailAlpha: 1.5, maxMs: 2_000 },
    router: { hedgeDelayMs: options.hedgeDelayMs },
    driver: { hedging: options.hedgeDelayMs !== undefined },
  });
  service.scheduler.at(crashAtMs * 1000, () => service.driver.crash("r1"));
  if (restartAtMs !== undefined) {
    service.scheduler.at(restartAtMs * 1000, () => service.driver.restart("r1"));
  }
  service.driver.startHousekeeping(durationMs);
  poissonWorkload(service, ratePerSecond, 0, durationMs, (rng): SimToolCall => {
    const u = rng.next();
    if (u < 0.4) return { toolName: "get", annotations: READ_ONLY };
    if (u < 0.6) return { toolName: "put", annotations: IDEMPOTENT };
    return { toolName: "append" };
  });
  runUntil(service, durationMs + 5_000);
  const executions = (callId: number): number =>
    service.backends.reduce((total, b) => total + b.executionsOf(callId), 0);
  const results = service.driver.results;
  const safe = results.filter((r) => r.repeatSafe);
  const unsafe = results.filter((r) => !r.repeatSafe);
  const count = (rs: readonly SimCallResult[], result: string): number =>
    rs.filter((r) => r.result === result).length;
  const metrics = service.router.metrics();
  return {
    scenario: "replica-crash",
    seed,
    replicas: 3,
    crashed: "r1",
    crashAtMs,
    restartAtMs: restartAtMs ?? null,
    ratePerSecond,
    durationMs,
    repeatSafe: { ...latencyFigures(safe), ok: count(safe, "ok") },
    unsafe: {
      calls: unsafe.length,
      ok: count(unsafe, "ok"),
      outcomeUnknown: count(unsafe, "OutcomeUnknownError"),
      outcomeUnknownExecutedOnce:
        unsafe.filter((r) => r.result === "OutcomeUnknownError" && executions(r.callId) === 1)
          .length,
      outcomeUnknownNeverExecuted:
        unsafe.filter((r) => r.result === "OutcomeUnknownError" && executions(r.callId) === 0)
          .length,
      failedOverAfterNotSent:
        unsafe.filter((r) => r.result === "ok" && r.outcomes.includes("not-sent")).length,
    },
    router: {
      retries: metrics.retries,
      failovers: metrics.failovers,
      hedges: metrics.hedges,
      outcomeUnknown: metrics.outcomeUnknown,
    },
    executions: service.backends.map((b) => b.executed),
    violations: {
      repeatSafeNotOk: safe.length - count(safe, "ok"),
      unsafeExecutedTwice: unsafe.filter((r) => executions(r.callId) > 1).length,
      unknownNotReported:
        unsafe.filter((r) => r.outcomes.includes("unknown") && r.result !== "OutcomeUnknownError")
          .length,
      unsafeOkNotExecutedOnce:
        unsafe.filter((r) => r.result === "ok" && executions(r.callId) !== 1).length,
      attemptsLeftInFlight: metrics.inFlight,
    },
  };
}

/** Options of {@link flapping}. */
export interface FlappingOptions {
  /** Offered load, calls per second. Default 200. */
  readonly ratePerSecond?: number;
  /** Length of the workload, ms. Default 20 000. */
  readonly durationMs?: number;
  /** The flapping replica serves, then fails, for this long each. Default 200 ms. */
  readonly halfPeriodMs?: number;
  /** Breaker open duration. Default 2 000 ms. */
  readonly breakerOpenMs?: number;
  /** Base outlier ejection time. Default 3 000 ms. */
  readonly baseEjectionMs?: number;
}

/**
 * `flapping`: replica r0 of four alternates between serving and failing every
 * `halfPeriodMs`. Reports how often the health state machine, the breaker and the
 * outlier detector changed their minds compared with how often the replica flipped,
 * with the bounds they must stay within, and whether every (repeat-safe) call still
 * succeeded.
 */
export function flapping(seed: number, options: FlappingOptions = {}): Record<string, unknown> {
  const ratePerSecond = options.ratePerSecond ?? 200;
  const durationMs = options.durationMs ?? 20_000;
  const halfPeriodMs = options.halfPeriodMs ?? 200;
  const breakerOpenMs = options.breakerOpenMs ?? 2_000;
  const baseEjectionMs = options.baseEjectionMs ?? 3_000;
  const service = buildService({
    seed,
    strategy: "p2c-peak-ewma",
    replicaCount: 4,
    tools: ["lookup", "upsert"],
    router: {
      health: DEFAULT_HEALTH_POLICY,
      breaker: { openDurationMs: breakerOpenMs },
      outlier: { baseEjectionMs },
    },
  });
  const minDwellMs = DEFAULT_HEALTH_POLICY.minDwellMs;
  let flips = 0;
  const flap = (atMs: number, failing: boolean): void => {
    if (atMs >= durationMs) return;
    service.scheduler.at(atMs * 1000, () => {
      service.backends[0].setFailing(failing);
      flips += 1;
      flap(atMs + halfPeriodMs, !failing);
    });
  };
  flap(halfPeriodMs, true);
  service.driver.startHousekeeping(durationMs);
  poissonWorkload(
    service,
    ratePerSecond,
    0,
    durationMs,
    (rng): SimToolCall =>
      rng.next() < 0.5
        ? { toolName: "lookup", annotations: READ_ONLY }
        : { toolName: "upsert", annotations: IDEMPOTENT },
  );
  runUntil(service, durationMs + 5_000);
  const flapper = service.driver.eventCounts().get("r0")!;
  const results = service.driver.results;
  const attempts = sum(service.driver.attemptsByReplica.values());
  // Each health change after the first verdict needs minDwellMs in the previous state;
  // each breaker cycle (closed → open → half-open → closed) needs the open duration.
  const healthBound = 1 + Math.floor(durationMs / minDwellMs);
  const breakerBound = 3 * (1 + Math.floor(durationMs / breakerOpenMs));
  return {
    scenario: "flapping",
    seed,
    replicas: 4,
    flapping: "r0",
    halfPeriodMs,
    durationMs,
    flips,
    healthTransitions: flapper.health,
    healthTransitionBound: healthBound,
    breakerTransitions: flapper.breaker,
    breakerTransitionBound: breakerBound,
    ejections: flapper.ejections,
    flapperAttemptShare: round(service.driver.attemptsByReplica.get("r0")! / attempts),
    ok: results.filter((r) => r.result === "ok").length,
    ...latencyFigures(results),
    violations: {
      callsNotOk: results.filter((r) => r.result !== "ok").length,
      healthOverBound: Math.max(0, flapper.health - healthBound),
      breakerOverBound: Math.max(0, flapper.breaker - breakerBound),
      attemptsLeftInFlight: service.router.metrics().inFlight,
    },
  };
}
