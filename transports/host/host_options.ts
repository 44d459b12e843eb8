/**
 * The defaults of a hosted node's tunables, merged with
 * {@link withDefaults} so that an option passed through as `undefined`
 * (an unset flag) keeps its default, and checked once at start.
 *
 * @module
 */
import { type AutoCompactionMode, AutoCompactor, withDefaults } from "@safla/core";
import { DEFAULT_SEGMENT_SIZE_BYTES } from "../wal/file_wal.ts";
import { DEFAULT_TIMING, type HostTiming, validateTiming } from "./timing.ts";

/** The tunables of a node host that have defaults. */
export interface HostTunables {
  /** Snapshot and compact the Raft log every so many applied entries. */
  snapshotEveryEntries: number;
  /** Most outstanding client requests. */
  maxPendingRequests: number;
  /** Size at which a WAL segment is cut. */
  walSegmentSizeBytes: number;
  /** How the leader compacts the watch history (etcd's `--auto-compaction-mode`). */
  autoCompactionMode: AutoCompactionMode;
  /** Revisions (`revision` mode) or milliseconds (`periodic` mode) of history kept. */
  autoCompactionRetention: number;
  /** `revision` mode: least time between two compactions. */
  autoCompactionIntervalMs: number;
}

/**
 * Defaults of {@link HostTunables}.
 *
 * - `snapshotEveryEntries` 100 000: etcd's snapshot count. Each snapshot
 *   encodes the whole store and its watch history over many ticks.
 * - `maxPendingRequests` 10 000.
 * - `walSegmentSizeBytes` 64 MiB: segments are deleted whole once a snapshot
 *   covers them, so this is about how much WAL outlives a snapshot.
 * - auto-compaction `revision`, keeping 10 000 revisions, at most every 5
 *   minutes (etcd's pace in that mode): the history is also bounded by
 *   event count and size in the store, so this bounds how far back watchers
 *   may resume even when commands write several keys.
 */
export const DEFAULT_HOST_TUNABLES: Readonly<HostTunables> = Object.freeze({
  snapshotEveryEntries: 100_000,
  maxPendingRequests: 10_000,
  walSegmentSizeBytes: DEFAULT_SEGMENT_SIZE_BYTES,
  autoCompactionMode: "revision",
  autoCompactionRetention: 10_000,
  autoCompactionIntervalMs: 5 * 60_000,
});

/** The tunables and timing a host runs with. */
export interface ResolvedHostOptions extends HostTunables {
  /** Clock and timeouts. */
  timing: HostTiming;
}

/**
 * Merges `options` over {@link DEFAULT_HOST_TUNABLES} and
 * {@link DEFAULT_TIMING}, ignoring fields that are `undefined`; throws a
 * RangeError naming the first option that cannot work.
 *
 * @example
 * ```ts
 * import { resolveHostOptions } from "./host_options.ts";
 * const o = resolveHostOptions({ walSegmentSizeBytes: undefined, timing: { tickMs: 20 } });
 * console.assert(o.walSegmentSizeBytes === 64 * 1024 * 1024 && o.timing.tickMs === 20);
 * ```
 */
export function resolveHostOptions(
  options: Partial<HostTunables> & { timing?: Partial<HostTiming> },
): ResolvedHostOptions {
  const tunables = withDefaults(DEFAULT_HOST_TUNABLES, {
    snapshotEveryEntries: options.snapshotEveryEntries,
    maxPendingRequests: options.maxPendingRequests,
    walSegmentSizeBytes: options.walSegmentSizeBytes,
    autoCompactionMode: options.autoCompactionMode,
    autoCompactionRetention: options.autoCompactionRetention,
    autoCompactionIntervalMs: options.autoCompactionIntervalMs,
  });
  const check = (
    name: "snapshotEveryEntries" | "maxPendingRequests" | "walSegmentSizeBytes",
    min: number,
  ) => {
    const value = tunables[name];
    if (!Number.isSafeInteger(value) || value < min) {
      throw new RangeError(`${name} must be an integer of at least ${min}, got ${value}`);
    }
  };
  // 0 snapshots never: the WAL and the in-memory log then grow without bound.
  check("snapshotEveryEntries", 1);
  check("maxPendingRequests", 1);
  check("walSegmentSizeBytes", 1);
  // Throws naming the setting that cannot work.
  newAutoCompactor(tunables);
  const timing = withDefaults(DEFAULT_TIMING, options.timing);
  validateTiming(timing);
  return { ...tunables, timing };
}

/** The leader's compaction policy for these options. */
export function newAutoCompactor(options: HostTunables): AutoCompactor {
  return new AutoCompactor({
    mode: options.autoCompactionMode,
    retention: options.autoCompactionRetention,
    intervalMs: options.autoCompactionIntervalMs,
  });
}
