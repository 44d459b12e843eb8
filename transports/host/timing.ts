/**
 * How long a Raft tick is on a real clock, and the timeouts counted in ticks.
 *
 * @module
 */

/** The clock of a hosted node. */
export interface HostTiming {
  /** Wall-clock length of one Raft tick. */
  tickMs: number;
  /** Election timeout in ticks; each node draws its timeout from [electionTicks, 2 * electionTicks). */
  electionTicks: number;
  /** Leader heartbeat interval in ticks. */
  heartbeatTicks: number;
}

/**
 * Defaults chosen for the failover target: a killed leader is replaced and
 * the new one serves a write within 1 s (p99).
 *
 * Followers notice a dead leader once their randomized election timeout
 * runs out: between 6 and 12 ticks of 40 ms, so 240–480 ms after the last
 * heartbeat (the first of two followers to time out wins, typically ~320 ms).
 * PreVote and the vote then take two loopback round trips and an fsync
 * each, and the new leader commits its empty entry with one more; a write
 * retried by the client lands right after. Measured with
 * `server/bench/bench_failover.ts` on a loaded 2-core machine: p50 ~410 ms,
 * p99 0.6–0.9 s over 20 kills (with 50 ms ticks the p99 was 0.9–1.5 s).
 *
 * Heartbeats every tick (40 ms) give a follower six heartbeats before it may
 * suspect the leader, so a timer firing 100 ms late on a busy event loop does
 * not start a needless election (and PreVote keeps such a node from
 * disrupting a healthy leader). The 100 ms × 10 ticks of many Raft
 * deployments would mean 1–2 s before an election even starts.
 */
export const DEFAULT_TIMING: Readonly<HostTiming> = Object.freeze({
  tickMs: 40,
  electionTicks: 6,
  heartbeatTicks: 1,
});

/** Throws a RangeError naming the field if `timing` cannot work. */
export function validateTiming(timing: HostTiming): void {
  if (!Number.isFinite(timing.tickMs) || timing.tickMs < 1) {
    throw new RangeError(`timing.tickMs must be at least 1, got ${timing.tickMs}`);
  }
  if (!Number.isInteger(timing.heartbeatTicks) || timing.heartbeatTicks < 1) {
    throw new RangeError(`timing.heartbeatTicks must be a positive integer`);
  }
  if (!Number.isInteger(timing.electionTicks) || timing.electionTicks <= timing.heartbeatTicks) {
    throw new RangeError(
      `timing.electionTicks must be an integer greater than heartbeatTicks (${timing.heartbeatTicks})`,
    );
  }
}

/**
 * Ticks a hosted leader goes without hearing from a quorum before it steps
 * down: two election timeouts. Followers that apply one huge command (a
 * prefix delete of 100k keys) all stall at the same moment, for ~450 ms on a
 * loaded machine; with a one-timeout window the leader gave up its quorum
 * and an election followed. Failover is unchanged (a dead leader is replaced
 * when the followers' own election timeouts run out), reads are ReadIndex
 * reads that never rely on the leader's lease, and a leader cut off from the
 * quorum still steps down, 0.5–1 s later than before.
 *
 * @example
 * ```ts
 * import { checkQuorumTicks, DEFAULT_TIMING } from "./timing.ts";
 * console.assert(checkQuorumTicks(DEFAULT_TIMING) === 12);
 * ```
 */
export function checkQuorumTicks(timing: HostTiming): number {
  return 2 * timing.electionTicks;
}

/**
 * Decides which firings of the host's tick timer reach Raft. A timer that
 * fires more than a whole period late means the event loop was held (a big
 * apply, a long GC, the process descheduled), and whatever arrived meanwhile
 * (the leader's heartbeats) is still unread behind it: counting that tick
 * first charged the node's own stall to the leader's silence, and a follower
 * came out of a 400 ms stall straight into PreVote. Such a tick is skipped
 * once; the next one counts, so a node late on every tick still ticks at
 * half rate. A timer never delivers missed periods in a burst, so a stall
 * costs at most one tick of election time.
 *
 * @example
 * ```ts
 * import { TickPacer } from "./timing.ts";
 * const pacer = new TickPacer(40, 0);
 * console.assert(pacer.fire(40) === true);
 * console.assert(pacer.fire(500) === false); // 420 ms late: read the messages first
 * console.assert(pacer.fire(540) === true);
 * ```
 */
export class TickPacer {
  readonly #tickMs: number;
  #lastFireMs: number;
  #skipped = false;
  /** How late the last firing was, beyond its period. */
  lateMs = 0;

  /** Starts the clock at `nowMs` with ticks every `tickMs`. */
  constructor(tickMs: number, nowMs: number) {
    this.#tickMs = tickMs;
    this.#lastFireMs = nowMs;
  }

  /** The timer fired at `nowMs`; returns whether this tick counts. */
  fire(nowMs: number): boolean {
    this.lateMs = Math.max(0, nowMs - this.#lastFireMs - this.#tickMs);
    this.#lastFireMs = nowMs;
    if (this.lateMs >= this.#tickMs && !this.#skipped) {
      this.#skipped = true;
      return false;
    }
    this.#skipped = false;
    return true;
  }
}
