/**
 * The fault injector: during the chaos phase it crashes and restarts
 * processes (sometimes corrupting a disk while down), partitions the network
 * (symmetric, one-way, isolate one node, bridge), clogs links, pauses
 * processes and skews clocks, each fault undone after a drawn duration.
 * Optional faults aim at leaders: cut off or crash a leader as it takes
 * office, or crash one the moment its commit index advances.
 * At the end of the phase, {@link Nemesis.healAll} undoes everything.
 *
 * @module
 */

import type { SeededRng } from "@safla/core";
import type { SimCluster } from "./cluster.ts";
import type { Scheduler } from "./scheduler.ts";
import type { FaultConfig } from "./swarm.ts";
import type { Trace } from "./trace.ts";

/** Counters of injected faults. */
export interface NemesisStats {
  /** Crashes. */
  crashes: number;
  /** Disks corrupted. */
  corruptions: number;
  /** Partitions of any kind. */
  partitions: number;
  /** Clogged links. */
  clogs: number;
  /** Pauses. */
  pauses: number;
}

/**
 * Faults over a cluster.
 *
 * @example
 * ```ts ignore
 * const nemesis = new Nemesis(scheduler, rng, config.faults, cluster, trace);
 * nemesis.start(chaosEndUs);
 * ```
 */
export class Nemesis<Q, R> {
  readonly #scheduler: Scheduler;
  readonly #rng: SeededRng;
  readonly #faults: FaultConfig;
  readonly #cluster: SimCluster<Q, R>;
  readonly #trace: Trace;
  #endUs = 0;
  #partitioned = false;
  #healed = false;
  readonly stats: NemesisStats = { crashes: 0, corruptions: 0, partitions: 0, clogs: 0, pauses: 0 };

  /** A nemesis over `cluster`. */
  constructor(
    scheduler: Scheduler,
    rng: SeededRng,
    faults: FaultConfig,
    cluster: SimCluster<Q, R>,
    trace: Trace,
  ) {
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.#faults = faults;
    this.#cluster = cluster;
    this.#trace = trace;
  }

  /** Skews clocks and schedules faults until `endUs`. */
  start(endUs: number): void {
    this.#endUs = endUs;
    const f = this.#faults;
    for (const id of this.#cluster.ids) {
      this.#cluster.setDrift(id, (this.#rng.next() * 2 - 1) * f.maxClockDrift);
    }
    this.#every(f.crashPerSec, () => this.#crash());
    this.#every(f.partitionPerSec, () => this.#partition());
    this.#every(f.clogPerSec, () => this.#clog());
    this.#every(f.pausePerSec, () => this.#pause());
    if ((f.leaderCommitCrashRate ?? 0) > 0) {
      this.#cluster.onLeaderCommitted = (id, term) => this.#leaderCommitted(id, term);
    }
    if ((f.newLeaderCrashRate ?? 0) > 0 || (f.newLeaderIsolateRate ?? 0) > 0) {
      this.#cluster.onRoleChanged = (id, role, term) => {
        if (role === "leader") this.#newLeader(id, term);
      };
    }
  }

  /**
   * Faults aimed at a leader that just took office (Figure 8 of the Raft
   * paper needs several leaders in a row whose first entries reach a
   * minority, or reach a majority only for an old entry): cut it off before
   * its first appends leave (this runs before they are sent), or crash it
   * within a few round trips.
   */
  #newLeader(id: string, term: number): void {
    const f = this.#faults;
    if (this.#healed || this.#scheduler.nowUs >= this.#endUs) return;
    if (!this.#partitioned && this.#rng.next() < (f.newLeaderIsolateRate ?? 0)) {
      const net = this.#cluster.network;
      net.isolate(id, this.#cluster.ids);
      this.#partitioned = true;
      this.stats.partitions++;
      this.#trace.record(this.#scheduler.nowUs, id, "isolateNewLeader", `t${term}`);
      this.#later(() => {
        net.heal();
        this.#partitioned = false;
        this.#trace.record(this.#scheduler.nowUs, id, "heal", "isolateNewLeader");
      });
      return;
    }
    if (!(this.#rng.next() < (f.newLeaderCrashRate ?? 0))) return;
    this.#crashLeaderLater(id, term, this.#rng.next() * (f.newLeaderCrashWithinUs ?? 0), "new");
  }

  /** A leader's commit index moved: perhaps crash it before followers learn of it. */
  #leaderCommitted(id: string, term: number): void {
    if (this.#healed || this.#scheduler.nowUs >= this.#endUs) return;
    if (!(this.#rng.next() < (this.#faults.leaderCommitCrashRate ?? 0))) return;
    this.#crashLeaderLater(id, term, 0, "committed");
  }

  /** Crashes `id` after `delayUs` if it still runs in `term`, and restarts it later. */
  #crashLeaderLater(id: string, term: number, delayUs: number, why: string): void {
    this.#scheduler.after(delayUs, () => {
      const p = this.#cluster.process(id);
      if (this.#healed || p.status !== "up" || p.node?.term !== term) return;
      this.#trace.record(this.#scheduler.nowUs, id, "crashLeader", `${why} t${term}`);
      this.#cluster.crash(id);
      this.stats.crashes++;
      this.#later(() => this.#cluster.restart(id));
    });
  }

  /** Undoes every fault: heals the network, resumes and restarts processes. */
  healAll(): void {
    this.#healed = true;
    const net = this.#cluster.network;
    net.heal();
    net.unclogAll();
    net.config = { ...net.config, lossRate: 0, duplicateRate: 0, reorderRate: 0 };
    for (const id of this.#cluster.ids) {
      this.#cluster.resume(id);
      this.#cluster.restart(id);
    }
    this.#trace.record(this.#scheduler.nowUs, "-", "healAll", "");
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

  #durationUs(): number {
    return 1 + this.#rng.int(this.#faults.maxFaultDurationUs);
  }

  /** Undo a fault later, unless the chaos phase already healed everything. */
  #later(undo: () => void): void {
    this.#scheduler.after(this.#durationUs(), () => {
      if (!this.#healed) undo();
    });
  }

  #pick(status: "up" | "down"): string | undefined {
    const ids = this.#cluster.ids.filter((id) => this.#cluster.process(id).status === status);
    return ids.length === 0 ? undefined : ids[this.#rng.int(ids.length)];
  }

  #crash(): void {
    const id = this.#pick("up");
    if (!id) return;
    this.#cluster.crash(id);
    this.stats.crashes++;
    const refused = this.#cluster.ids.filter((n) => this.#cluster.process(n).status === "refused");
    if (
      refused.length + this.stats.corruptions < this.#faults.maxCorruptNodes &&
      this.#rng.next() < this.#faults.corruptOnCrashRate && this.#cluster.corruptDisk(id)
    ) {
      this.stats.corruptions++;
    }
    this.#later(() => this.#cluster.restart(id));
  }

  #partition(): void {
    const ids = this.#cluster.ids;
    // A single node has no links to cut.
    if (this.#partitioned || ids.length < 2) return;
    const net = this.#cluster.network;
    const shuffled = [...ids];
    for (let i = shuffled.length - 1; i > 0; i--) {
      const j = this.#rng.int(i + 1);
      [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
    }
    const kinds = this.#faults.partitionKinds;
    if (kinds.length === 0) return;
    const kind = kinds[this.#rng.int(kinds.length)];
    let detail: string;
    if (kind === "symmetric") {
      const cut = 1 + this.#rng.int(ids.length - 1);
      const groups = [shuffled.slice(0, cut), shuffled.slice(cut)];
      net.partition(groups);
      detail = `symmetric ${groups.map((g) => g.join(",")).join(" | ")}`;
    } else if (kind === "oneWay") {
      net.blockOneWay(shuffled[0], shuffled[1]);
      detail = `oneWay ${shuffled[0]} -/-> ${shuffled[1]}`;
    } else if (kind === "isolate" || ids.length < 3) {
      net.isolate(shuffled[0], ids);
      detail = `isolate ${shuffled[0]}`;
    } else {
      const rest = shuffled.slice(1);
      const half = Math.floor(rest.length / 2);
      net.bridge(rest.slice(0, half), shuffled[0], rest.slice(half));
      detail = `bridge ${rest.slice(0, half).join(",")} <${shuffled[0]}> ${
        rest.slice(half).join(",")
      }`;
    }
    this.#partitioned = true;
    this.stats.partitions++;
    this.#trace.record(this.#scheduler.nowUs, "-", "partition", detail);
    this.#later(() => {
      net.heal();
      this.#partitioned = false;
      this.#trace.record(this.#scheduler.nowUs, "-", "heal", detail);
    });
  }

  #clog(): void {
    const ids = this.#cluster.ids;
    if (ids.length < 2) return;
    const from = ids[this.#rng.int(ids.length)];
    const others = ids.filter((id) => id !== from);
    const to = others[this.#rng.int(others.length)];
    const untilUs = this.#scheduler.nowUs + this.#durationUs();
    this.#cluster.network.clog(from, to, untilUs);
    this.stats.clogs++;
    this.#trace.record(this.#scheduler.nowUs, "-", "clog", `${from}->${to} until ${untilUs}`);
  }

  #pause(): void {
    const id = this.#pick("up");
    if (!id) return;
    this.#cluster.pause(id);
    this.stats.pauses++;
    this.#later(() => this.#cluster.resume(id));
  }
}
