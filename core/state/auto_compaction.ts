/**
 * When to compact the watch history, and up to which revision: the decision
 * of etcd's `--auto-compaction-mode` / `--auto-compaction-retention`, pure,
 * so the simulator drives the same code. The leader's host asks it
 * periodically with its clock and the store's revisions, and proposes the
 * `compact` command it returns through Raft (as etcd's compactor does).
 *
 * - `revision`: keep the last `retention` revisions; at most one compaction
 *   per `intervalMs`.
 * - `periodic`: keep the revisions of the last `retention` milliseconds; the
 *   revision is sampled as time passes and the one seen `retention` ago is
 *   compacted to, at most one compaction per `retention / 10` (etcd's pace).
 * - `off`: never.
 *
 * @module
 */
import type { CompactCommand } from "./commands.ts";

/** How the history is retained. */
export type AutoCompactionMode = "off" | "revision" | "periodic";

/** Configuration of an {@link AutoCompactor}. */
export interface AutoCompactionOptions {
  /** The policy. */
  mode: AutoCompactionMode;
  /** Revisions kept (`revision`) or milliseconds kept (`periodic`); ignored when `off`. */
  retention: number;
  /** `revision` mode: least time between two compactions. Default 5 minutes (etcd's). */
  intervalMs?: number;
}

/** Default pace of `revision` mode (etcd compacts every 5 minutes in that mode). */
export const DEFAULT_REVISION_COMPACTION_INTERVAL_MS = 5 * 60_000;

/** Samples held in `periodic` mode: one per `retention / SAMPLES_PER_RETENTION`. */
const SAMPLES_PER_RETENTION = 10;

/** A configuration that cannot work. */
export class AutoCompactionConfigError extends RangeError {
  /** Names the field and the problem. */
  constructor(field: string, detail: string) {
    super(`auto-compaction ${field}: ${detail}`);
    this.name = "AutoCompactionConfigError";
  }
}

/**
 * Decides compactions of the watch history.
 *
 * @example
 * ```ts
 * import { AutoCompactor } from "@safla/core/state";
 * const compactor = new AutoCompactor({ mode: "revision", retention: 1000, intervalMs: 0 });
 * console.assert(compactor.decide(0, 500, 0) === undefined);
 * console.assert(compactor.decide(1, 1500, 0)?.revision === 500);
 * ```
 */
export class AutoCompactor {
  readonly mode: AutoCompactionMode;
  readonly retention: number;
  readonly intervalMs: number;
  /** `periodic`: (time, revision) samples, oldest first, at least `#sampleEveryMs` apart. */
  #samples: { atMs: number; revision: number }[] = [];
  #lastCompactionMs = Number.NEGATIVE_INFINITY;

  /** Checks and keeps the configuration. */
  constructor(options: AutoCompactionOptions) {
    if (!["off", "revision", "periodic"].includes(options.mode)) {
      throw new AutoCompactionConfigError(
        "mode",
        `expected off, revision or periodic, got "${options.mode}"`,
      );
    }
    this.mode = options.mode;
    this.retention = options.retention;
    if (this.mode !== "off" && (!Number.isSafeInteger(this.retention) || this.retention < 1)) {
      throw new AutoCompactionConfigError(
        "retention",
        `expected a positive integer, got ${this.retention}`,
      );
    }
    this.intervalMs = this.mode === "periodic"
      ? Math.max(1, Math.floor(this.retention / SAMPLES_PER_RETENTION))
      : options.intervalMs ?? DEFAULT_REVISION_COMPACTION_INTERVAL_MS;
    if (!Number.isSafeInteger(this.intervalMs) || this.intervalMs < 0) {
      throw new AutoCompactionConfigError(
        "intervalMs",
        `expected a non-negative integer, got ${this.intervalMs}`,
      );
    }
  }

  /**
   * The compaction to propose now, if any, given the time (any monotonic
   * clock in ms), the store's revision and its compact revision.
   */
  decide(nowMs: number, revision: number, compactRevision: number): CompactCommand | undefined {
    if (this.mode === "off") return undefined;
    let target: number;
    if (this.mode === "revision") {
      target = revision - this.retention;
    } else {
      const last = this.#samples[this.#samples.length - 1];
      if (last === undefined || nowMs - last.atMs >= this.intervalMs) {
        this.#samples.push({ atMs: nowMs, revision });
      }
      // The newest sample at least `retention` old is what may go; older ones are not needed.
      let due = -1;
      while (
        due + 1 < this.#samples.length && nowMs - this.#samples[due + 1].atMs >= this.retention
      ) {
        due++;
      }
      if (due < 0) return undefined;
      target = this.#samples[due].revision;
      this.#samples.splice(0, due);
    }
    if (target <= compactRevision || nowMs - this.#lastCompactionMs < this.intervalMs) {
      return undefined;
    }
    this.#lastCompactionMs = nowMs;
    return { op: "compact", revision: target };
  }

  /** Forgets samples and pacing: a node that (re)gains leadership starts over. */
  reset(): void {
    this.#samples = [];
    this.#lastCompactionMs = Number.NEGATIVE_INFINITY;
  }
}
