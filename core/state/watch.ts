/**
 * Watches over the key-value store: a bounded history of events (the
 * compaction window), filters by exact key, prefix or `*` glob, and a
 * {@link WatchHub} that tells each watcher which events it has not seen yet.
 *
 * Watchers resume from a revision. Because every command's events share one
 * revision, are appended to the history as a whole and are never split
 * between deliveries, tracking "the next revision to deliver" per watcher is
 * enough to deliver every matching event exactly once, in order. A watcher
 * that falls behind the history window is cancelled with a
 * {@link CompactedRevisionError}: events are never skipped silently.
 *
 * Revisions are the same on every node (they come from the replicated log),
 * so a client whose node fails resumes on another node by watching from the
 * `nextRevision` it last received: nothing is lost or repeated across a
 * leader change.
 *
 * Everything is pure data: the hub returns deliveries and the driver sends
 * them.
 *
 * @module
 */
import type { WatchEvent } from "./types.ts";

/** Resuming from a revision whose events have been compacted away. */
export class CompactedRevisionError extends Error {
  /** The revision asked for. */
  readonly requestedRevision: number;
  /** Highest revision whose events are gone; resume from `compactRevision + 1` or later. */
  readonly compactRevision: number;

  /** Creates the error. */
  constructor(requestedRevision: number, compactRevision: number) {
    super(
      `revision ${requestedRevision} has been compacted: events up to revision ${compactRevision} ` +
        `are gone; re-read the current state and watch from a later revision`,
    );
    this.name = "CompactedRevisionError";
    this.requestedRevision = requestedRevision;
    this.compactRevision = compactRevision;
  }
}

/** A watch request was malformed or over a bound. */
export class WatchRequestError extends Error {
  /** The offending field of the request. */
  readonly field: string;

  /** Creates the error; the message names the field. */
  constructor(field: string, detail: string) {
    super(`invalid watch "${field}": ${detail}`);
    this.name = "WatchRequestError";
    this.field = field;
  }
}

/** Read access to the event history (what watchers resume from). */
export interface EventLog {
  /** Highest revision whose events have been dropped (0 if none). */
  readonly compactRevision: number;
  /** Number of events held. */
  readonly size: number;
  /**
   * Visits held events with revision ≥ `startRevision` in order, while
   * `visit` returns true.
   */
  forEachFrom(startRevision: number, visit: (event: WatchEvent) => boolean): void;
}

/** Bounds of an {@link EventHistory}. */
export interface HistoryLimits {
  /** Target bound on the number of events held. */
  limitEvents: number;
  /** Target bound on the events' estimated in-memory size ({@link estimatedEventBytes}). */
  limitBytes: number;
}

const EVENT_OVERHEAD_BYTES = 64;

/**
 * A deterministic estimate of an event's in-memory size: two bytes per
 * UTF-16 unit of its keys and values plus a fixed overhead. Old values are
 * kept alive by the history, so this is what the byte bound limits.
 */
export function estimatedEventBytes(event: WatchEvent): number {
  const units = event.kv.key.length + event.kv.value.length +
    (event.prevKv === null ? 0 : event.prevKv.key.length + event.prevKv.value.length);
  return EVENT_OVERHEAD_BYTES + 2 * units;
}

/**
 * The bounded event history. Old revisions are dropped whole once more than
 * `limitEvents` events, or more than `limitBytes` estimated bytes, are held;
 * the newest revision is always kept, so a single large command may exceed
 * the bounds until the next one.
 */
export class EventHistory implements EventLog {
  /** Target bound on the number of events held. */
  readonly limitEvents: number;
  /** Target bound on the estimated bytes held. */
  readonly limitBytes: number;
  #events: WatchEvent[];
  /** {@link estimatedEventBytes} of each event in `#events`, computed once. */
  #eventBytes: number[];
  #head = 0;
  #compactRevision: number;
  #sizeBytes = 0;

  /**
   * Creates a history holding `events` (sorted by revision, all newer than
   * `compactRevision`).
   */
  constructor(limits: HistoryLimits, compactRevision = 0, events: readonly WatchEvent[] = []) {
    for (const [name, value] of Object.entries(limits)) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`EventHistory: ${name} must be a positive integer, got ${value}`);
      }
    }
    this.limitEvents = limits.limitEvents;
    this.limitBytes = limits.limitBytes;
    this.#compactRevision = compactRevision;
    this.#events = [...events];
    this.#eventBytes = [];
    let previous = compactRevision;
    for (const event of this.#events) {
      if (event.revision < previous || event.revision <= compactRevision) {
        throw new RangeError(
          `EventHistory: event at revision ${event.revision} is out of order ` +
            `(after ${previous}, compacted through ${compactRevision})`,
        );
      }
      previous = event.revision;
      const bytes = estimatedEventBytes(event);
      this.#eventBytes.push(bytes);
      this.#sizeBytes += bytes;
    }
  }

  /** Estimated bytes held (see {@link estimatedEventBytes}). */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** Highest revision whose events have been dropped (0 if none). */
  get compactRevision(): number {
    return this.#compactRevision;
  }

  /** Number of events held. */
  get size(): number {
    return this.#events.length - this.#head;
  }

  /** Revision of the newest event held, or the compact revision if none. */
  get lastRevision(): number {
    return this.size === 0 ? this.#compactRevision : this.#events[this.#events.length - 1].revision;
  }

  /** Appends every event of one new revision, then drops old revisions over the bound. */
  append(events: readonly WatchEvent[]): void {
    if (events.length === 0) return;
    const revision = events[0].revision;
    if (revision <= this.lastRevision) {
      throw new RangeError(
        `EventHistory: revision ${revision} is not after the last revision ${this.lastRevision}`,
      );
    }
    for (const event of events) {
      if (event.revision !== revision) {
        throw new RangeError(
          `EventHistory: one append mixes revisions ${revision} and ${event.revision}`,
        );
      }
      this.#events.push(event);
      const bytes = estimatedEventBytes(event);
      this.#eventBytes.push(bytes);
      this.#sizeBytes += bytes;
    }
    this.#compact();
  }

  /**
   * Drops the events of every revision up to `revision`, but never the
   * newest revision's; returns the compact revision after it (unchanged if
   * `revision` was already compacted).
   */
  compactTo(revision: number): number {
    const newest = this.lastRevision;
    this.#dropWhile(() => this.#events[this.#head].revision <= revision);
    const target = Math.min(revision, newest - 1);
    // Revisions without events held (all dropped earlier) are compacted too.
    if (target > this.#compactRevision) this.#compactRevision = target;
    return this.#compactRevision;
  }

  #compact(): void {
    this.#dropWhile(() => this.size > this.limitEvents || this.#sizeBytes > this.limitBytes);
  }

  /** Drops the oldest revision, whole, while `more` holds and it is not the newest. */
  #dropWhile(more: () => boolean): void {
    const newest = this.lastRevision;
    while (this.size > 0 && this.#events[this.#head].revision !== newest && more()) {
      const oldest = this.#events[this.#head].revision;
      while (this.#events[this.#head].revision === oldest) {
        this.#sizeBytes -= this.#eventBytes[this.#head];
        this.#head++;
      }
      this.#compactRevision = oldest;
    }
    // The array is cut once most of it is dropped: the references held by the
    // dropped part keep old values alive.
    if (this.#head > 0 && this.#head * 2 > this.#events.length) {
      this.#events = this.#events.slice(this.#head);
      this.#eventBytes = this.#eventBytes.slice(this.#head);
      this.#head = 0;
    }
  }

  #firstAtOrAfter(revision: number): number {
    let lo = this.#head;
    let hi = this.#events.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#events[mid].revision < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Visits held events with revision ≥ `startRevision` in order, while `visit` returns true. */
  forEachFrom(startRevision: number, visit: (event: WatchEvent) => boolean): void {
    for (let i = this.#firstAtOrAfter(startRevision); i < this.#events.length; i++) {
      if (!visit(this.#events[i])) return;
    }
  }

  /** Every event held, oldest first (a copy). */
  toArray(): WatchEvent[] {
    return this.#events.slice(this.#head);
  }
}

/** Which keys a watch follows: one key, every key with a prefix, or a `*` glob. */
export type WatchFilter =
  | {
    /** Exactly this key. */
    key: string;
  }
  | {
    /** Every key starting with this prefix (empty: every key). */
    prefix: string;
  }
  | {
    /** A glob where `*` matches any run of characters, e.g. `services/*\/health`. */
    pattern: string;
  };

/**
 * Whether `key` matches the glob `pattern`, where `*` matches any run of
 * characters (including none) and every other character matches itself.
 *
 * @example
 * ```ts
 * import { globMatch } from "@safla/core/state";
 * console.assert(globMatch("nodes:*", "nodes:a"));
 * console.assert(!globMatch("nodes:*:load", "nodes:a:status"));
 * ```
 */
export function globMatch(pattern: string, key: string): boolean {
  let p = 0;
  let k = 0;
  let starAt = -1;
  let starKey = 0;
  // Greedy with one backtrack point: on mismatch, let the last star swallow one more character.
  while (k < key.length) {
    if (p < pattern.length && pattern[p] === "*") {
      starAt = p++;
      starKey = k;
    } else if (p < pattern.length && pattern[p] === key[k]) {
      p++;
      k++;
    } else if (starAt >= 0) {
      p = starAt + 1;
      k = ++starKey;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

/** Builds the key predicate of a filter, checking its shape. */
export function compileWatchFilter(filter: WatchFilter): (key: string) => boolean {
  if (typeof filter !== "object" || filter === null) {
    throw new WatchRequestError("filter", "expected an object with key, prefix or pattern");
  }
  const fields = Object.keys(filter);
  if (fields.length !== 1) {
    throw new WatchRequestError("filter", "needs exactly one of key, prefix or pattern");
  }
  if ("key" in filter) {
    const key = filter.key;
    if (typeof key !== "string" || key === "") {
      throw new WatchRequestError("filter.key", "expected a non-empty string");
    }
    return (candidate) => candidate === key;
  }
  if ("prefix" in filter) {
    const prefix = filter.prefix;
    if (typeof prefix !== "string") {
      throw new WatchRequestError("filter.prefix", "expected a string");
    }
    return (candidate) => candidate.startsWith(prefix);
  }
  if ("pattern" in filter) {
    const pattern = filter.pattern;
    if (typeof pattern !== "string" || pattern === "") {
      throw new WatchRequestError("filter.pattern", "expected a non-empty string");
    }
    if (!pattern.includes("*")) return (candidate) => candidate === pattern;
    return (candidate) => globMatch(pattern, candidate);
  }
  throw new WatchRequestError("filter", "needs exactly one of key, prefix or pattern");
}

/** What a watcher reads events from: the store's revision and its history. */
export interface WatchSource {
  /** Revision of the newest write. */
  readonly revision: number;
  /** The retained events. */
  readonly history: EventLog;
}

/** A batch of events for one watcher, never splitting a revision. */
export interface EventBatch {
  /** Matching events, in revision order. */
  events: WatchEvent[];
  /** Revision to resume from next time. */
  nextRevision: number;
}

/**
 * Collects the events matching `matches` from `startRevision` on. Stops at
 * a revision boundary once at least `maxEvents` events are collected (a
 * single revision is never split, so a batch may exceed `maxEvents`).
 *
 * @throws {CompactedRevisionError} if events from `startRevision` are gone.
 */
export function collectEvents(
  source: WatchSource,
  matches: (key: string) => boolean,
  startRevision: number,
  maxEvents: number,
): EventBatch {
  const history = source.history;
  if (startRevision <= history.compactRevision) {
    throw new CompactedRevisionError(startRevision, history.compactRevision);
  }
  const events: WatchEvent[] = [];
  let nextRevision = Math.max(startRevision, source.revision + 1);
  history.forEachFrom(startRevision, (event) => {
    if (events.length >= maxEvents && event.revision !== events[events.length - 1].revision) {
      nextRevision = event.revision;
      return false;
    }
    if (matches(event.kv.key)) events.push(event);
    return true;
  });
  return { events, nextRevision };
}

/** What the hub hands a driver for one watcher. */
export type WatchDelivery =
  | {
    /** New events for the watcher. */
    kind: "events";
    /** Watcher they are for. */
    watchId: number;
    /** The events, in revision order. */
    events: WatchEvent[];
    /** Revision the watcher resumes from next. */
    nextRevision: number;
  }
  | {
    /** The watcher fell behind the history window and has been removed. */
    kind: "canceled";
    /** Watcher that was removed. */
    watchId: number;
    /** Why. */
    error: CompactedRevisionError;
  };

/** Bounds of a {@link WatchHub}. */
export interface WatchHubOptions {
  /** Most watchers at once. */
  maxWatchers?: number;
}

interface Watcher {
  matches: (key: string) => boolean;
  nextRevision: number;
}

/**
 * Fans the store's events out to watchers, tracking each watcher's next
 * revision. Call {@link WatchHub.poll} after applying committed entries (or
 * restoring a snapshot); it returns what to deliver.
 *
 * @example
 * ```ts
 * import { KvStore, WatchHub } from "@safla/core/state";
 * const store = new KvStore();
 * const hub = new WatchHub();
 * const id = hub.watch(store, { prefix: "services/" });
 * store.apply(1, { op: "put", key: "services/a", value: "up" });
 * const [delivery] = hub.poll(store);
 * console.assert(delivery.watchId === id && delivery.kind === "events");
 * ```
 */
export class WatchHub {
  readonly #maxWatchers: number;
  readonly #watchers = new Map<number, Watcher>();
  #nextWatchId = 1;

  /** Creates an empty hub. */
  constructor(options: WatchHubOptions = {}) {
    this.#maxWatchers = options.maxWatchers ?? 10_000;
  }

  /** Number of active watchers. */
  get size(): number {
    return this.#watchers.size;
  }

  /**
   * Starts a watcher and returns its id. Without `startRevision` it sees
   * only writes after the source's current revision.
   *
   * @throws {CompactedRevisionError} if `startRevision` is already compacted.
   * @throws {WatchRequestError} for a malformed filter or too many watchers.
   */
  watch(source: WatchSource, filter: WatchFilter, startRevision?: number): number {
    const matches = compileWatchFilter(filter);
    const start = startRevision ?? source.revision + 1;
    if (!Number.isSafeInteger(start) || start < 1) {
      throw new WatchRequestError("startRevision", `expected a positive integer, got ${start}`);
    }
    if (start <= source.history.compactRevision) {
      throw new CompactedRevisionError(start, source.history.compactRevision);
    }
    if (this.#watchers.size >= this.#maxWatchers) {
      throw new WatchRequestError("watch", `the limit of ${this.#maxWatchers} watchers is reached`);
    }
    const watchId = this.#nextWatchId++;
    this.#watchers.set(watchId, { matches, nextRevision: start });
    return watchId;
  }

  /** Stops a watcher; returns whether it existed. */
  cancel(watchId: number): boolean {
    return this.#watchers.delete(watchId);
  }

  /** The revision a watcher will resume from, or undefined if it does not exist. */
  nextRevision(watchId: number): number | undefined {
    return this.#watchers.get(watchId)?.nextRevision;
  }

  /**
   * Collects what each watcher has not seen yet (at most about
   * `maxEventsPerWatcher` each, never splitting a revision), advances the
   * watchers, and returns deliveries in watch-id order. Watchers that fell
   * behind the history window are removed and reported as cancelled.
   */
  poll(source: WatchSource, maxEventsPerWatcher = 1000): WatchDelivery[] {
    const deliveries: WatchDelivery[] = [];
    for (const [watchId, watcher] of this.#watchers) {
      if (watcher.nextRevision > source.revision) continue;
      let batch: EventBatch;
      try {
        batch = collectEvents(source, watcher.matches, watcher.nextRevision, maxEventsPerWatcher);
      } catch (error) {
        if (!(error instanceof CompactedRevisionError)) throw error;
        this.#watchers.delete(watchId);
        deliveries.push({ kind: "canceled", watchId, error });
        continue;
      }
      if (batch.nextRevision <= watcher.nextRevision) {
        throw new Error(
          `WatchHub: watcher ${watchId} did not advance from ${watcher.nextRevision}`,
        );
      }
      watcher.nextRevision = batch.nextRevision;
      if (batch.events.length > 0) {
        deliveries.push({
          kind: "events",
          watchId,
          events: batch.events,
          nextRevision: batch.nextRevision,
        });
      }
    }
    return deliveries;
  }
}
