/**
 * Access decisions: may this principal use this tool, resource or prompt?
 *
 * Semantics, for a target of service S:
 * - a rule matches when its principal fields match the caller and its target
 *   fields cover the target;
 * - any matching deny rule denies (deny wins, whatever the order);
 * - else any matching allow rule allows;
 * - else, when some policy governs S, the target is denied ("no rule allows");
 * - else (no policy for S) it is allowed: with authentication on and no
 *   policy written, every authenticated caller may use every backend.
 * Management tools (`safla__*`) are not governed by policies: they need
 * {@link ADMIN_SCOPE}, except for {@link ANONYMOUS} on a node without
 * authentication, whose only guard is its loopback bind (as before auth).
 *
 * Plain rules, not CEL: the rules people write for a gateway (groups from a
 * claim, a scope, a few subjects; tools by name or glob, resources by URI or
 * template) fit in lists, lists compile into hash lookups that keep a decision
 * for 100 rules well under the 2 µs budget, and a list semantics is small
 * enough to property-test exhaustively; a CEL program per rule would cost an
 * interpreter run per candidate rule and make "deny wins" depend on user code.
 *
 * A {@link PolicySet} is an immutable compiled snapshot of one store revision,
 * indexed by service and kind, its rules sorted by (policy name, rule index)
 * so that the decision and its reason do not depend on the order policies came in.
 *
 * @module
 */
import { UriTemplate } from "../registry/uri_template.ts";
import { ADMIN_SCOPE, hasScope, type Principal } from "./principal.ts";
import type { Policy, PolicyRule } from "./policy_parse.ts";

export * from "./policy_parse.ts";

/** What a caller wants to use. Names are the backend's own, not the exposed (prefixed) ones. */
export type AccessTarget =
  | { readonly kind: "tool"; readonly service: string; readonly name: string }
  | { readonly kind: "prompt"; readonly service: string; readonly name: string }
  | { readonly kind: "resource"; readonly service: string; readonly uri: string }
  | { readonly kind: "resourceTemplate"; readonly service: string; readonly uriTemplate: string }
  | { readonly kind: "management"; readonly name: string };

/** Why a decision came out as it did. */
export type AccessReason =
  | "noPolicy"
  | "allowedByRule"
  | "deniedByRule"
  | "noRuleAllows"
  | "admin"
  | "adminScopeRequired";

/** The outcome of {@link PolicySet.decide}; `policy`/`rule` name the deciding rule. */
export interface AccessDecision {
  readonly allowed: boolean;
  readonly reason: AccessReason;
  readonly policy?: string;
  readonly rule?: number;
}

type Kind = "tool" | "prompt" | "resource" | "resourceTemplate";

interface CompiledRule {
  readonly policy: string;
  readonly index: number;
  /** Position in the canonical (policy name, rule index) order. */
  readonly rank: number;
  readonly subjects?: ReadonlySet<string>;
  readonly scopes?: readonly string[];
  readonly claims?: readonly (readonly [string, ReadonlySet<string>])[];
}

interface Patterned {
  readonly rule: CompiledRule;
  test(value: string): boolean;
}

/** Rules of one effect for one kind of one service. */
class Bucket {
  readonly exact = new Map<string, CompiledRule[]>();
  readonly patterned: Patterned[] = [];
  readonly any: CompiledRule[] = [];

  /** The first rule (canonical order) that covers `key` and matches `principal`. */
  first(principal: Principal, key: string): CompiledRule | undefined {
    let best: CompiledRule | undefined;
    const exact = this.exact.get(key);
    if (exact !== undefined) best = firstMatching(exact, principal, best);
    best = firstMatching(this.any, principal, best);
    for (const p of this.patterned) {
      if (
        (best === undefined || p.rule.rank < best.rank) && p.test(key) && matches(p.rule, principal)
      ) {
        best = p.rule;
      }
    }
    return best;
  }
}

/** Both effects for one kind. */
interface KindIndex {
  readonly deny: Bucket;
  readonly allow: Bucket;
}

type ServiceIndex = Record<Kind, KindIndex>;

const KINDS: readonly Kind[] = ["tool", "prompt", "resource", "resourceTemplate"];

function firstMatching(
  rules: readonly CompiledRule[],
  principal: Principal,
  best: CompiledRule | undefined,
): CompiledRule | undefined {
  // Sorted by rank: the first match is the best of this list.
  for (const rule of rules) {
    if (best !== undefined && rule.rank >= best.rank) return best;
    if (matches(rule, principal)) return rule;
  }
  return best;
}

function matches(rule: CompiledRule, principal: Principal): boolean {
  if (
    rule.subjects !== undefined && !rule.subjects.has(principal.subject) && !rule.subjects.has("*")
  ) {
    return false;
  }
  if (rule.scopes !== undefined && !rule.scopes.some((s) => principal.scopes.includes(s))) {
    return false;
  }
  if (rule.claims !== undefined) {
    for (const [name, values] of rule.claims) {
      const claim = principal.claims[name];
      if (typeof claim === "string") {
        if (!values.has(claim)) return false;
      } else if (Array.isArray(claim)) {
        if (!claim.some((c) => typeof c === "string" && values.has(c))) return false;
      } else return false;
    }
  }
  return true;
}

function globRegExp(glob: string): RegExp {
  const escaped = glob.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${escaped.join(".*")}$`, "s");
}

function emptyIndex(): ServiceIndex {
  const index = {} as ServiceIndex;
  for (const kind of KINDS) index[kind] = { deny: new Bucket(), allow: new Bucket() };
  return index;
}

function addPattern(bucket: Bucket, kind: Kind, pattern: string, rule: CompiledRule): void {
  if (pattern === "*") {
    bucket.any.push(rule);
  } else if (kind === "resource" && pattern.includes("{")) {
    bucket.patterned.push({ rule, test: templateTest(UriTemplate.parse(pattern)) });
  } else if (pattern.includes("*") && !(kind === "resourceTemplate" && pattern.includes("{"))) {
    // A template text is matched as written: its `*` is RFC 6570's explode modifier.
    const re = globRegExp(pattern);
    bucket.patterned.push({ rule, test: (value) => re.test(value) });
  } else {
    const list = bucket.exact.get(pattern);
    if (list === undefined) bucket.exact.set(pattern, [rule]);
    else if (list[list.length - 1] !== rule) list.push(rule);
  }
}

/** Most URIs whose match against one template a snapshot remembers. */
export const MAX_REMEMBERED_URIS = 4_096;

/**
 * A template match costs microseconds (RFC 6570 is no regex); clients read
 * the same URIs again and again, so each template remembers its answers,
 * bounded (forgotten all at once when full: a flood of distinct URIs costs
 * time, never memory).
 */
function templateTest(template: UriTemplate): (uri: string) => boolean {
  const answers = new Map<string, boolean>();
  return (uri) => {
    let matched = answers.get(uri);
    if (matched === undefined) {
      matched = template.match(uri) !== null;
      if (answers.size >= MAX_REMEMBERED_URIS) answers.clear();
      answers.set(uri, matched);
    }
    return matched;
  };
}

/** The target patterns of `rule` for `kind`; undefined: the rule does not cover that kind. */
function patternsFor(rule: PolicyRule, kind: Kind): readonly string[] | undefined {
  if (rule.tools === undefined && rule.resources === undefined && rule.prompts === undefined) {
    return ["*"];
  }
  switch (kind) {
    case "tool":
      return rule.tools;
    case "prompt":
      return rule.prompts;
    default:
      return rule.resources;
  }
}

/**
 * A compiled, immutable snapshot of policies.
 *
 * @example
 * ```ts
 * import { PolicySet } from "./policy.ts";
 * const set = PolicySet.compile([{
 *   name: "eng", service: "github",
 *   rules: [{ effect: "allow", claims: { groups: ["eng"] }, tools: ["*"] },
 *           { effect: "deny", tools: ["delete_*"] }],
 * }]);
 * const alice = { subject: "alice", scopes: [], claims: { groups: ["eng"] }, source: "oauth" as const };
 * console.assert(set.decide(alice, { kind: "tool", service: "github", name: "list_issues" }).allowed);
 * console.assert(!set.decide(alice, { kind: "tool", service: "github", name: "delete_repo" }).allowed);
 * console.assert(set.decide(alice, { kind: "tool", service: "slack", name: "post" }).allowed);
 * ```
 */
export class PolicySet {
  /** The store revision the policies were read at (0: config only). */
  readonly revision: number;
  /** The policies, sorted by name. */
  readonly policies: readonly Policy[];
  readonly #services: ReadonlyMap<string, ServiceIndex>;
  /** Every rule in canonical order, for {@link viewKey}. */
  readonly #rules: readonly CompiledRule[];

  private constructor(
    revision: number,
    policies: readonly Policy[],
    services: ReadonlyMap<string, ServiceIndex>,
    rules: readonly CompiledRule[],
  ) {
    this.revision = revision;
    this.policies = policies;
    this.#services = services;
    this.#rules = rules;
  }

  /** No policies: everything but management tools is allowed to everyone. */
  static readonly EMPTY: PolicySet = PolicySet.compile([]);

  /** Compiles validated policies (see `parsePolicy`); names must be unique. */
  static compile(policies: readonly Policy[], revision = 0): PolicySet {
    const sorted = [...policies].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i].name === sorted[i - 1].name) {
        throw new RangeError(`duplicate policy name "${sorted[i].name}"`);
      }
    }
    const services = new Map<string, ServiceIndex>();
    const all: CompiledRule[] = [];
    for (const policy of sorted) {
      let index = services.get(policy.service);
      if (index === undefined) services.set(policy.service, index = emptyIndex());
      policy.rules.forEach((rule, i) => {
        const compiled: CompiledRule = {
          policy: policy.name,
          index: i,
          rank: all.length,
          subjects: rule.subjects && new Set(rule.subjects),
          scopes: rule.scopes,
          claims: rule.claims && Object.entries(rule.claims).map(([k, v]) => [k, new Set(v)]),
        };
        all.push(compiled);
        for (const kind of KINDS) {
          const patterns = patternsFor(rule, kind);
          if (patterns === undefined) continue;
          const bucket = index![kind][rule.effect];
          for (const pattern of patterns) addPattern(bucket, kind, pattern, compiled);
        }
      });
    }
    return new PolicySet(revision, Object.freeze(sorted), services, all);
  }

  /** Whether some policy governs `service` (then what no rule allows there is denied). */
  governs(service: string): boolean {
    return this.#services.has(service);
  }

  /** Decides whether `principal` may use `target`. */
  decide(principal: Principal, target: AccessTarget): AccessDecision {
    if (target.kind === "management") {
      if (hasScope(principal, ADMIN_SCOPE) || principal.source === "anonymous") {
        return { allowed: true, reason: "admin" };
      }
      return { allowed: false, reason: "adminScopeRequired" };
    }
    const index = this.#services.get(target.service);
    if (index === undefined) return { allowed: true, reason: "noPolicy" };
    const key = target.kind === "resource"
      ? target.uri
      : target.kind === "resourceTemplate"
      ? target.uriTemplate
      : target.name;
    const { deny, allow } = index[target.kind];
    const denied = deny.first(principal, key);
    if (denied !== undefined) {
      return { allowed: false, reason: "deniedByRule", policy: denied.policy, rule: denied.index };
    }
    const allowed = allow.first(principal, key);
    if (allowed !== undefined) {
      return {
        allowed: true,
        reason: "allowedByRule",
        policy: allowed.policy,
        rule: allowed.index,
      };
    }
    return { allowed: false, reason: "noRuleAllows" };
  }

  /** Shorthand for `decide(principal, target).allowed`. */
  allows(principal: Principal, target: AccessTarget): boolean {
    return this.decide(principal, target).allowed;
  }

  /**
   * A key equal for two principals that every decision of this set treats
   * alike (same admin standing, same matching rules): filtered lists can be
   * shared between them.
   */
  viewKey(principal: Principal): string {
    let key = hasScope(principal, ADMIN_SCOPE) || principal.source === "anonymous" ? "A" : "u";
    for (const rule of this.#rules) if (matches(rule, principal)) key += `,${rule.rank}`;
    return key;
  }
}
