/**
 * A simulated disk: named files of bytes, with write latency, a page cache
 * that a crash loses, torn writes and bit-flip corruption.
 *
 * Writes complete after a drawn latency, one at a time in issue order. A
 * synced append is durable when it completes; an unsynced one sits in the
 * page cache until a later sync of the same file. A crash loses what is not
 * durable, except that the OS may have flushed a prefix of it, the last
 * flushed write possibly torn (cut short). The disk knows nothing of record
 * formats: checksums live in the WAL format (`core/wal`), so recovery in the
 * simulator goes through the production code.
 *
 * @module
 */

import type { SeededRng } from "@safla/core";
import type { Scheduler } from "./scheduler.ts";

/** Timing and fault knobs of one disk. */
export interface DiskConfig {
  /** Minimum write latency. */
  writeLatencyMinUs: number;
  /** Mean exponential extra write latency. */
  writeLatencyMeanExtraUs: number;
  /** Extra latency of an fsync. */
  syncLatencyUs: number;
  /** Probability, at a crash, that the last flushed unsynced write is torn. */
  tornWriteRate: number;
  /**
   * A disk that lies: reports writes complete (and synced) as soon as they are
   * issued, while they stay volatile until the latency elapses. Models the
   * "acknowledge before fsync" bug class.
   */
  acksBeforeSync: boolean;
}

/** Defaults for an SSD. */
export const DEFAULT_DISK: DiskConfig = {
  writeLatencyMinUs: 50,
  writeLatencyMeanExtraUs: 100,
  syncLatencyUs: 500,
  tornWriteRate: 0.3,
  acksBeforeSync: false,
};

interface PendingWrite {
  seq: number;
  bytes: Uint8Array;
}

interface SimFile {
  /** Durable writes; `synced` ones were fsynced whole (others flushed by chance at a crash). */
  durable: Array<{ bytes: Uint8Array; synced: boolean }>;
  volatile: PendingWrite[];
}

/**
 * One node's disk.
 *
 * @example
 * ```ts
 * import { SeededRng } from "@safla/core";
 * import { Scheduler } from "./scheduler.ts";
 * import { DEFAULT_DISK, SimDisk } from "./disk.ts";
 * const s = new Scheduler();
 * const d = new SimDisk(s, new SeededRng(1), DEFAULT_DISK);
 * d.append("wal", new Uint8Array([1, 2]), true, () => {});
 * s.runUntil(1_000_000, 10);
 * d.crash();
 * console.assert(d.read("wal").length === 2);
 * ```
 */
export class SimDisk {
  readonly #scheduler: Scheduler;
  readonly #rng: SeededRng;
  config: DiskConfig;
  readonly #files = new Map<string, SimFile>();
  #busyUntilUs = 0;
  #writeSeq = 0;
  /** Bumped at every crash so completions of lost writes are ignored. */
  #epoch = 0;
  /** Bytes written over the disk's life. */
  writtenBytes = 0;

  /** A disk driven by `scheduler`. */
  constructor(scheduler: Scheduler, rng: SeededRng, config: DiskConfig) {
    this.#scheduler = scheduler;
    this.#rng = rng;
    this.config = config;
  }

  /** Names of files that exist, sorted. */
  files(): string[] {
    return [...this.#files.keys()].sort();
  }

  /**
   * Appends `bytes` to `name`. `done` runs when the write completes (and,
   * when `sync`, everything written to the file so far is durable), unless
   * the process crashed first.
   */
  append(name: string, bytes: Uint8Array, sync: boolean, done: () => void): void {
    const write = { seq: this.#writeSeq++, bytes };
    this.writtenBytes += bytes.length;
    this.#file(name).volatile.push(write);
    const c = this.config;
    const latencyUs = c.writeLatencyMinUs +
      -Math.log(1 - this.#rng.next()) * c.writeLatencyMeanExtraUs + (sync ? c.syncLatencyUs : 0);
    const completeUs = Math.max(this.#scheduler.nowUs, this.#busyUntilUs) + latencyUs;
    this.#busyUntilUs = completeUs;
    const epoch = this.#epoch;
    if (c.acksBeforeSync) done();
    this.#scheduler.at(completeUs, () => {
      if (epoch !== this.#epoch) return;
      const file = this.#files.get(name);
      if (sync && file) {
        const i = file.volatile.indexOf(write);
        if (i >= 0) {
          for (const w of file.volatile.slice(0, i + 1)) {
            file.durable.push({ bytes: w.bytes, synced: true });
          }
          file.volatile = file.volatile.slice(i + 1);
        }
      }
      if (!c.acksBeforeSync) done();
    });
  }

  /**
   * Atomically replaces file `name` with `bytes` (write a temporary file,
   * fsync, rename). `done` runs once the new content is durable.
   */
  replace(name: string, bytes: Uint8Array, done: () => void): void {
    const c = this.config;
    this.writtenBytes += bytes.length;
    const completeUs = Math.max(this.#scheduler.nowUs, this.#busyUntilUs) + c.writeLatencyMinUs +
      c.syncLatencyUs;
    this.#busyUntilUs = completeUs;
    const epoch = this.#epoch;
    const seq = this.#writeSeq++;
    this.#scheduler.at(completeUs, () => {
      if (epoch !== this.#epoch) return;
      // Appends issued after the replacement land in the new file.
      const later = this.#files.get(name)?.volatile.filter((w) => w.seq > seq) ?? [];
      this.#files.set(name, { durable: [{ bytes, synced: true }], volatile: later });
      done();
    });
  }

  /** Removes file `name` (durable at once, as an unlink followed by a directory fsync). */
  remove(name: string): void {
    this.#files.delete(name);
  }

  /**
   * The process died: what was not durable is lost, except a prefix the OS
   * happened to flush, whose last write may be torn.
   */
  crash(): void {
    this.#epoch++;
    this.#busyUntilUs = 0;
    for (const name of [...this.#files.keys()].sort()) {
      const file = this.#files.get(name)!;
      const survivors = file.volatile.length === 0 ? 0 : this.#rng.int(file.volatile.length + 1);
      const flushed = file.volatile.slice(0, survivors).map((w) => w.bytes);
      if (flushed.length > 0 && this.#rng.next() < this.config.tornWriteRate) {
        const last = flushed[flushed.length - 1];
        flushed[flushed.length - 1] = last.slice(0, this.#rng.int(last.length + 1));
      }
      for (const bytes of flushed) file.durable.push({ bytes, synced: false });
      file.volatile = [];
    }
  }

  /**
   * Flips one bit in a synced write of `name` that a later synced write
   * follows (damage with nothing valid after it cannot be told from a torn
   * write, which recovery rightly truncates). Returns false if there is no
   * such write.
   */
  corrupt(name: string): boolean {
    const file = this.#files.get(name);
    if (!file) return false;
    let lastSynced = -1;
    file.durable.forEach((w, i) => {
      if (w.synced && w.bytes.length > 0) lastSynced = i;
    });
    const candidates: number[] = [];
    for (let i = 0; i < lastSynced; i++) {
      if (file.durable[i].synced && file.durable[i].bytes.length > 0) candidates.push(i);
    }
    if (candidates.length === 0) return false;
    const i = candidates[this.#rng.int(candidates.length)];
    const copy = file.durable[i].bytes.slice();
    const bit = this.#rng.int(copy.length * 8);
    copy[bit >> 3] ^= 1 << (bit & 7);
    file.durable[i] = { bytes: copy, synced: true };
    return true;
  }

  /** The content of `name` as a reader sees it now (empty if absent). */
  read(name: string): Uint8Array {
    const file = this.#files.get(name);
    if (!file) return new Uint8Array(0);
    const parts = [...file.durable.map((w) => w.bytes), ...file.volatile.map((w) => w.bytes)];
    let total = 0;
    for (const p of parts) total += p.length;
    const out = new Uint8Array(total);
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.length;
    }
    return out;
  }

  /** Cuts `name` to its first `lengthBytes` bytes, durably (recovery truncating a torn tail). */
  truncate(name: string, lengthBytes: number): void {
    const bytes = this.read(name);
    if (lengthBytes > bytes.length) {
      throw new RangeError(`truncate ${name} to ${lengthBytes} > length ${bytes.length}`);
    }
    this.#files.set(name, {
      durable: [{ bytes: bytes.slice(0, lengthBytes), synced: true }],
      volatile: [],
    });
  }

  #file(name: string): SimFile {
    let file = this.#files.get(name);
    if (!file) {
      file = { durable: [], volatile: [] };
      this.#files.set(name, file);
    }
    return file;
  }
}
