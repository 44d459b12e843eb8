/**
 * A watcher that follows the cluster across leader changes, the way a
 * gateway's watch does: it reads the event history of whichever node leads
 * now, resuming from the next revision it has not seen. At the end its
 * events are compared with the canonical history: none lost, duplicated or
 * reordered (a resumption that falls behind compaction must be reported as
 * a resync, never skipped silently).
 *
 * @module
 */

import { type EventLog, type WatchEvent } from "@safla/core/state";

/** A node the follower may read from: its term and its event history. */
export interface WatchSource {
  /** The node's term (the follower prefers the highest). */
  term: number;
  /** The node's retained events. */
  history: EventLog;
}

/** Every event a history holds, oldest first. */
export function allEvents(history: EventLog): WatchEvent[] {
  const out: WatchEvent[] = [];
  history.forEachFrom(0, (e) => {
    out.push(e);
    return true;
  });
  return out;
}

function render(e: WatchEvent): string {
  return `${e.revision}:${e.type}:${e.kv.key}=${e.kv.value}`;
}

/**
 * Follows events by polling.
 *
 * @example
 * ```ts ignore
 * const follower = new WatchFollower();
 * follower.poll(sources); // from a scheduled timer
 * const problems = follower.check(canonicalEvents);
 * ```
 */
export class WatchFollower {
  #nextRevision = 1;
  #lastSource: EventLog | undefined;
  readonly #resumeFromNow: boolean;
  /** Events seen, in delivery order. */
  readonly events: WatchEvent[] = [];
  /** Revisions at which the follower had to resync past a compaction. */
  readonly resyncs: number[] = [];

  /**
   * `resumeFromNow` injects the classic watch bug: after switching to a new
   * leader, resume from that node's latest revision instead of from the
   * next unseen one.
   */
  constructor(options: { resumeFromNow?: boolean } = {}) {
    this.#resumeFromNow = options.resumeFromNow ?? false;
  }

  /** Reads new events from the source of the highest term (the current leader), if any. */
  poll(sources: WatchSource[]): void {
    if (sources.length === 0) return;
    const history = sources.reduce((a, b) => (b.term > a.term ? b : a)).history;
    if (this.#resumeFromNow && this.#lastSource !== undefined && history !== this.#lastSource) {
      let latest = this.#nextRevision;
      history.forEachFrom(this.#nextRevision, (e) => {
        latest = e.revision + 1;
        return true;
      });
      this.#nextRevision = latest;
    }
    this.#lastSource = history;
    if (history.compactRevision >= this.#nextRevision) {
      this.resyncs.push(this.#nextRevision);
      this.#nextRevision = history.compactRevision + 1;
    }
    history.forEachFrom(this.#nextRevision, (e) => {
      this.events.push(e);
      this.#nextRevision = e.revision + 1;
      return true;
    });
  }

  /**
   * Compares what was seen with `canonical` (the full retained history of
   * the most advanced node). Returns readable problems; empty when sound.
   */
  check(canonical: readonly WatchEvent[]): string[] {
    const problems: string[] = [];
    const byRevision = new Map<number, string[]>();
    for (const e of canonical) {
      const list = byRevision.get(e.revision) ?? [];
      list.push(render(e));
      byRevision.set(e.revision, list);
    }
    const oldest = canonical.length > 0 ? canonical[0].revision : Infinity;
    const seen = new Map<number, string[]>();
    let previous = 0;
    for (const e of this.events) {
      if (e.revision < previous) {
        problems.push(`event at revision ${e.revision} delivered after revision ${previous}`);
      }
      previous = e.revision;
      const list = seen.get(e.revision) ?? [];
      list.push(render(e));
      seen.set(e.revision, list);
    }
    const revisions = [...seen.keys()];
    for (const [i, revision] of revisions.entries()) {
      if (revision < oldest) continue;
      const expected = byRevision.get(revision);
      const got = seen.get(revision)!;
      if (!expected) {
        problems.push(`revision ${revision} was delivered but is not in the history`);
      } else if (expected.join("|") !== got.join("|")) {
        problems.push(
          `revision ${revision}: delivered ${got.join(", ")}; history ${expected.join(", ")}`,
        );
      }
      const next = revisions[i + 1];
      if (next === undefined) continue;
      const resynced = this.resyncs.some((r) => r > revision && r <= next);
      for (let r = revision + 1; r < next && !resynced; r++) {
        if (byRevision.has(r)) {
          problems.push(`revision ${r} was lost between ${revision} and ${next}`);
          break;
        }
      }
    }
    return problems;
  }
}
