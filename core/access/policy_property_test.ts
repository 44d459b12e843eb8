/**
 * Properties of access decisions over random policies and principals:
 * deny always wins; a filtered list holds exactly what a direct call would
 * be allowed; decisions are deterministic and independent of the order of
 * policies and rules; a policy for one service never changes decisions on another.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Principal } from "./principal.ts";
import { type AccessTarget, type Policy, type PolicyRule, PolicySet } from "./policy.ts";

const SERVICES = ["a", "b", "c"];
const NAMES = ["read", "read_all", "write", "delete", "x"];
const URIS = ["file:///pub/1", "file:///priv/2", "db://users/rows/7"];
const RESOURCE_PATTERNS = [...URIS, "file:///pub/*", "db://{table}/rows/{id}", "*"];
const SUBJECTS = ["alice", "bob", "carol"];
const GROUPS = ["eng", "ops"];
const SCOPES = ["s1", "s2"];

const sub = <T>(values: readonly T[]) =>
  fc.option(fc.subarray([...values], { minLength: 1 }), { nil: undefined });

const ruleArb: fc.Arbitrary<PolicyRule> = fc.record({
  effect: fc.constantFrom("allow" as const, "deny" as const),
  subjects: sub([...SUBJECTS, "*"]),
  scopes: sub(SCOPES),
  claims: fc.option(fc.record({ groups: fc.subarray(GROUPS, { minLength: 1 }) }), {
    nil: undefined,
  }),
  tools: sub([...NAMES, "read*", "*"]),
  resources: sub(RESOURCE_PATTERNS),
  prompts: sub(NAMES),
}).map((r) => {
  const rule: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (v !== undefined) rule[k] = v;
  return rule as unknown as PolicyRule;
});

const policiesArb: fc.Arbitrary<Policy[]> = fc.uniqueArray(
  fc.record({
    name: fc.constantFrom("p1", "p2", "p3", "p4", "p5"),
    service: fc.constantFrom(...SERVICES),
    rules: fc.array(ruleArb, { maxLength: 6 }),
  }),
  { selector: (p) => p.name, maxLength: 4 },
);

const principalArb: fc.Arbitrary<Principal> = fc.record({
  subject: fc.constantFrom(...SUBJECTS),
  scopes: fc.subarray(SCOPES),
  claims: fc.record({ groups: fc.subarray(GROUPS) }),
  source: fc.constant("oauth" as const),
});

const targetArb: fc.Arbitrary<AccessTarget> = fc.oneof(
  fc.record({
    kind: fc.constant("tool" as const),
    service: fc.constantFrom(...SERVICES),
    name: fc.constantFrom(...NAMES),
  }),
  fc.record({
    kind: fc.constant("prompt" as const),
    service: fc.constantFrom(...SERVICES),
    name: fc.constantFrom(...NAMES),
  }),
  fc.record({
    kind: fc.constant("resource" as const),
    service: fc.constantFrom(...SERVICES),
    uri: fc.constantFrom(...URIS),
  }),
);

const RUNS = { numRuns: 500 };

Deno.test("property: adding a deny rule for everyone on a target denies it, whatever else allows it", () => {
  fc.assert(
    fc.property(policiesArb, principalArb, targetArb, (policies, principal, target) => {
      if (target.kind === "management" || target.kind === "resourceTemplate") return;
      const key = target.kind === "resource" ? "resources" : `${target.kind}s`;
      const value = target.kind === "resource" ? target.uri : target.name;
      const deny: Policy = {
        name: "zz-deny",
        service: target.service,
        rules: [{ effect: "deny", [key]: [value] } as PolicyRule],
      };
      const decision = PolicySet.compile([...policies, deny]).decide(principal, target);
      assert.equal(decision.allowed, false);
      assert.equal(decision.reason, "deniedByRule");
    }),
    RUNS,
  );
});

/** The semantics written plainly, rule by rule, with no index: the model the compiled set must agree with. */
function referenceDecision(policies: readonly Policy[], p: Principal, t: AccessTarget): boolean {
  if (t.kind === "management") throw new Error("not modelled");
  const covers = (rule: PolicyRule): boolean => {
    const untargeted = !rule.tools && !rule.resources && !rule.prompts;
    const list = t.kind === "tool"
      ? rule.tools
      : t.kind === "prompt"
      ? rule.prompts
      : rule.resources;
    const value = t.kind === "resource"
      ? t.uri
      : t.kind === "resourceTemplate"
      ? t.uriTemplate
      : t.name;
    if (untargeted) return true;
    return (list ?? []).some((pattern) => {
      if (pattern === "*" || pattern === value) return true;
      if (pattern === "read*") return value.startsWith("read");
      if (pattern === "file:///pub/*") return value.startsWith("file:///pub/");
      if (pattern === "db://{table}/rows/{id}") return /^db:\/\/[^/]+\/rows\/[^/]+$/.test(value);
      return false;
    });
  };
  const applies = (rule: PolicyRule): boolean =>
    (!rule.subjects || rule.subjects.includes(p.subject) || rule.subjects.includes("*")) &&
    (!rule.scopes || rule.scopes.some((s) => p.scopes.includes(s))) &&
    (!rule.claims ||
      Object.entries(rule.claims).every(([k, v]) =>
        ([p.claims[k]].flat() as unknown[]).some((c) => v.includes(c as string))
      ));
  const governed = policies.filter((x) => x.service === t.service);
  const matching = governed.flatMap((x) => x.rules).filter((r) => applies(r) && covers(r));
  if (matching.some((r) => r.effect === "deny")) return false;
  if (matching.some((r) => r.effect === "allow")) return true;
  return governed.length === 0;
}

Deno.test("property: the compiled set decides as the plain reference semantics does", () => {
  fc.assert(
    fc.property(policiesArb, principalArb, targetArb, (policies, principal, target) => {
      const d = PolicySet.compile(policies).decide(principal, target);
      assert.equal(d.allowed, referenceDecision(policies, principal, target));
      if (d.policy !== undefined) {
        const rule = policies.find((p) => p.name === d.policy)!.rules[d.rule!];
        assert.equal(
          rule.effect,
          d.allowed ? "allow" : "deny",
          "the reason names a rule of that effect",
        );
      }
    }),
    { numRuns: 2_000 },
  );
});

Deno.test("property: a filtered list holds exactly what direct calls would be allowed", () => {
  fc.assert(
    fc.property(policiesArb, principalArb, (policies, principal) => {
      const set = PolicySet.compile(policies);
      const catalog: AccessTarget[] = SERVICES.flatMap((service) =>
        NAMES.map((name) => ({ kind: "tool" as const, service, name }))
      );
      // The list filter, as the front computes it: one decision per item, shared by view key.
      const key = set.viewKey(principal);
      const listed = catalog.filter((t) => set.allows(principal, t));
      for (const target of catalog) {
        assert.equal(listed.includes(target), set.decide(principal, target).allowed);
      }
      // Principals with the same view key see the same list.
      for (const subject of SUBJECTS) {
        const other = { ...principal, subject };
        if (set.viewKey(other) !== key) continue;
        assert.deepEqual(catalog.filter((t) => set.allows(other, t)), listed);
      }
    }),
    { numRuns: 200 },
  );
});

Deno.test("property: decisions are deterministic and independent of policy and rule order", () => {
  fc.assert(
    fc.property(
      policiesArb,
      principalArb,
      targetArb,
      fc.integer({ min: 0, max: 1_000_000 }),
      (policies, principal, target, seed) => {
        const reference = PolicySet.compile(policies).decide(principal, target);
        assert.deepEqual(PolicySet.compile(policies).decide(principal, target), reference);
        const shuffle = <T>(items: readonly T[], salt: number): T[] =>
          items.map((item, i) => ({ item, k: (seed * 31 + i * 7919 + salt) % 1009 }))
            .sort((x, y) => x.k - y.k).map((x) => x.item);
        const permuted = shuffle(policies, 1).map((p, i) => ({ ...p, rules: shuffle(p.rules, i) }));
        const other = PolicySet.compile(permuted).decide(principal, target);
        assert.equal(other.allowed, reference.allowed);
        assert.equal(other.reason, reference.reason);
      },
    ),
    RUNS,
  );
});

Deno.test("property: a policy for one service never changes decisions on another", () => {
  fc.assert(
    fc.property(
      policiesArb,
      fc.array(ruleArb, { maxLength: 6 }),
      principalArb,
      targetArb,
      (policies, rules, principal, target) => {
        if (target.kind === "management") return;
        const elsewhere = SERVICES.find((s) => s !== target.service)!;
        const before = PolicySet.compile(policies).decide(principal, target);
        const added: Policy = { name: "zz-other", service: elsewhere, rules };
        assert.deepEqual(PolicySet.compile([...policies, added]).decide(principal, target), before);
      },
    ),
    RUNS,
  );
});
