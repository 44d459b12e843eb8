/**
 * Who gives way when a node's session slots run out: a pure choice over the
 * open sessions, so that a flood of `initialize` calls cannot lock other
 * clients out (issue 11: 5,000 initializes held every slot for 30 minutes).
 *
 * Limits: at most `maxSessions` per node and `maxSessionsPerPrincipal` per
 * principal (by `principalKey`). A principal at its own limit makes room
 * among its own sessions; a full node makes room among the sessions of the
 * principal holding the most (then the next, if all of those are active).
 * Within a principal, a session never used for anything but its handshake
 * goes first (oldest first), then the longest idle. An active session (a
 * call in flight, a notification stream open, or a request within
 * {@link ACTIVE_WINDOW_MS}) is never evicted; when nothing can give way the
 * newcomer is refused, to retry after {@link RETRY_AFTER_SECONDS}.
 *
 * @module
 */

/** A session used this recently counts as active (it is between two requests of a burst). */
export const ACTIVE_WINDOW_MS = 5_000;

/** Retry hint of a refused `initialize` (503 with `Retry-After`). */
export const RETRY_AFTER_SECONDS = 5;

/** Default bound on one principal's sessions per node. */
export const DEFAULT_MAX_SESSIONS_PER_PRINCIPAL = 1_000;

/** What the choice needs to know of one open session. */
export interface SessionView {
  readonly id: string;
  /** `principalKey` of its owner. */
  readonly owner: string;
  readonly lastSeenMs: number;
  /** The client sent something beyond `initialize` and `notifications/initialized`. */
  readonly used: boolean;
  /** A call in flight or a notification stream open. */
  readonly busy: boolean;
}

/** The outcome for a newcomer: room as is, room after evicting `evict`, or refused. */
export type Admission =
  | { readonly admit: true; readonly evict?: string }
  | { readonly admit: false; readonly reason: string };

/**
 * Decides whether a new session of `owner` may open among `open`, and which
 * session gives way for it.
 */
export function admitSession(
  open: readonly SessionView[],
  owner: string,
  limits: { maxSessions: number; maxSessionsPerPrincipal: number },
  nowMs: number,
): Admission {
  const byOwner = new Map<string, SessionView[]>();
  for (const s of open) {
    const list = byOwner.get(s.owner);
    if (list === undefined) byOwner.set(s.owner, [s]);
    else list.push(s);
  }
  const own = byOwner.get(owner) ?? [];
  if (own.length >= limits.maxSessionsPerPrincipal) {
    const evict = victimAmong(own, nowMs);
    return evict === undefined
      ? { admit: false, reason: `${own.length} active sessions of this principal on this node` }
      : { admit: true, evict };
  }
  if (open.length < limits.maxSessions) return { admit: true };
  const holders = [...byOwner.values()].sort((a, b) => b.length - a.length);
  for (const sessions of holders) {
    const evict = victimAmong(sessions, nowMs);
    if (evict !== undefined) return { admit: true, evict };
  }
  return { admit: false, reason: `all ${open.length} sessions of this node are active` };
}

function victimAmong(sessions: readonly SessionView[], nowMs: number): string | undefined {
  let best: SessionView | undefined;
  for (const s of sessions) {
    if (s.busy || (s.used && nowMs - s.lastSeenMs < ACTIVE_WINDOW_MS)) continue;
    if (best === undefined || goesBefore(s, best)) best = s;
  }
  return best?.id;
}

/** Never-used sessions first, then the longest idle. */
function goesBefore(a: SessionView, b: SessionView): boolean {
  if (a.used !== b.used) return !a.used;
  return a.lastSeenMs < b.lastSeenMs;
}
