/**
 * A simulated network between cluster nodes: per-message latency drawn from a
 * distribution with a long tail, loss, duplication, reordering, per-link
 * capacity, clogging, and partitions (symmetric, one-way, isolate one node,
 * bridge), and a per-message size limit, all driven by one forked RNG.
 *
 * @module
 */

import type { SeededRng } from "@safla/core";
import type { Scheduler } from "./scheduler.ts";

/** Fault and timing knobs of the network. Rates are probabilities per message. */
export interface NetworkConfig {
  /** Minimum one-way latency. */
  latencyMinUs: number;
  /** Mean of the exponential extra latency on top of the minimum. */
  latencyMeanExtraUs: number;
  /** Probability that a message takes a slow path (10× the extra latency). */
  slowRate: number;
  /** Probability a message is dropped. */
  lossRate: number;
  /** Probability a message is delivered twice. */
  duplicateRate: number;
  /** Probability a message is held back (overtaken by later ones). */
  reorderRate: number;
  /** Link capacity in bytes per millisecond; a busy link queues messages. */
  capacityBytesPerMs: number;
  /** Bound on bytes queued per link; beyond it messages are dropped (tail drop). */
  linkQueueLimitBytes: number;
  /**
   * Largest message a link carries, as the real peer transport's frame
   * limit: a larger one is dropped and counted in `stats.oversized` (the
   * simulation reports any as a violation, as the real receiver drops the
   * whole connection).
   */
  maxMessageBytes: number;
}

/** Sensible defaults for a LAN. */
export const DEFAULT_NETWORK: NetworkConfig = {
  latencyMinUs: 200,
  latencyMeanExtraUs: 300,
  slowRate: 0.01,
  lossRate: 0,
  duplicateRate: 0,
  reorderRate: 0,
  capacityBytesPerMs: 100_000,
  linkQueueLimitBytes: 8_000_000,
  maxMessageBytes: 64 * 1024 * 1024,
};

interface Link {
  freeAtUs: number;
  queuedBytes: number;
  clogUntilUs: number;
}

/** Counters of what the network did. */
export interface NetworkStats {
  /** Messages handed to `send`. */
  sent: number;
  /** Messages delivered (duplicates counted). */
  delivered: number;
  /** Messages dropped for any reason. */
  dropped: number;
  /** Messages duplicated. */
  duplicated: number;
  /** Messages dropped for exceeding `maxMessageBytes` (also counted in `dropped`). */
  oversized: number;
  /** Largest message handed to `send`, in bytes. */
  largestMessageBytes: number;
}

/**
 * The network. `deliver` is called for every message that arrives.
 *
 * @example
 * ```ts
 * import { SeededRng } from "@safla/core";
 * import { Scheduler } from "./scheduler.ts";
 * import { DEFAULT_NETWORK, SimNetwork } from "./network.ts";
 * const s = new Scheduler();
 * const got: string[] = [];
 * const net = new SimNetwork<string>(s, new SeededRng(1), DEFAULT_NETWORK, () => 10,
 *   (_from, _to, m) => got.push(m));
 * net.send("a", "b", "hello");
 * s.runUntil(1_000_000, 100);
 * console.assert(got[0] === "hello");
 * ```
 */
export class SimNetwork<M> {
  readonly #scheduler: Scheduler;
  readonly #rng: SeededRng;
  readonly #sizeBytes: (m: M) => number;
  readonly #deliver: (from: string, to: string, m: M) => void;
  /** Links by sender, then receiver (nested maps: no key string per message). */
  readonly #links = new Map<string, Map<string, Link>>();
  /** Receivers each sender cannot reach. */
  readonly #blocked = new Map<string, Set<string>>();
  config: NetworkConfig;
  readonly stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    oversized: 0,
    largestMessageBytes: 0,
  };

  /** Builds a network over `scheduler`; `sizeBytes` estimates a message's wire size. */
  constructor(
    scheduler: Scheduler,
    rng: SeededRng,
    config: NetworkConfig,
    sizeBytes: (m: M) => number,
    deliver: (from: string, to: string, m: M) => void,
  ) {
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.config = config;
    this.#sizeBytes = sizeBytes;
    this.#deliver = deliver;
  }

  /** Whether `from` can currently reach `to`. */
  connected(from: string, to: string): boolean {
    const blocked = this.#blocked.get(from);
    return blocked === undefined || !blocked.has(to);
  }

  #block(from: string, to: string): void {
    let blocked = this.#blocked.get(from);
    if (blocked === undefined) {
      blocked = new Set();
      this.#blocked.set(from, blocked);
    }
    blocked.add(to);
  }

  /** Blocks the directed link `from` → `to` (a one-way partition). */
  blockOneWay(from: string, to: string): void {
    this.#block(from, to);
  }

  /** Splits nodes into groups; messages cross no group boundary. */
  partition(groups: string[][]): void {
    for (const g of groups) {
      for (const h of groups) {
        if (g === h) continue;
        for (const a of g) for (const b of h) this.#block(a, b);
      }
    }
  }

  /** Cuts `node` off from every other node, both ways. */
  isolate(node: string, all: string[]): void {
    this.partition([[node], all.filter((n) => n !== node)]);
  }

  /**
   * A bridge: two sides that cannot talk to each other, and one `bridge` node
   * that talks to both (a classic Jepsen nemesis).
   */
  bridge(left: string[], bridgeNode: string, right: string[]): void {
    if (left.includes(bridgeNode) || right.includes(bridgeNode)) {
      throw new RangeError(`bridge node ${bridgeNode} must be on neither side`);
    }
    this.partition([left, right]);
  }

  /** Removes every partition. */
  heal(): void {
    this.#blocked.clear();
  }

  /** Holds every message on `from` → `to` until `untilUs` (a clogged link). */
  clog(from: string, to: string, untilUs: number): void {
    this.#link(from, to).clogUntilUs = untilUs;
  }

  /** Ends every clog. */
  unclogAll(): void {
    for (const links of this.#links.values()) {
      for (const link of links.values()) link.clogUntilUs = 0;
    }
  }

  /** Sends one message; it may be lost, delayed, duplicated or reordered. */
  send(from: string, to: string, m: M): void {
    this.stats.sent++;
    const rng = this.#rng;
    const c = this.config;
    const sizeBytes = this.#sizeBytes(m);
    this.stats.largestMessageBytes = Math.max(this.stats.largestMessageBytes, sizeBytes);
    if (sizeBytes > c.maxMessageBytes) {
      this.stats.oversized++;
      this.stats.dropped++;
      return;
    }
    if (!this.connected(from, to) || (c.lossRate > 0 && rng.next() < c.lossRate)) {
      this.stats.dropped++;
      return;
    }
    const link = this.#link(from, to);
    if (link.queuedBytes + sizeBytes > c.linkQueueLimitBytes) {
      this.stats.dropped++;
      return;
    }
    const now = this.#scheduler.nowUs;
    const startUs = Math.max(now, link.freeAtUs, link.clogUntilUs);
    const transmitUs = (sizeBytes * 1000) / c.capacityBytesPerMs;
    link.freeAtUs = startUs + transmitUs;
    link.queuedBytes += sizeBytes;
    const copies = c.duplicateRate > 0 && rng.next() < c.duplicateRate ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      let latencyUs = c.latencyMinUs + this.#extraUs();
      if (c.reorderRate > 0 && rng.next() < c.reorderRate) latencyUs += this.#extraUs() * 20;
      const arriveUs = link.freeAtUs + latencyUs;
      const last = i === copies - 1;
      this.#scheduler.at(arriveUs, () => {
        if (last) link.queuedBytes -= sizeBytes;
        // A partition that started while the message was in flight also cuts it.
        if (!this.connected(from, to)) {
          this.stats.dropped++;
          return;
        }
        this.stats.delivered++;
        this.#deliver(from, to, m);
      });
    }
  }

  #extraUs(): number {
    const c = this.config;
    const mean = this.#rng.next() < c.slowRate ? c.latencyMeanExtraUs * 10 : c.latencyMeanExtraUs;
    return -Math.log(1 - this.#rng.next()) * mean;
  }

  #link(from: string, to: string): Link {
    let links = this.#links.get(from);
    if (links === undefined) {
      links = new Map();
      this.#links.set(from, links);
    }
    let link = links.get(to);
    if (link === undefined) {
      link = { freeAtUs: 0, queuedBytes: 0, clogUntilUs: 0 };
      links.set(to, link);
    }
    return link;
  }
}
