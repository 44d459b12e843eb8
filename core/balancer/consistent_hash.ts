/**
 * Consistent hashing for affinity: calls with the same key (a session id, a tool
 * argument) go to the same replica, and when a replica joins or leaves only the
 * keys on its arcs of the ring move — about `1/n` of them.
 *
 * @module
 */
import type { Rng } from "../rng.ts";
import type { StatsLookup } from "./stats.ts";
import type { PickRequest, Strategy } from "./strategy.ts";

/** Default number of points each replica places on the ring. */
export const DEFAULT_VIRTUAL_NODES_PER_REPLICA = 160;
/** Upper bound on ring points, to keep ring building bounded in time and memory. */
export const MAX_RING_POINTS = 1 << 20;
/** Upper bound on distinct replicas on one ring. */
export const MAX_RING_REPLICAS = 1 << 16;

/**
 * 32-bit hash of a string for ring placement: FNV-1a over UTF-16 code units,
 * finished with the MurmurHash3 avalanche step so nearby strings spread evenly.
 * Stable across runs and platforms.
 *
 * @example
 * ```ts
 * import { ringHash32 } from "@safla/core";
 * ringHash32("session-1") === ringHash32("session-1"); // true
 * ```
 */
export function ringHash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * An immutable hash ring over a set of replica ids, with virtual nodes. The ring
 * depends only on the set of ids, not on their order.
 *
 * @example
 * ```ts
 * import { HashRing } from "@safla/core";
 * const ring = new HashRing(["a", "b", "c"], 64);
 * ring.lookup("session-42") === ring.lookup("session-42"); // true
 * ```
 */
export class HashRing {
  /** Replica ids on this ring, as given. */
  readonly replicaIds: readonly string[];
  readonly #points: Uint32Array;
  readonly #owners: string[];

  /** Builds the ring; `virtualNodesPerReplica` points per replica. */
  constructor(replicaIds: readonly string[], virtualNodesPerReplica: number) {
    if (!Number.isSafeInteger(virtualNodesPerReplica) || virtualNodesPerReplica < 1) {
      throw new RangeError(
        `HashRing: virtualNodesPerReplica must be a positive integer, got ${virtualNodesPerReplica}`,
      );
    }
    const total = replicaIds.length * virtualNodesPerReplica;
    if (total > MAX_RING_POINTS) {
      throw new RangeError(
        `HashRing: ${replicaIds.length} replicas × ${virtualNodesPerReplica} virtual nodes ` +
          `exceeds ${MAX_RING_POINTS} ring points`,
      );
    }
    // Each point is packed with its owner's rank in id order into one float64
    // (32 + 16 bits, exact), so a numeric typed-array sort orders points and breaks
    // ties by id: the ring then depends only on the set of ids, not their order.
    const owners = [...new Set(replicaIds)].sort();
    if (owners.length > MAX_RING_REPLICAS) {
      throw new RangeError(`HashRing: more than ${MAX_RING_REPLICAS} replicas`);
    }
    const packed = new Float64Array(owners.length * virtualNodesPerReplica);
    let k = 0;
    for (let rank = 0; rank < owners.length; rank++) {
      for (let v = 0; v < virtualNodesPerReplica; v++) {
        packed[k++] = ringHash32(`${owners[rank]}#${v}`) * MAX_RING_REPLICAS + rank;
      }
    }
    packed.sort();
    this.replicaIds = [...replicaIds];
    this.#points = new Uint32Array(packed.length);
    this.#owners = new Array(packed.length);
    for (let i = 0; i < packed.length; i++) {
      const rank = packed[i] % MAX_RING_REPLICAS;
      this.#points[i] = (packed[i] - rank) / MAX_RING_REPLICAS;
      this.#owners[i] = owners[rank];
    }
  }

  /** The replica owning `key`: the first ring point at or after the key's hash. */
  lookup(key: string): string | undefined {
    const points = this.#points;
    if (points.length === 0) return undefined;
    const hash = ringHash32(key);
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid] < hash) lo = mid + 1;
      else hi = mid;
    }
    return this.#owners[lo === points.length ? 0 : lo];
  }
}

/** Tuning of {@link ConsistentHashStrategy}. */
export interface ConsistentHashOptions {
  /** Points on the ring per replica; more points spread keys more evenly. Default 160. */
  readonly virtualNodesPerReplica?: number;
}

/**
 * Consistent-hash affinity by `request.key`. The ring is cached and rebuilt only
 * when the candidate set changes. A pick without a key has no affinity to keep and
 * falls back to a uniform random candidate.
 *
 * @example
 * ```ts
 * import { ConsistentHashStrategy, SeededRng, StatsTable } from "@safla/core";
 * const strategy = new ConsistentHashStrategy();
 * const stats = new StatsTable();
 * const rng = new SeededRng(0);
 * const first = strategy.pick(["a", "b", "c"], stats, rng, { key: "session-9" });
 * strategy.pick(["a", "b", "c"], stats, rng, { key: "session-9" }) === first; // true
 * ```
 */
export class ConsistentHashStrategy implements Strategy {
  /** Registry name. */
  readonly name = "consistent-hash" as const;
  readonly #virtualNodesPerReplica: number;
  #ring: HashRing | undefined;

  /** Creates the strategy. */
  constructor(options: ConsistentHashOptions = {}) {
    this.#virtualNodesPerReplica = options.virtualNodesPerReplica ??
      DEFAULT_VIRTUAL_NODES_PER_REPLICA;
    if (
      !Number.isSafeInteger(this.#virtualNodesPerReplica) || this.#virtualNodesPerReplica < 1
    ) {
      throw new RangeError(
        `ConsistentHashStrategy: virtualNodesPerReplica must be a positive integer, ` +
          `got ${this.#virtualNodesPerReplica}`,
      );
    }
  }

  /** Picks the replica owning `request.key`, or a random one when there is no key. */
  pick(
    candidates: readonly string[],
    _stats: StatsLookup,
    rng: Rng,
    request?: PickRequest,
  ): string | undefined {
    const count = candidates.length;
    if (count === 0) return undefined;
    const key = request?.key;
    if (key === undefined) return candidates[rng.int(count)];
    return this.#ringFor(candidates).lookup(key);
  }

  #ringFor(candidates: readonly string[]): HashRing {
    const cached = this.#ring;
    if (cached !== undefined && sameIds(cached.replicaIds, candidates)) return cached;
    const ring = new HashRing(candidates, this.#virtualNodesPerReplica);
    this.#ring = ring;
    return ring;
  }
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
