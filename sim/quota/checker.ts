/**
 * The quota invariant of DESIGN.md §8, checked over what a run recorded:
 * calls admitted cluster-wide never exceed the budget the bucket refilled
 * plus the slices outstanding. Three checks, each a count of violations:
 *
 * - `overGranted`: in every window of grant times, the tokens granted are at
 *   most `burst + rate x window + skew` (the bucket, serialized by the store).
 * - `unbackedAdmissions`: each node admitted a call only against a token of a
 *   slice it had received and that had not expired (replayed per node,
 *   soonest-expiring first, which finds a backing whenever one exists).
 * - `overAdmitted`: in every window `[a, b]` of admission times, the calls
 *   admitted are at most `burst + rate x (b - a) + skew` plus the tokens of
 *   slices granted less than one slice lifetime before `a` (all that can still
 *   be outstanding at `a`).
 *
 * `skew` is `rate x` the spread of the nodes' clocks, plus one token for the
 * bucket's fractional carry.
 *
 * @module
 */

/** One slice a node received. */
export interface GrantRecord {
  readonly node: string;
  /** When the granting node read its clock and computed the slice (virtual µs). */
  readonly proposedUs: number;
  /** When the node learned it was granted. */
  readonly receivedUs: number;
  readonly count: number;
  /** When the node stops spending it (virtual µs). */
  readonly expiresUs: number;
}

/** One admitted call. */
export interface AdmissionRecord {
  readonly node: string;
  readonly timeUs: number;
}

/** The quota and the run's clock spread. */
export interface QuotaBounds {
  readonly ratePerSec: number;
  readonly burst: number;
  readonly sliceTtlUs: number;
  /** Largest minus smallest node clock offset, µs. */
  readonly clockSpreadUs: number;
}

/** Violation counts (each must be 0) and the worst margins seen. */
export interface QuotaCheck {
  overGranted: number;
  unbackedAdmissions: number;
  overAdmitted: number;
  /** Largest `granted - allowed` over grant windows (<= 0 when correct). */
  worstGrantExcess: number;
  /** Largest `admitted - allowed` over admission windows (<= 0 when correct). */
  worstAdmitExcess: number;
}

/** Runs the three checks. */
export function checkQuota(
  grants: readonly GrantRecord[],
  admissions: readonly AdmissionRecord[],
  bounds: QuotaBounds,
): QuotaCheck {
  const perUs = bounds.ratePerSec / 1e6;
  const slack = bounds.burst + perUs * bounds.clockSpreadUs + 1;
  const byProposal = [...grants].sort((a, b) => a.proposedUs - b.proposedUs);

  // Windows [g_i, g_j]: sum(i..j) - perUs (t_j - t_i) <= slack. With prefix
  // sums P, that is max_{j>=i} (P[j+1] - perUs t_j) - P[i] + perUs t_i.
  const prefix = [0];
  for (const g of byProposal) prefix.push(prefix.at(-1)! + g.count);
  const grantCheck = windowExcess(
    byProposal.map((g) => g.proposedUs),
    (j) => prefix[j + 1],
    (i) => prefix[i],
    perUs,
    () => slack,
  );

  // Windows [a_i, a_j] of admissions: (j - i + 1) <= slack + perUs (t_j - t_i) + G(a_i), where
  // G(a) is what was granted in (a - ttl, a]: the most that can be outstanding at a.
  const times = admissions.map((a) => a.timeUs).sort((a, b) => a - b);
  const outstandingAt = (timeUs: number): number =>
    prefix[upperBound(byProposal, timeUs)] -
    prefix[upperBound(byProposal, timeUs - bounds.sliceTtlUs)];
  const admitCheck = windowExcess(
    times,
    (j) => j + 1,
    (i) => i,
    perUs,
    (i) => slack + outstandingAt(times[i]),
  );

  return {
    overGranted: grantCheck.violations,
    unbackedAdmissions: unbacked(grants, admissions),
    overAdmitted: admitCheck.violations,
    worstGrantExcess: round(grantCheck.worst),
    worstAdmitExcess: round(admitCheck.worst),
  };
}

/**
 * For sorted times t and cumulative counts, the windows starting at each i:
 * excess_i = max_{j>=i} (upTo(j) - perUs t_j) - before(i) + perUs t_i - allowed(i).
 */
function windowExcess(
  times: readonly number[],
  upTo: (j: number) => number,
  before: (i: number) => number,
  perUs: number,
  allowed: (i: number) => number,
): { violations: number; worst: number } {
  let violations = 0;
  let worst = -Infinity;
  let best = -Infinity;
  for (let i = times.length - 1; i >= 0; i--) {
    best = Math.max(best, upTo(i) - perUs * times[i]);
    const excess = best - before(i) + perUs * times[i] - allowed(i);
    worst = Math.max(worst, excess);
    if (excess > 1e-6) violations++;
  }
  return { violations, worst: times.length === 0 ? 0 : worst };
}

function unbacked(grants: readonly GrantRecord[], admissions: readonly AdmissionRecord[]): number {
  type Event = { timeUs: number; grant?: GrantRecord };
  const byNode = new Map<string, Event[]>();
  const eventsOf = (node: string): Event[] => {
    let events = byNode.get(node);
    if (events === undefined) byNode.set(node, events = []);
    return events;
  };
  for (const g of grants) eventsOf(g.node).push({ timeUs: g.receivedUs, grant: g });
  for (const a of admissions) eventsOf(a.node).push({ timeUs: a.timeUs });
  let violations = 0;
  for (const events of byNode.values()) {
    // A grant received at the same moment as a call is usable by it.
    events.sort((a, b) => a.timeUs - b.timeUs || (a.grant ? 0 : 1) - (b.grant ? 0 : 1));
    const live: Array<{ remaining: number; expiresUs: number }> = [];
    for (const e of events) {
      if (e.grant) {
        live.push({ remaining: e.grant.count, expiresUs: e.grant.expiresUs });
        live.sort((a, b) => a.expiresUs - b.expiresUs);
        continue;
      }
      while (live.length > 0 && (live[0].expiresUs <= e.timeUs || live[0].remaining === 0)) {
        live.shift();
      }
      if (live.length === 0) violations++;
      else live[0].remaining--;
    }
  }
  return violations;
}

/** Index of the first grant proposed after `timeUs`. */
function upperBound(sorted: readonly GrantRecord[], timeUs: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid].proposedUs <= timeUs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
