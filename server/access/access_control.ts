/**
 * The policies in force on one node and who wants to hear when they change.
 * The config's policies are the base; the replicated store's (policy_store.ts)
 * come on top, a stored policy replacing a config policy of the same name.
 * Every decision reads one compiled {@link PolicySet}, the snapshot of one
 * store revision, so two nodes at the same revision decide alike.
 *
 * @module
 */
import { type Policy, PolicySet } from "@safla/core/access";
import { AuditLog } from "./audit_log.ts";

/** Told the snapshot before and after a change. */
export type PolicyChangeListener = (before: PolicySet, after: PolicySet) => void;

/** The node's policies and audit log. */
export class AccessControl {
  readonly #config: readonly Policy[];
  #snapshot: PolicySet;
  readonly #listeners = new Set<PolicyChangeListener>();
  /** Where denials and changes are recorded; in memory until a store is attached. */
  readonly audit = new AuditLog();

  /** Starts with the config's policies (already validated). */
  constructor(configPolicies: readonly Policy[] = []) {
    this.#config = configPolicies;
    this.#snapshot = configPolicies.length === 0
      ? PolicySet.EMPTY
      : PolicySet.compile(configPolicies);
  }

  /** The snapshot every decision reads. */
  get policies(): PolicySet {
    return this.#snapshot;
  }

  /** The policies of the config file. */
  get configPolicies(): readonly Policy[] {
    return this.#config;
  }

  /** Installs the store's policies as read at `revision`, over the config's. */
  applyStored(stored: Iterable<Policy>, revision: number): void {
    const byName = new Map(this.#config.map((p) => [p.name, p]));
    for (const policy of stored) byName.set(policy.name, policy);
    const before = this.#snapshot;
    this.#snapshot = PolicySet.compile([...byName.values()], revision);
    for (const listener of this.#listeners) listener(before, this.#snapshot);
  }

  /** Calls `listener` after every change; returns the unsubscribe. */
  onChange(listener: PolicyChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Listeners currently registered (sessions watching their view), for tests and status. */
  get listenerCount(): number {
    return this.#listeners.size;
  }
}
