/**
 * The leader's lessor: decides when leases are due, so the leader proposes
 * `leaseExpire` commands. Leases themselves (TTL, attached keys, fencing
 * token) live in the replicated {@link KvStore}; deadlines live here, on the
 * leader only, measured by the leader's own clock passed in as `nowMs`.
 *
 * Why deadlines are not replicated: clocks differ between nodes, so a
 * deadline computed on one node means nothing on another. Following etcd,
 * a newly elected leader starts every lease's deadline afresh at
 * `now + ttl` ({@link Lessor.promote}), so no lease expires because of the
 * failover itself, and the `leaseExpire` it proposes carries the lease's
 * renew index as a fencing token, so an expiry decided before a keep-alive
 * (for instance by a deposed leader) is refused when applied.
 *
 * @module
 */
import type { LeaseExpireCommand } from "./commands.ts";
import type { CommandResult } from "./kv.ts";
import type { LeaseInfo } from "./types.ts";

/** Bounds of a {@link Lessor}. */
export interface LessorOptions {
  /**
   * How long to wait before proposing the expiry of the same lease again if
   * the first proposal has not been applied (it may have been dropped).
   * Default 1000 ms.
   */
  expireRetryMs?: number;
  /** Most expiries returned by one {@link Lessor.expireCommands} call. Default 100. */
  maxExpiriesPerCall?: number;
}

/** Where the lessor reads a lease's current fencing token (a {@link KvStore}). */
export interface LeaseLookup {
  /** The lease, or null if it no longer exists. */
  lease(leaseId: number): LeaseInfo | null;
}

function assertTime(nowMs: number): void {
  if (!Number.isFinite(nowMs) || nowMs < 0) {
    throw new RangeError(`Lessor: nowMs must be a finite non-negative number, got ${nowMs}`);
  }
}

/**
 * Tracks lease deadlines on the leader and says which leases to expire.
 *
 * Driver contract: call {@link Lessor.promote} when this node becomes
 * leader (and again after installing a snapshot while leader),
 * {@link Lessor.demote} when it stops being leader, pass every apply result
 * to {@link Lessor.observe}, and on each tick propose what
 * {@link Lessor.expireCommands} returns.
 *
 * @example
 * ```ts
 * import { KvStore, Lessor } from "@safla/core/state";
 * const store = new KvStore();
 * const lessor = new Lessor();
 * lessor.promote(0, store.leases());
 * lessor.observe(store.apply(1, { op: "leaseGrant", leaseId: 7, ttlMs: 100, nowMs: 0 }), 0);
 * console.assert(lessor.expireCommands(50, 1, store).length === 0);
 * const [expire] = lessor.expireCommands(100, 1, store);
 * console.assert(expire.leaseId === 7 && expire.renewIndex === 1);
 * ```
 */
export class Lessor {
  readonly #expireRetryMs: number;
  readonly #maxExpiriesPerCall: number;
  readonly #deadlinesMs = new Map<number, number>();
  #primary = false;

  /** Creates a lessor that is not primary (a follower's). */
  constructor(options: LessorOptions = {}) {
    this.#expireRetryMs = options.expireRetryMs ?? 1000;
    this.#maxExpiriesPerCall = options.maxExpiriesPerCall ?? 100;
    if (!(this.#expireRetryMs > 0) || !(this.#maxExpiriesPerCall >= 1)) {
      throw new RangeError("Lessor: expireRetryMs and maxExpiriesPerCall must be positive");
    }
  }

  /** Whether this lessor decides expiries (its node is the leader). */
  get isPrimary(): boolean {
    return this.#primary;
  }

  /** Number of leases tracked. */
  get size(): number {
    return this.#deadlinesMs.size;
  }

  /**
   * Becomes primary: every existing lease gets the deadline
   * `nowMs + ttlMs + extendMs`, whatever happened under the previous leader.
   */
  promote(nowMs: number, leases: Iterable<Pick<LeaseInfo, "id" | "ttlMs">>, extendMs = 0): void {
    assertTime(nowMs);
    this.#primary = true;
    this.#deadlinesMs.clear();
    for (const lease of leases) this.#deadlinesMs.set(lease.id, nowMs + lease.ttlMs + extendMs);
  }

  /** Stops being primary and forgets every deadline. */
  demote(): void {
    this.#primary = false;
    this.#deadlinesMs.clear();
  }

  /**
   * Follows an applied command's result: a grant or keep-alive starts a new
   * TTL at `nowMs`; a revoke or expiry (or a lease found missing) drops the
   * lease. Ignored unless primary.
   */
  observe(result: CommandResult, nowMs: number): void {
    if (!this.#primary) return;
    assertTime(nowMs);
    if (result.ok) {
      if (result.op === "leaseGrant" || result.op === "leaseKeepAlive") {
        this.#deadlinesMs.set(result.leaseId, nowMs + result.ttlMs);
      } else if (result.op === "leaseRevoke" || result.op === "leaseExpire") {
        this.#deadlinesMs.delete(result.leaseId);
      }
    }
  }

  /** Milliseconds until a lease is due (≤ 0 when due), or null if not tracked. */
  remainingMs(leaseId: number, nowMs: number): number | null {
    const deadline = this.#deadlinesMs.get(leaseId);
    return deadline === undefined ? null : deadline - nowMs;
  }

  /** Ids of leases due at `nowMs`, earliest deadline first (ties by id), at most `max`. */
  due(nowMs: number, max: number = this.#maxExpiriesPerCall): number[] {
    assertTime(nowMs);
    if (!this.#primary) return [];
    const due: Array<[number, number]> = [];
    for (const [id, deadline] of this.#deadlinesMs) if (deadline <= nowMs) due.push([deadline, id]);
    due.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    return due.slice(0, max).map(([, id]) => id);
  }

  /**
   * The `leaseExpire` commands to propose now, fenced with `term` (the
   * leader's current Raft term) and each lease's current renew index read
   * from `leases`. Each returned lease is not returned again for
   * `expireRetryMs` unless its proposal is applied first. Leases that no
   * longer exist are forgotten.
   */
  expireCommands(nowMs: number, term: number, leases: LeaseLookup): LeaseExpireCommand[] {
    if (!Number.isSafeInteger(term) || term < 1) {
      throw new RangeError(`Lessor: term must be a positive integer, got ${term}`);
    }
    const commands: LeaseExpireCommand[] = [];
    for (const leaseId of this.due(nowMs)) {
      const lease = leases.lease(leaseId);
      if (lease === null) {
        this.#deadlinesMs.delete(leaseId);
        continue;
      }
      commands.push({ op: "leaseExpire", leaseId, term, renewIndex: lease.renewIndex });
      this.#deadlinesMs.set(leaseId, nowMs + this.#expireRetryMs);
    }
    return commands;
  }
}
