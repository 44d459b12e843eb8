/**
 * What a stranger can make the peer listener hold: connections that have not
 * authenticated yet are capped (the oldest is closed to make room), and
 * rejections reach the log at a bounded rate.
 *
 * Evicting the oldest rather than refusing the newest keeps real peers able to
 * join during a flood: their handshake completes within a round trip, so a
 * flood must open a cap's worth of connections within that time to push one
 * out, whereas refusing new ones would let a cap's worth of idle connections
 * lock every peer out until their deadline.
 *
 * @module
 */
import type { PeerConn } from "./peer_conn.ts";

/** Counters of the listener. */
export interface InboundStats {
  /** Connections accepted and still in their handshake. */
  unauthenticated: number;
  /** Connections that completed the handshake, since start. */
  authenticated: number;
  /** Unauthenticated connections closed to make room for newer ones, since start. */
  evicted: number;
  /** Connections closed for a failed handshake, an eviction or a protocol breach, since start. */
  rejected: number;
}

/**
 * The bookkeeping of unauthenticated connections.
 *
 * @example
 * ```ts ignore
 * const guard = new InboundGuard(32);
 * guard.admit(conn); // may close the oldest connection still in its handshake
 * guard.authenticated(conn);
 * ```
 */
export class InboundGuard {
  #pending = new Set<PeerConn>();
  #evicted = new WeakSet<PeerConn>();
  #authenticated = 0;
  #evictedCount = 0;
  #rejected = 0;

  /** A guard admitting at most `maxUnauthenticated` connections in their handshake. */
  constructor(readonly maxUnauthenticated: number) {}

  /** Tracks a new connection, closing the oldest unauthenticated one if the cap is reached. */
  admit(conn: PeerConn): void {
    if (this.#pending.size >= this.maxUnauthenticated) {
      const oldest = this.#pending.values().next().value!;
      this.#pending.delete(oldest);
      this.#evicted.add(oldest);
      this.#evictedCount++;
      oldest.close();
    }
    this.#pending.add(conn);
  }

  /** The connection completed its handshake. */
  authenticated(conn: PeerConn): void {
    this.#pending.delete(conn);
    this.#authenticated++;
  }

  /** The connection failed its handshake; true when it was evicted. */
  rejected(conn: PeerConn): boolean {
    this.#pending.delete(conn);
    this.#rejected++;
    return this.#evicted.has(conn);
  }

  /** The connections still in their handshake (to close at shutdown). */
  pending(): Iterable<PeerConn> {
    return this.#pending;
  }

  /** Current counters. */
  stats(): InboundStats {
    return {
      unauthenticated: this.#pending.size,
      authenticated: this.#authenticated,
      evicted: this.#evictedCount,
      rejected: this.#rejected,
    };
  }
}

/**
 * Lets through at most `perWindow` reports per `windowMs`; the first report
 * of a later window says how many were held back, so a flood of bad
 * connections cannot flood the log.
 *
 * @example
 * ```ts
 * import { ReportLimiter } from "./inbound_guard.ts";
 * const limiter = new ReportLimiter(1, 1_000);
 * console.assert(limiter.admit(0) === 0 && limiter.admit(1) === undefined && limiter.admit(1_000) === 1);
 * ```
 */
export class ReportLimiter {
  #windowStartMs = -Infinity;
  #inWindow = 0;
  #suppressed = 0;

  /** A limiter of `perWindow` reports per `windowMs`. */
  constructor(readonly perWindow = 10, readonly windowMs = 1_000) {}

  /** Undefined when the report is held back, else how many were held back before it. */
  admit(nowMs: number): number | undefined {
    if (nowMs - this.#windowStartMs >= this.windowMs) {
      this.#windowStartMs = nowMs;
      this.#inWindow = 0;
    }
    if (this.#inWindow >= this.perWindow) {
      this.#suppressed++;
      return undefined;
    }
    this.#inWindow++;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }
}
