/**
 * Assembles one simulated logical service: a scheduler, backends, the
 * production call router and the driver, all derived from one seed, plus a
 * Poisson workload. Scenarios only say what differs.
 *
 * @module
 */
import { SeededRng, withDefaults } from "@safla/core";
import type { StrategyName } from "@safla/core/balancer";
import { CallRouter, type CallRouterOptions } from "@safla/core/routing";
import { Scheduler } from "../scheduler.ts";
import { SimBackend } from "./backend.ts";
import {
  DEFAULT_DRIVER_OPTIONS,
  McpDriver,
  type McpDriverOptions,
  type SimToolCall,
} from "./driver.ts";
import { DEFAULT_LATENCY, LatencyModel, type LatencyModelOptions } from "./latency.ts";

/** What a scenario chooses about its service. */
export interface SimServiceConfig {
  /** Seed that derives every random choice. */
  readonly seed: number;
  /** Balancing strategy. */
  readonly strategy: StrategyName;
  /** Number of replicas, named r0, r1, … */
  readonly replicaCount: number;
  /** Tools every replica offers. */
  readonly tools: readonly string[];
  /** Workers per backend. Default 4. */
  readonly concurrency?: number;
  /** Queue bound per backend. Default 10 000. */
  readonly queueLimit?: number;
  /** Service times. Default {@link DEFAULT_LATENCY}. */
  readonly latency?: LatencyModelOptions;
  /** Router tuning beyond strategy, replicas and rng. */
  readonly router?: Partial<CallRouterOptions>;
  /** Driver timing. */
  readonly driver?: Partial<McpDriverOptions>;
}

/** The assembled parts. */
export interface SimService {
  /** The shared virtual clock. */
  readonly scheduler: Scheduler;
  /** The production router under test. */
  readonly router: CallRouter;
  /** Backends, in replica order. */
  readonly backends: readonly SimBackend[];
  /** The driver performing the router's decisions. */
  readonly driver: McpDriver;
  /** Randomness reserved for the workload. */
  readonly workloadRng: SeededRng;
}

/**
 * Builds a service. The random streams are forked in a fixed order, so two services
 * with the same seed and different strategies see the same arrivals.
 *
 * @example
 * ```ts
 * import { buildService } from "./service.ts";
 * const service = buildService({ seed: 1, strategy: "round-robin", replicaCount: 2, tools: ["t"] });
 * service.driver.call({ toolName: "t" });
 * service.scheduler.runUntil(5_000_000, 1_000);
 * console.assert(service.driver.results[0].result === "ok");
 * ```
 */
export function buildService(config: SimServiceConfig): SimService {
  const root = new SeededRng(config.seed);
  const routerRng = root.fork();
  const workloadRng = root.fork();
  const scheduler = new Scheduler();
  const latency = new LatencyModel(config.latency ?? DEFAULT_LATENCY);
  const backends = Array.from(
    { length: config.replicaCount },
    (_, i) =>
      new SimBackend(scheduler, root.fork(), {
        id: `r${i}`,
        concurrency: config.concurrency ?? 4,
        queueLimit: config.queueLimit ?? 10_000,
        latency,
        errorReplyMs: 1,
      }),
  );
  const router = new CallRouter({
    serviceId: "sim",
    ...config.router,
    rng: routerRng,
    strategy: config.strategy,
    replicas: backends.map((b) => ({ id: b.id, tools: config.tools })),
    nowMs: 0,
  });
  const driver = new McpDriver(
    scheduler,
    router,
    backends,
    withDefaults(DEFAULT_DRIVER_OPTIONS, config.driver),
  );
  return { scheduler, router, backends, driver, workloadRng };
}

/**
 * Issues calls as a Poisson process of `ratePerSecond` from `fromMs` until `untilMs`,
 * each one drawn by `next`.
 */
export function poissonWorkload(
  service: SimService,
  ratePerSecond: number,
  fromMs: number,
  untilMs: number,
  next: (rng: SeededRng) => SimToolCall,
): void {
  if (!(ratePerSecond > 0)) throw new RangeError(`rate must be > 0, got ${ratePerSecond}`);
  const { scheduler, driver, workloadRng } = service;
  const meanGapMs = 1000 / ratePerSecond;
  const arrive = (atMs: number): void => {
    if (atMs >= untilMs) return;
    scheduler.at(atMs * 1000, () => {
      driver.call(next(workloadRng));
      arrive(atMs - meanGapMs * Math.log(1 - workloadRng.next()));
    });
  };
  arrive(fromMs);
}

/** Most events one scenario run may execute. */
export const MAX_SCENARIO_EVENTS = 20_000_000;

/** Runs the service's scheduler to `untilMs`; throws if the event bound is hit. */
export function runUntil(service: SimService, untilMs: number): void {
  service.scheduler.runUntil(untilMs * 1000, MAX_SCENARIO_EVENTS);
  if (service.scheduler.nowUs < untilMs * 1000) {
    throw new Error(`scenario exceeded ${MAX_SCENARIO_EVENTS} events before ${untilMs} ms`);
  }
}
