/**
 * The balancer's strategy contract and the registry that builds a strategy from
 * its configured name.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import type { StatsLookup } from "./stats.ts";
import { RoundRobinStrategy } from "./round_robin.ts";
import { WeightedResponseTimeStrategy } from "./weighted_response_time.ts";
import { LeastOutstandingStrategy } from "./least_outstanding.ts";
import { P2cPeakEwmaStrategy } from "./p2c_peak_ewma.ts";
import { ConsistentHashStrategy } from "./consistent_hash.ts";

/** What a single pick may depend on besides candidates, stats and randomness. */
export interface PickRequest {
  /** Affinity key (session id, tool argument) for strategies that hash; others ignore it. */
  readonly key?: string;
  /** Caller's clock, letting latency-aware strategies age stale estimates. */
  readonly nowMs?: number;
}

/**
 * A load-balancing strategy: chooses one replica id among `candidates`.
 *
 * Candidates are already filtered (see `selectCandidates`); a strategy returns one
 * of them, or `undefined` exactly when `candidates` is empty. All randomness comes
 * from `rng`, so a seeded simulation replays the same choices.
 *
 * @example
 * ```ts
 * import { createStrategy, SeededRng, StatsTable } from "@safla/core";
 * const strategy = createStrategy("p2c-peak-ewma");
 * const replica = strategy.pick(["a", "b", "c"], new StatsTable(), new SeededRng(1));
 * ```
 */
export interface Strategy {
  /** The registry name this strategy was created under. */
  readonly name: StrategyName;
  /** Picks one candidate, or returns `undefined` when there are none. */
  pick(
    candidates: readonly string[],
    stats: StatsLookup,
    rng: Rng,
    request?: PickRequest,
  ): string | undefined;
}

/** Every strategy name {@link createStrategy} understands. */
export const STRATEGY_NAMES = [
  "round-robin",
  "weighted-response-time",
  "least-outstanding",
  "p2c-peak-ewma",
  "consistent-hash",
] as const;

/** The name of a built-in strategy. */
export type StrategyName = (typeof STRATEGY_NAMES)[number];

/** Options for {@link createStrategy}; each strategy reads the fields it understands. */
export interface StrategyOptions {
  /** P2C: cost of a replica without latency samples but with calls in flight. Default 1 000 000. */
  readonly unsampledPenaltyMs?: number;
  /** P2C: time constant for aging an idle replica's peak EWMA (needs `nowMs` in the request). */
  readonly peakDecayMs?: number;
  /** Consistent hash: points on the ring per replica. Default 160. */
  readonly virtualNodesPerReplica?: number;
}

/** A configuration named a strategy the balancer does not have. */
export class UnknownStrategyError extends Error {
  /** The name that was asked for. */
  readonly strategy: string;
  /** The names that exist. */
  readonly known: readonly StrategyName[];
  /** Creates the error for the unknown `strategy` name. */
  constructor(strategy: string) {
    super(
      `unknown load-balancing strategy "${strategy}"; expected one of: ${
        STRATEGY_NAMES.join(", ")
      }`,
    );
    this.name = "UnknownStrategyError";
    this.strategy = strategy;
    this.known = STRATEGY_NAMES;
  }
}

/**
 * Whether `name` is a built-in strategy name.
 *
 * @example
 * ```ts
 * import { isStrategyName } from "@safla/core";
 * isStrategyName("round-robin"); // true
 * isStrategyName("random"); // false
 * ```
 */
export function isStrategyName(name: string): name is StrategyName {
  return (STRATEGY_NAMES as readonly string[]).includes(name);
}

/**
 * Builds a fresh strategy by name. Strategies with state (round robin's cursor, the
 * hash ring cache) are per instance, so create one per replica set.
 *
 * Throws {@link UnknownStrategyError} for any other name, so a typo in configuration
 * fails at load time with the list of valid names.
 *
 * @example
 * ```ts
 * import { createStrategy } from "@safla/core";
 * const strategy = createStrategy("consistent-hash", { virtualNodesPerReplica: 64 });
 * strategy.name; // "consistent-hash"
 * ```
 */
export function createStrategy(
  name: StrategyName | string,
  options: StrategyOptions = {},
): Strategy {
  if (!isStrategyName(name)) throw new UnknownStrategyError(name);
  switch (name) {
    case "round-robin":
      return new RoundRobinStrategy();
    case "weighted-response-time":
      return new WeightedResponseTimeStrategy();
    case "least-outstanding":
      return new LeastOutstandingStrategy();
    case "p2c-peak-ewma":
      return new P2cPeakEwmaStrategy(options);
    case "consistent-hash":
      return new ConsistentHashStrategy(options);
  }
}
