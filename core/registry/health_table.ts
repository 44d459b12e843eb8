/**
 * The health state machines of many replicas, keyed by service and replica,
 * so a gateway node feeds probe and call outcomes in one place and gets back
 * the status changes to publish (for instance with `Registry.setHealth`).
 *
 * @module
 */

import {
  DEFAULT_HEALTH_POLICY,
  HEALTH_STATUSES,
  HealthError,
  type HealthObservation,
  type HealthPolicy,
  type HealthState,
  type HealthStatus,
  type HealthTransition,
  initialHealth,
  observeHealth,
  validateHealthPolicy,
} from "./health.ts";

/** A status change of one replica. */
export interface HealthChange {
  /** The replica's service. */
  serviceId: string;
  /** The replica. */
  replicaId: string;
  /** What changed. */
  transition: HealthTransition;
}

/** A {@link HealthTable} as plain JSON. */
export interface HealthTableSnapshot {
  /** The thresholds in force. */
  policy: HealthPolicy;
  /** One entry per tracked replica, sorted by service then replica. */
  entries: Array<{ serviceId: string; replicaId: string; state: HealthState }>;
}

/** Most replicas one table tracks. */
export const MAX_HEALTH_ENTRIES = 10_000;

// Service and replica ids never contain "/" (see service.ts), so it joins them unambiguously.
const keyOf = (serviceId: string, replicaId: string): string => `${serviceId}/${replicaId}`;

/**
 * Health of many replicas under one policy.
 *
 * @example
 * ```ts
 * import { HealthTable } from "./health_table.ts";
 * const table = new HealthTable({ unhealthyAfterFailures: 2, healthyAfterSuccesses: 1, minDwellMs: 0, requireTools: false });
 * const change = table.observe("gh", "r1", { kind: "probe", atMs: 5, ok: true, toolCount: 3 });
 * console.assert(change?.transition.to === "healthy" && table.status("gh", "r1") === "healthy");
 * ```
 */
export class HealthTable {
  readonly #policy: HealthPolicy;
  #entries = new Map<string, { serviceId: string; replicaId: string; state: HealthState }>();

  /** Creates an empty table; throws `HealthError` on an invalid policy. */
  constructor(policy: HealthPolicy = DEFAULT_HEALTH_POLICY) {
    this.#policy = Object.freeze({ ...validateHealthPolicy(policy) });
  }

  /** The policy in force. */
  get policy(): HealthPolicy {
    return this.#policy;
  }

  /** Number of tracked replicas. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Feeds one observation of a replica; a replica seen for the first time
   * starts `unknown` at the observation's time. Returns the status change it
   * caused, or null.
   */
  observe(
    serviceId: string,
    replicaId: string,
    observation: HealthObservation,
  ): HealthChange | null {
    const key = keyOf(serviceId, replicaId);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      if (this.#entries.size >= MAX_HEALTH_ENTRIES) {
        throw new HealthError(`health table is full (${MAX_HEALTH_ENTRIES} replicas)`);
      }
      entry = { serviceId, replicaId, state: initialHealth(observation.atMs) };
      this.#entries.set(key, entry);
    }
    const step = observeHealth(entry.state, observation, this.#policy);
    entry.state = step.state;
    return step.transition === null ? null : { serviceId, replicaId, transition: step.transition };
  }

  /**
   * Lets every replica apply a transition its dwell time held back. Returns
   * the changes, sorted by service then replica.
   */
  tick(atMs: number): HealthChange[] {
    const changes: HealthChange[] = [];
    for (const key of [...this.#entries.keys()].sort()) {
      const { serviceId, replicaId } = this.#entries.get(key)!;
      const change = this.observe(serviceId, replicaId, { kind: "tick", atMs });
      if (change !== null) changes.push(change);
    }
    return changes;
  }

  /** Current status of a replica; `unknown` for one never observed. */
  status(serviceId: string, replicaId: string): HealthStatus {
    return this.#entries.get(keyOf(serviceId, replicaId))?.state.status ?? "unknown";
  }

  /** Full state of a replica, or undefined. */
  state(serviceId: string, replicaId: string): HealthState | undefined {
    const state = this.#entries.get(keyOf(serviceId, replicaId))?.state;
    return state === undefined ? undefined : { ...state };
  }

  /** Stops tracking a replica (it was unregistered). Returns whether it was tracked. */
  forget(serviceId: string, replicaId: string): boolean {
    return this.#entries.delete(keyOf(serviceId, replicaId));
  }

  /** The table as plain JSON. */
  toJSON(): HealthTableSnapshot {
    return {
      policy: { ...this.#policy },
      entries: [...this.#entries.keys()].sort().map((key) => {
        const { serviceId, replicaId, state } = this.#entries.get(key)!;
        return { serviceId, replicaId, state: { ...state } };
      }),
    };
  }

  /** Rebuilds a table from {@link HealthTable.toJSON} output. */
  static fromJSON(snapshot: HealthTableSnapshot): HealthTable {
    const table = new HealthTable(snapshot.policy);
    if (!Array.isArray(snapshot.entries) || snapshot.entries.length > MAX_HEALTH_ENTRIES) {
      throw new HealthError(
        `health table snapshot: entries must be an array of at most ${MAX_HEALTH_ENTRIES}`,
      );
    }
    for (const { serviceId, replicaId, state } of snapshot.entries) {
      const key = keyOf(serviceId, replicaId);
      if (table.#entries.has(key)) {
        throw new HealthError(`health table snapshot: ${key} listed twice`);
      }
      checkState(key, state);
      table.#entries.set(key, { serviceId, replicaId, state: { ...state } });
    }
    return table;
  }
}

function checkState(key: string, state: HealthState): void {
  const counts = [state?.consecutiveSuccesses, state?.consecutiveFailures];
  const times = [state?.sinceMs, state?.lastObservedAtMs];
  const ok = state !== null && typeof state === "object" &&
    HEALTH_STATUSES.includes(state.status) &&
    counts.every((n) => Number.isSafeInteger(n) && n >= 0) &&
    times.every((t) => Number.isFinite(t)) && state.sinceMs <= state.lastObservedAtMs &&
    typeof state.offeredTools === "boolean" && typeof state.toolsMissing === "boolean" &&
    (state.lastFailure === null || typeof state.lastFailure === "string");
  if (!ok) throw new HealthError(`health table snapshot: state of ${key} is malformed`);
}
