/**
 * The watch checker: what one client received, against the global committed
 * event sequence. Every committed event that matches the client's selector,
 * from the revision its watch started at up to the revision it resumes from,
 * must have been received exactly once and in revision order, across every
 * reconnection. The only events it may miss are those it skipped after a
 * node said its resume revision was compacted (a `CompactedRevisionError`),
 * re-reading the state instead: a silent gap is a violation.
 *
 * The selector is re-implemented here, independently of the hub's filter,
 * so that a filter bug cannot hide itself.
 *
 * @module
 */
import { type WatchEvent, type WatchFilter } from "@safla/core/state";
import type { CanonicalHistory } from "./applied_log.ts";

/**
 * Revisions `fromRevision..throughRevision` a client skipped after a node
 * reported its resume revision compacted: it re-read the state at
 * `throughRevision` instead, as the error asks.
 */
export interface ExcusedRange {
  /** First revision the client asked for. */
  fromRevision: number;
  /** Last revision skipped: that of the state re-read. */
  throughRevision: number;
  /** The state re-read instead of the skipped events (must be the committed state then). */
  state: { revision: number; values: ReadonlyMap<string, string> };
}

/** What one client saw. */
export interface WatcherRecord {
  /** Name in reports. */
  name: string;
  /** Its selector. */
  filter: WatchFilter;
  /** First revision its watch covers; undefined if no node ever accepted it. */
  startRevision: number | undefined;
  /** Revision it would resume from: everything before was delivered or excused. */
  nextRevision: number;
  /** Events received, in order. */
  received: readonly WatchEvent[];
  /** Compacted revisions it was told about. */
  excused: readonly ExcusedRange[];
}

/** Violations of one client (or summed over clients). */
export interface WatchViolationCounts {
  /** Committed matching events in the window never received and not excused. */
  lost: number;
  /** Events received more than once. */
  duplicated: number;
  /** Events received after a later one. */
  reordered: number;
  /** Events received that are not in the committed sequence (wrong content or revision). */
  notCommitted: number;
  /** Events received that do not match the selector. */
  notMatching: number;
  /** Events received before the watch's start revision. */
  beforeStart: number;
  /** Clients that never got a watch, or did not reach the last committed revision. */
  stalled: number;
  /** Re-reads after a compaction error that do not match the committed state at their revision. */
  badResync: number;
}

/** The verdict on one client. */
export interface WatcherVerdict {
  /** Violation counts. */
  violations: WatchViolationCounts;
  /** Committed matching events in the window that were required. */
  expected: number;
  /** Committed matching events skipped after a compaction error (re-read instead). */
  excusedEvents: number;
  /** The first few problems, readable. */
  problems: string[];
}

/** Bound on problems described per client. */
const MAX_PROBLEMS = 5;

/** All-zero counts. */
export function noWatchViolations(): WatchViolationCounts {
  return {
    lost: 0,
    duplicated: 0,
    reordered: 0,
    notCommitted: 0,
    notMatching: 0,
    beforeStart: 0,
    stalled: 0,
    badResync: 0,
  };
}

/** Adds `b` into `a`. */
export function addWatchViolations(a: WatchViolationCounts, b: WatchViolationCounts): void {
  for (const k of Object.keys(a) as Array<keyof WatchViolationCounts>) a[k] += b[k];
}

/** Whether `key` is selected by `filter` (independent of the production filter). */
export function selects(filter: WatchFilter, key: string): boolean {
  if ("key" in filter) return key === filter.key;
  if ("prefix" in filter) return key.startsWith(filter.prefix);
  const escaped = filter.pattern.split("*").map((part) =>
    part.replace(/[.+?^${}()|[\]\\]/g, "\\$&")
  );
  return new RegExp(`^${escaped.join(".*")}$`, "s").test(key);
}

/** An event's identity and content, as text. */
export function renderEvent(e: WatchEvent): string {
  const prev = e.prevKv === null ? "-" : `${e.prevKv.value}@${e.prevKv.modRevision}`;
  return `${e.revision}:${e.type}:${e.kv.key}=${e.kv.value} v${e.kv.version} ` +
    `c${e.kv.createRevision} l${e.kv.leaseId} prev ${prev}`;
}

/**
 * Positions of the canonical events by rendering.
 *
 * @throws {Error} if two committed events render the same (the reference would be ambiguous).
 */
export function indexCanonical(canonical: CanonicalHistory): Map<string, number> {
  const positions = new Map<string, number>();
  canonical.events.forEach((e, i) => {
    const text = renderEvent(e);
    if (positions.has(text)) throw new Error(`two committed events render as ${text}`);
    positions.set(text, i);
  });
  return positions;
}

/**
 * Checks one client against the committed sequence.
 *
 * @example
 * ```ts ignore
 * const positions = indexCanonical(canonical);
 * const verdict = checkWatcher(client, canonical, positions);
 * console.assert(verdict.violations.lost === 0);
 * ```
 */
export function checkWatcher(
  record: WatcherRecord,
  canonical: CanonicalHistory,
  positions: Map<string, number> = indexCanonical(canonical),
): WatcherVerdict {
  const violations = noWatchViolations();
  const problems: string[] = [];
  const problem = (text: string): void => {
    if (problems.length < MAX_PROBLEMS) problems.push(`${record.name}: ${text}`);
  };
  const start = record.startRevision;
  if (start === undefined) {
    violations.stalled++;
    problem("no node ever accepted its watch");
    return { violations, expected: 0, excusedEvents: 0, problems };
  }
  const seen = new Set<number>();
  let lastPosition = -1;
  for (const e of record.received) {
    const text = renderEvent(e);
    const position = positions.get(text);
    if (position === undefined) {
      violations.notCommitted++;
      problem(`received ${text}, which was never committed`);
      continue;
    }
    if (!selects(record.filter, e.kv.key)) {
      violations.notMatching++;
      problem(`received ${text}, which its selector does not match`);
    }
    if (e.revision < start) {
      violations.beforeStart++;
      problem(`received ${text}, before its start revision ${start}`);
    }
    if (seen.has(position)) {
      violations.duplicated++;
      problem(`received ${text} again`);
    } else if (position < lastPosition) {
      violations.reordered++;
      problem(`received ${text} after ${renderEvent(canonical.events[lastPosition])}`);
    }
    seen.add(position);
    lastPosition = Math.max(lastPosition, position);
  }
  const excused = (revision: number): boolean =>
    record.excused.some((r) => r.fromRevision <= revision && revision <= r.throughRevision);
  let expected = 0;
  let excusedEvents = 0;
  canonical.events.forEach((e, position) => {
    if (e.revision < start || e.revision >= record.nextRevision) return;
    if (!selects(record.filter, e.kv.key)) return;
    if (excused(e.revision)) {
      excusedEvents++;
      return;
    }
    expected++;
    if (seen.has(position)) return;
    violations.lost++;
    problem(`never received ${renderEvent(e)} (no compaction reported for it)`);
  });
  for (const range of record.excused) {
    const mismatch = resyncMismatch(record.filter, range, canonical);
    if (mismatch === undefined) continue;
    violations.badResync++;
    problem(`re-read at revision ${range.state.revision}: ${mismatch}`);
  }
  if (record.nextRevision <= canonical.lastRevision) {
    violations.stalled++;
    problem(
      `resumes from ${record.nextRevision}, but revisions up to ${canonical.lastRevision} ` +
        `were committed`,
    );
  }
  return { violations, expected, excusedEvents, problems };
}

/** How a re-read differs from the committed state at its revision (selected keys only), if it does. */
function resyncMismatch(
  filter: WatchFilter,
  range: ExcusedRange,
  canonical: CanonicalHistory,
): string | undefined {
  const { revision, values } = range.state;
  if (revision !== range.throughRevision) {
    return `it reflects revision ${revision} but revisions through ${range.throughRevision} were skipped`;
  }
  const committed = new Map<string, string>();
  for (const e of canonical.events) {
    if (e.revision > revision) break;
    if (e.type === "put") committed.set(e.kv.key, e.kv.value);
    else committed.delete(e.kv.key);
  }
  const keys = new Set([...committed.keys(), ...values.keys()]);
  for (const key of [...keys].sort()) {
    if (!selects(filter, key) || committed.get(key) === values.get(key)) continue;
    return `${key} read as ${values.get(key) ?? "absent"}, committed ${
      committed.get(key) ?? "absent"
    }`;
  }
  return undefined;
}

/**
 * How a node's retained event history differs from the committed sequence,
 * if it does: after its compaction point it must hold exactly the committed
 * events, in order (it may end earlier, if the node has not applied
 * everything yet).
 */
export function nodeHistoryMismatch(
  retained: readonly WatchEvent[],
  compactRevision: number,
  canonical: CanonicalHistory,
): string | undefined {
  const first = canonical.events.findIndex((e) => e.revision > compactRevision);
  for (const [i, event] of retained.entries()) {
    const committed = first < 0 ? undefined : canonical.events[first + i];
    if (committed === undefined || renderEvent(committed) !== renderEvent(event)) {
      return `holds ${renderEvent(event)} where the committed sequence has ` +
        (committed === undefined ? "nothing" : renderEvent(committed));
    }
  }
  return undefined;
}
