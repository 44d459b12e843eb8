/**
 * What the policy management tools and `/admin/policies` share: where a
 * runtime change is written ({@link PolicyWriter}), how a new policy is
 * accepted (validated, and within the bounds on policies and rules in force),
 * and how the policies in force are listed.
 *
 * @module
 */
import { parsePolicy, type Policy, PolicyError } from "@safla/core/access";
import type { Gateway } from "../gateway/gateway.ts";
import type { AccessControl } from "./access_control.ts";

/** Where runtime policy changes go: the replicated store, or this node's memory. */
export interface PolicyWriter {
  /** Stores `policy`; resolves with the revision once this node runs on it. */
  put(policy: Policy): Promise<number>;
  /** Deletes policy `name`; resolves once this node runs without it. */
  delete(name: string): Promise<{ deleted: boolean; revision: number }>;
}

/** Runtime policies of a node without a store: in memory, lost at restart. */
export class MemoryPolicies implements PolicyWriter {
  readonly #gateway: Gateway;
  readonly #policies = new Map<string, Policy>();
  #revision = 0;

  constructor(gateway: Gateway) {
    this.#gateway = gateway;
  }

  put(policy: Policy): Promise<number> {
    this.#policies.set(policy.name, policy);
    this.#gateway.access.applyStored(this.#policies.values(), ++this.#revision);
    return Promise.resolve(this.#revision);
  }

  delete(name: string): Promise<{ deleted: boolean; revision: number }> {
    const deleted = this.#policies.delete(name);
    if (deleted) this.#gateway.access.applyStored(this.#policies.values(), ++this.#revision);
    return Promise.resolve({ deleted, revision: this.#revision });
  }
}

/** Most policies in force at once (config and runtime); one more is refused. */
export const MAX_POLICIES = 1_000;
/** Most rules of all policies in force together (each costs compile time and memory). */
export const MAX_TOTAL_RULES = 10_000;

/**
 * `value` as a policy to put: valid, and within {@link MAX_POLICIES} and
 * {@link MAX_TOTAL_RULES} once it replaces its namesake. Throws
 * {@link PolicyError} naming the field (paths start at `prefix`).
 */
export function acceptPolicy(access: AccessControl, value: unknown, prefix: string): Policy {
  const policy = parsePolicy(value, prefix);
  const others = access.policies.policies.filter((p) => p.name !== policy.name);
  const rules = others.reduce((sum, p) => sum + p.rules.length, policy.rules.length);
  if (others.length + 1 > MAX_POLICIES || rules > MAX_TOTAL_RULES) {
    throw new PolicyError(
      prefix || "(policy)",
      `at most ${MAX_POLICIES} policies and ${MAX_TOTAL_RULES} rules in all ` +
        `(this would make ${others.length + 1} and ${rules})`,
    );
  }
  return policy;
}

/** The policies in force, each marked `config` or `runtime`, and their revision. */
export function policyListing(access: AccessControl): Record<string, unknown> {
  const fromConfig = new Set(access.configPolicies);
  const policies = access.policies.policies.map((p) => ({
    ...p,
    source: fromConfig.has(p) ? "config" : "runtime",
  }));
  return { revision: access.policies.revision, policies };
}
