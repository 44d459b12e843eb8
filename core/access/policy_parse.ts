/**
 * The shape of an access policy and its validation. A policy governs one
 * service and holds rules; each rule says whom it applies to (subjects,
 * scopes, claims) and which of the service's tools, resources and prompts
 * (names, globs, URIs, URI templates) it allows or denies. Policies arrive as
 * JSON from the config file, the management tools and the replicated store;
 * every problem is reported with the path of the bad field, so the caller can
 * answer "-32602 rules[2].effect: must be allow or deny".
 *
 * @module
 */
import { UriTemplate } from "../registry/uri_template.ts";

/** What a matching rule does. */
export type PolicyEffect = "allow" | "deny";

/**
 * One rule. Principal fields (`subjects`, `scopes`, `claims`) must all match
 * when present, each by any one of its values; a rule without them applies to
 * every caller. Target fields (`tools`, `resources`, `prompts`) list what the
 * rule covers; a rule without any of them covers everything of its service,
 * one with some covers only the kinds it lists.
 */
export interface PolicyRule {
  readonly effect: PolicyEffect;
  /** Principal subjects; `"*"` matches any. */
  readonly subjects?: readonly string[];
  /** The principal holds at least one of these scopes. */
  readonly scopes?: readonly string[];
  /** Per claim name, values of which the principal's claim (a string or a list) has one. */
  readonly claims?: Readonly<Record<string, readonly string[]>>;
  /** Backend tool names (the service's own names, not the exposed ones); `*` is a glob. */
  readonly tools?: readonly string[];
  /** Resource URIs, URI templates (RFC 6570) or globs with `*`. */
  readonly resources?: readonly string[];
  /** Backend prompt names; `*` is a glob. */
  readonly prompts?: readonly string[];
}

/** A named set of rules for one service. */
export interface Policy {
  /** Unique name: the key a policy is stored, replaced and deleted under. */
  readonly name: string;
  /** The service the rules govern. */
  readonly service: string;
  readonly description?: string;
  readonly rules: readonly PolicyRule[];
}

/** A policy (or a field of one) is invalid; `path` names the field, as `rules[2].effect`. */
export class PolicyError extends Error {
  /** Creates the error. */
  constructor(readonly path: string, readonly problem: string) {
    super(`${path}: ${problem}`);
    this.name = "PolicyError";
  }
}

/** Most rules in one policy. */
export const MAX_RULES_PER_POLICY = 1_000;
/** Most values in one list field of a rule. */
export const MAX_VALUES_PER_FIELD = 1_000;
/** Most claim names one rule looks at. */
export const MAX_CLAIMS_PER_RULE = 16;
/** Longest name, pattern or value, in characters. */
export const MAX_VALUE_CHARS = 1_024;
/** Longest description, in characters. */
export const MAX_DESCRIPTION_CHARS = 4_096;

const NAME = /^[A-Za-z0-9_.:-]{1,128}$/;
const SERVICE = /^[A-Za-z0-9_.-]{1,48}$/;
const RULE_KEYS = new Set([
  "effect",
  "subjects",
  "scopes",
  "claims",
  "tools",
  "resources",
  "prompts",
]);
const POLICY_KEYS = new Set(["name", "service", "description", "rules"]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function strings(value: unknown, path: string, check?: (s: string, at: string) => void): string[] {
  if (!Array.isArray(value)) throw new PolicyError(path, "must be a list of strings");
  if (value.length === 0) throw new PolicyError(path, "must not be empty (leave it out instead)");
  if (value.length > MAX_VALUES_PER_FIELD) {
    throw new PolicyError(path, `at most ${MAX_VALUES_PER_FIELD} values`);
  }
  return value.map((v, i) => {
    const at = `${path}[${i}]`;
    if (typeof v !== "string" || v.length === 0) {
      throw new PolicyError(at, "must be a non-empty string");
    }
    if (v.length > MAX_VALUE_CHARS) throw new PolicyError(at, `longer than ${MAX_VALUE_CHARS}`);
    check?.(v, at);
    return v;
  });
}

function checkResourcePattern(pattern: string, at: string): void {
  if (!pattern.includes("{")) return;
  try {
    UriTemplate.parse(pattern);
  } catch (error) {
    throw new PolicyError(at, `not a URI template: ${(error as Error).message}`);
  }
}

function parseRule(value: unknown, path: string): PolicyRule {
  if (!isObject(value)) throw new PolicyError(path, "must be an object");
  for (const key of Object.keys(value)) {
    if (!RULE_KEYS.has(key)) {
      throw new PolicyError(
        `${path}.${key}`,
        `unknown field (expected ${[...RULE_KEYS].join(", ")})`,
      );
    }
  }
  if (value.effect !== "allow" && value.effect !== "deny") {
    throw new PolicyError(`${path}.effect`, `must be "allow" or "deny"`);
  }
  const rule: { -readonly [K in keyof PolicyRule]: PolicyRule[K] } = { effect: value.effect };
  for (const key of ["subjects", "scopes", "tools", "prompts"] as const) {
    if (value[key] !== undefined) rule[key] = strings(value[key], `${path}.${key}`);
  }
  if (value.resources !== undefined) {
    rule.resources = strings(value.resources, `${path}.resources`, checkResourcePattern);
  }
  if (value.claims !== undefined) {
    const at = `${path}.claims`;
    if (!isObject(value.claims)) throw new PolicyError(at, "must be an object of claim lists");
    const names = Object.keys(value.claims);
    if (names.length === 0) throw new PolicyError(at, "must not be empty (leave it out instead)");
    if (names.length > MAX_CLAIMS_PER_RULE) {
      throw new PolicyError(at, `at most ${MAX_CLAIMS_PER_RULE} claims`);
    }
    const claims: Record<string, readonly string[]> = {};
    for (const name of names) claims[name] = strings(value.claims[name], `${at}.${name}`);
    rule.claims = claims;
  }
  return rule;
}

/**
 * Validates one policy; throws {@link PolicyError} naming the first bad field
 * (paths start at `prefix`, e.g. `policies[3]`).
 *
 * @example
 * ```ts
 * import { parsePolicy, PolicyError } from "./policy_parse.ts";
 * const p = parsePolicy({ name: "p", service: "s", rules: [{ effect: "allow" }] });
 * console.assert(p.rules.length === 1);
 * try {
 *   parsePolicy({ name: "p", service: "s", rules: [{ effect: "maybe" }] });
 * } catch (e) {
 *   console.assert((e as PolicyError).path === "rules[0].effect");
 * }
 * ```
 */
export function parsePolicy(value: unknown, prefix = ""): Policy {
  const at = (field: string) => prefix === "" ? field : `${prefix}.${field}`;
  if (!isObject(value)) throw new PolicyError(prefix || "(policy)", "must be an object");
  for (const key of Object.keys(value)) {
    if (!POLICY_KEYS.has(key)) {
      throw new PolicyError(at(key), "unknown field (expected name, service, description, rules)");
    }
  }
  if (typeof value.name !== "string" || !NAME.test(value.name)) {
    throw new PolicyError(at("name"), "must be 1-128 letters, digits, '_', '.', ':' or '-'");
  }
  if (typeof value.service !== "string" || !SERVICE.test(value.service)) {
    throw new PolicyError(
      at("service"),
      "must name a service (1-48 letters, digits, '_', '.', '-')",
    );
  }
  if (value.service === "safla") {
    throw new PolicyError(
      at("service"),
      `"safla" management tools need the admin scope, not a policy`,
    );
  }
  if (
    value.description !== undefined &&
    (typeof value.description !== "string" || value.description.length > MAX_DESCRIPTION_CHARS)
  ) {
    throw new PolicyError(
      at("description"),
      `must be a string of at most ${MAX_DESCRIPTION_CHARS}`,
    );
  }
  if (!Array.isArray(value.rules)) throw new PolicyError(at("rules"), "must be a list of rules");
  if (value.rules.length > MAX_RULES_PER_POLICY) {
    throw new PolicyError(at("rules"), `at most ${MAX_RULES_PER_POLICY} rules`);
  }
  const rules = value.rules.map((r, i) => parseRule(r, at(`rules[${i}]`)));
  const policy: Policy = { name: value.name, service: value.service, rules };
  return value.description === undefined
    ? policy
    : { ...policy, description: value.description as string };
}

/** Validates a list of policies with unique names (the config's `policies`). */
export function parsePolicies(value: unknown, prefix = "policies"): Policy[] {
  if (!Array.isArray(value)) throw new PolicyError(prefix, "must be a list of policies");
  const seen = new Set<string>();
  return value.map((v, i) => {
    const policy = parsePolicy(v, `${prefix}[${i}]`);
    if (seen.has(policy.name)) {
      throw new PolicyError(`${prefix}[${i}].name`, `duplicate policy name "${policy.name}"`);
    }
    seen.add(policy.name);
    return policy;
  });
}
