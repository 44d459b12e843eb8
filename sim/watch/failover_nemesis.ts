/**
 * Faults aimed at what watches must survive, on top of the general fault
 * injector: the leader crashes (and restarts later), the leader is cut off
 * alone or with a minority, and watch clients drop off for a while (long
 * enough, with a short history, to fall behind it).
 *
 * @module
 */
import type { SeededRng } from "@safla/core";
import type { NodeId } from "@safla/core/raft";
import type { KvQuery } from "@safla/core/node";
import type { CommandResult } from "@safla/core/state";
import type { SimCluster } from "../cluster.ts";
import type { Scheduler } from "../scheduler.ts";
import type { Trace } from "../trace.ts";
import type { WatchClient } from "./watch_client.ts";

/** Rates (per simulated second) and bounds of the failover faults. */
export interface FailoverFaultConfig {
  /** Crashes of the current leader. */
  leaderCrashPerSec: number;
  /** Partitions that leave the leader alone or in a minority. */
  leaderPartitionPerSec: number;
  /** Watch client outages. */
  clientOutagePerSec: number;
  /** Longest a crash or partition lasts. */
  maxFaultDurationUs: number;
  /** Longest a client outage lasts. */
  maxOutageUs: number;
}

/** Counters of injected failover faults. */
export interface FailoverFaultStats {
  /** Leaders crashed. */
  leaderCrashes: number;
  /** Partitions around the leader. */
  leaderPartitions: number;
  /** Client outages. */
  clientOutages: number;
}

/**
 * The failover nemesis.
 *
 * @example
 * ```ts ignore
 * const nemesis = new FailoverNemesis(scheduler, rng, faults, cluster, clients, trace);
 * nemesis.start(chaosEndUs);
 * ```
 */
export class FailoverNemesis {
  readonly #scheduler: Scheduler;
  readonly #rng: SeededRng;
  readonly #faults: FailoverFaultConfig;
  readonly #cluster: SimCluster<KvQuery, CommandResult>;
  readonly #clients: readonly WatchClient[];
  readonly #trace: Trace;
  readonly #crashed = new Set<NodeId>();
  #endUs = 0;
  #partitioned = false;
  #healed = false;
  /** Faults injected so far. */
  readonly stats: FailoverFaultStats = { leaderCrashes: 0, leaderPartitions: 0, clientOutages: 0 };

  /** A nemesis over `cluster` and `clients`. */
  constructor(
    scheduler: Scheduler,
    rng: SeededRng,
    faults: FailoverFaultConfig,
    cluster: SimCluster<KvQuery, CommandResult>,
    clients: readonly WatchClient[],
    trace: Trace,
  ) {
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.#faults = faults;
    this.#cluster = cluster;
    this.#clients = clients;
    this.#trace = trace;
  }

  /** Schedules faults until `endUs`. */
  start(endUs: number): void {
    this.#endUs = endUs;
    const f = this.#faults;
    // One leader crash for sure, a third into the phase; the rates add more at random.
    this.#scheduler.after(endUs / 3, () => this.#crashLeaderSoon(endUs));
    this.#every(f.leaderCrashPerSec, () => this.#crashLeader());
    this.#every(f.leaderPartitionPerSec, () => this.#partitionLeader());
    this.#every(f.clientOutagePerSec, () => this.#clientOutage());
  }

  /** Undoes every fault it caused: heals its partition, restarts its crashes, ends outages. */
  healAll(): void {
    this.#healed = true;
    if (this.#partitioned) this.#cluster.network.heal();
    this.#partitioned = false;
    for (const id of this.#crashed) this.#cluster.restart(id);
    this.#crashed.clear();
    for (const client of this.#clients) client.endOutage();
  }

  #every(perSec: number, inject: () => void): void {
    if (!(perSec > 0)) return;
    const meanUs = 1_000_000 / perSec;
    const schedule = (): void => {
      const delayUs = -Math.log(1 - this.#rng.next()) * meanUs;
      if (this.#scheduler.nowUs + delayUs >= this.#endUs) return;
      this.#scheduler.after(delayUs, () => {
        if (this.#healed) return;
        inject();
        schedule();
      });
    };
    schedule();
  }

  #durationUs(maxUs: number): number {
    return maxUs / 4 + this.#rng.int(Math.max(1, Math.floor((maxUs * 3) / 4)));
  }

  /** The running leader of the highest term. */
  #leader(): NodeId | undefined {
    let best: { id: NodeId; term: number } | undefined;
    for (const id of this.#cluster.ids) {
      const p = this.#cluster.process(id);
      if (p.status !== "up" || p.node?.softState.role !== "leader") continue;
      if (best === undefined || p.node.term > best.term) best = { id, term: p.node.term };
    }
    return best?.id;
  }

  /** Crashes the leader as soon as there is one (before `endUs`). */
  #crashLeaderSoon(endUs: number): void {
    if (this.#healed) return;
    if (this.#crashLeader()) return;
    const retryUs = this.#cluster.ids.length * 10_000;
    if (this.#scheduler.nowUs + retryUs < endUs) {
      this.#scheduler.after(retryUs, () => this.#crashLeaderSoon(endUs));
    }
  }

  /** Crashes the leader, if there is one; returns whether it did. */
  #crashLeader(): boolean {
    const leader = this.#leader();
    if (leader === undefined) return false;
    this.#cluster.crash(leader);
    this.#crashed.add(leader);
    this.stats.leaderCrashes++;
    this.#trace.record(this.#scheduler.nowUs, leader, "crashLeader", "");
    this.#scheduler.after(this.#durationUs(this.#faults.maxFaultDurationUs), () => {
      if (this.#healed || !this.#crashed.delete(leader)) return;
      this.#cluster.restart(leader);
    });
    return true;
  }

  #partitionLeader(): void {
    const leader = this.#leader();
    if (leader === undefined || this.#partitioned) return;
    const others = this.#cluster.ids.filter((id) => id !== leader);
    for (let i = others.length - 1; i > 0; i--) {
      const j = this.#rng.int(i + 1);
      [others[i], others[j]] = [others[j], others[i]];
    }
    // The leader's side is a minority: alone, or with fewer than half of the others.
    const companions = this.#rng.int(Math.ceil(others.length / 2));
    const minority = [leader, ...others.slice(0, companions)];
    const majority = others.slice(companions);
    this.#cluster.network.partition([minority, majority]);
    this.#partitioned = true;
    this.stats.leaderPartitions++;
    const detail = `${minority.join(",")} | ${majority.join(",")}`;
    this.#trace.record(this.#scheduler.nowUs, "-", "partitionLeader", detail);
    this.#scheduler.after(this.#durationUs(this.#faults.maxFaultDurationUs), () => {
      if (this.#healed || !this.#partitioned) return;
      this.#cluster.network.heal();
      this.#partitioned = false;
      this.#trace.record(this.#scheduler.nowUs, "-", "healLeader", detail);
    });
  }

  #clientOutage(): void {
    if (this.#clients.length === 0) return;
    const client = this.#clients[this.#rng.int(this.#clients.length)];
    client.outage(this.#durationUs(this.#faults.maxOutageUs));
    this.stats.clientOutages++;
  }
}
