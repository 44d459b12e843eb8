/**
 * The campaign's watchers, served by the production watch code: each one is
 * a {@link WatchHub} watcher on the store of whichever node leads now, the
 * way a gateway serves a client's watch stream, resuming on the next leader
 * from the next revision it has not delivered. Batches are small and drawn
 * per seed, so the hub's batching boundaries are crossed all the time.
 *
 * At the end each watcher's events are compared with the committed event
 * sequence from its start revision: nothing lost, duplicated, reordered or
 * invented; a gap is allowed only where the hub cancelled the watcher
 * because the history was compacted past it (a resync, never silent).
 *
 * @example
 * ```ts ignore
 * const watchers = new CampaignWatchers(seed);
 * watchers.poll(nowUs, leaderStores); // from a timer
 * const problems = watchers.check(canonicalEvents);
 * ```
 *
 * @module
 */

import { SeededRng } from "@safla/core";
import {
  CompactedRevisionError,
  compileWatchFilter,
  type KvStore,
  type WatchEvent,
  type WatchFilter,
  WatchHub,
} from "@safla/core/state";

/** A node the watchers may be served by: its term and its store. */
export interface LeaderStore {
  /** The node's term (the highest is the current leader). */
  term: number;
  /** The node's store. */
  store: KvStore;
}

/** Bound on hub polls per watcher in one {@link CampaignWatchers.poll}. */
const MAX_POLLS_PER_CALL = 256;

interface Watcher {
  filter: WatchFilter;
  matches: (key: string) => boolean;
  /** When the client opens the watch (simulated time). */
  startAtUs: number;
  /** Watch from revision 1 (the whole history), or from the revision after the current one. */
  fromBeginning: boolean;
  startRevision: number | undefined;
  nextRevision: number;
  events: WatchEvent[];
  /** Revision ranges [from, to) skipped after a cancellation for compaction. */
  resyncs: Array<{ from: number; to: number }>;
  served: { store: KvStore; hub: WatchHub; watchId: number } | undefined;
}

function render(e: WatchEvent): string {
  return `${e.revision}:${e.type}:${e.kv.key}=${e.kv.value}`;
}

/** Watchers drawn from a seed, served by production hubs (see the module doc). */
export class CampaignWatchers {
  readonly #watchers: Watcher[] = [];
  readonly #maxEventsPerPoll: number;
  readonly #resumeFromNow: boolean;

  /**
   * `resumeFromNow` injects the classic watch bug: after switching to a new
   * leader, watch from that node's current revision instead of the next
   * undelivered one.
   */
  constructor(seed: number, chaosUs: number, options: { resumeFromNow?: boolean } = {}) {
    const rng = new SeededRng(seed ^ 0x3a7c);
    this.#maxEventsPerPoll = [1, 2, 5, 1000][rng.int(4)];
    this.#resumeFromNow = options.resumeFromNow ?? false;
    const filters: WatchFilter[] = [{ pattern: "*" }, { prefix: "k" }, { key: "k0" }];
    for (const [i, filter] of filters.entries()) {
      this.#watchers.push({
        filter,
        matches: compileWatchFilter(filter),
        // The first watches everything from the start; the others open during the chaos.
        startAtUs: i === 0 ? 0 : Math.floor(rng.next() * chaosUs / 2),
        fromBeginning: i === 0 || rng.next() < 0.5,
        startRevision: undefined,
        nextRevision: 1,
        events: [],
        resyncs: [],
        served: undefined,
      });
    }
  }

  /** Delivers what the current leader's hub has for each open watcher. */
  poll(nowUs: number, leaders: readonly LeaderStore[]): void {
    if (leaders.length === 0) return;
    const store = leaders.reduce((a, b) => (b.term > a.term ? b : a)).store;
    for (const w of this.#watchers) {
      if (nowUs < w.startAtUs) continue;
      if (w.startRevision === undefined) {
        w.startRevision = w.fromBeginning ? 1 : store.revision + 1;
        w.nextRevision = w.startRevision;
      }
      this.#serve(w, store);
    }
  }

  #serve(w: Watcher, store: KvStore): void {
    if (w.served?.store !== store) {
      const hub = new WatchHub();
      const switching = w.served !== undefined;
      const from = this.#resumeFromNow && switching ? undefined : w.nextRevision;
      let watchId: number;
      try {
        watchId = hub.watch(store, w.filter, from);
      } catch (error) {
        if (!(error instanceof CompactedRevisionError)) throw error;
        this.#resync(w, error.compactRevision + 1);
        watchId = hub.watch(store, w.filter, w.nextRevision);
      }
      w.served = { store, hub, watchId };
      if (from === undefined) w.nextRevision = hub.nextRevision(watchId)!;
    }
    const { hub, watchId } = w.served;
    for (let i = 0; i < MAX_POLLS_PER_CALL; i++) {
      const deliveries = hub.poll(store, this.#maxEventsPerPoll);
      if (deliveries.length === 0) {
        // The hub also moves past revisions that matched nothing, without a delivery.
        w.nextRevision = hub.nextRevision(watchId) ?? w.nextRevision;
        return;
      }
      for (const d of deliveries) {
        if (d.kind === "canceled") {
          this.#resync(w, d.error.compactRevision + 1);
          w.served = undefined;
          return;
        }
        w.events.push(...d.events);
        w.nextRevision = d.nextRevision;
      }
    }
  }

  #resync(w: Watcher, to: number): void {
    w.resyncs.push({ from: w.nextRevision, to });
    w.nextRevision = to;
  }

  /**
   * Compares each watcher's events with `canonical` (the committed events the
   * most advanced node retains, oldest first). Empty when every watcher saw
   * exactly the committed sequence from its start revision.
   */
  check(canonical: readonly WatchEvent[]): string[] {
    const problems: string[] = [];
    const oldest = canonical[0]?.revision ?? Infinity;
    for (const [n, w] of this.#watchers.entries()) {
      if (w.startRevision === undefined) continue;
      const label = `watcher ${n} (${JSON.stringify(w.filter)} from revision ${w.startRevision})`;
      const problem = this.#checkOne(w, canonical, oldest);
      if (problem !== undefined) problems.push(`${label}: ${problem}`);
    }
    return problems;
  }

  #checkOne(w: Watcher, canonical: readonly WatchEvent[], oldest: number): string | undefined {
    const start = Math.max(w.startRevision!, oldest);
    const expected = canonical.filter((e) =>
      e.revision >= start && e.revision < w.nextRevision && w.matches(e.kv.key)
    );
    const skipped = (revision: number): boolean =>
      w.resyncs.some((r) => r.from <= revision && revision < r.to);
    let i = 0;
    for (const got of w.events) {
      if (got.revision < start) continue;
      while (i < expected.length && expected[i].revision < got.revision) {
        if (!skipped(expected[i].revision)) {
          return `lost ${render(expected[i])} (next delivered: ${render(got)})`;
        }
        i++;
      }
      if (i >= expected.length || render(expected[i]) !== render(got)) {
        const want = i < expected.length ? render(expected[i]) : "nothing";
        return `delivered ${render(got)} where the committed sequence has ${want}`;
      }
      i++;
    }
    for (; i < expected.length; i++) {
      if (!skipped(expected[i].revision)) return `lost ${render(expected[i])} (never delivered)`;
    }
    return undefined;
  }
}
