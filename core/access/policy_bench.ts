/**
 * Cost of one access decision against 100 rules (the budget: ≤ 2 µs):
 * rules spread over 10 services with exact names, globs, claims and URI
 * templates, the decision on the busiest service, allowed and denied.
 */
import type { Principal } from "./principal.ts";
import { type Policy, type PolicyRule, PolicySet } from "./policy.ts";

const SERVICES = 10;
const RULES_PER_SERVICE = 10;

function rules(s: number): PolicyRule[] {
  return Array.from({ length: RULES_PER_SERVICE }, (_, r): PolicyRule => {
    switch (r % 4) {
      case 0:
        return {
          effect: "allow",
          claims: { groups: [`team${r}`, "eng"] },
          tools: [`tool_${r}`, `read_${r}_*`],
        };
      case 1:
        return { effect: "deny", subjects: [`user${r}`], tools: [`delete_*`] };
      case 2:
        return {
          effect: "allow",
          scopes: [`svc${s}:read`],
          resources: [`svc${s}://{owner}/{repo}/readme`],
        };
      default:
        return {
          effect: "allow",
          subjects: ["bot", `user${r}`],
          prompts: [`prompt_${r}`],
          tools: ["*"],
        };
    }
  });
}

const policies: Policy[] = Array.from({ length: SERVICES }, (_, s) => ({
  name: `policy-${s}`,
  service: `svc${s}`,
  rules: rules(s),
}));
const set = PolicySet.compile(policies);
const eng: Principal = {
  subject: "alice",
  scopes: ["svc3:read"],
  claims: { groups: ["ops", "eng"] },
  source: "oauth",
};
const stranger: Principal = { subject: "mallory", scopes: [], claims: {}, source: "oauth" };
const allowedTool = { kind: "tool", service: "svc3", name: "tool_4" } as const;
const deniedTool = { kind: "tool", service: "svc3", name: "delete_repo" } as const;
const resource = { kind: "resource", service: "svc3", uri: "svc3://a/b/readme" } as const;

if (
  !set.allows(eng, allowedTool) || set.allows(stranger, deniedTool) || !set.allows(eng, resource)
) {
  throw new Error("bench policies do not decide as intended");
}

Deno.bench(
  "access decision, 100 rules: allowed tool (claims)",
  { group: "policy", baseline: true },
  () => {
    set.decide(eng, allowedTool);
  },
);
Deno.bench("access decision, 100 rules: no rule allows (all rules of the service tried)", {
  group: "policy",
}, () => {
  set.decide(stranger, deniedTool);
});
Deno.bench("access decision, 100 rules: resource by URI template (a URI read before)", {
  group: "policy",
}, () => {
  set.decide(eng, resource);
});
let n = 0;
Deno.bench("access decision, 100 rules: resource by URI template, a new URI each time", {
  group: "policy",
}, () => {
  set.decide(eng, { kind: "resource", service: "svc3", uri: `svc3://a/${n++}/readme` });
});
Deno.bench("access decision: ungoverned service", { group: "policy" }, () => {
  set.decide(stranger, { kind: "tool", service: "other", name: "x" });
});
Deno.bench("view key, 100 rules", { group: "policy" }, () => {
  set.viewKey(eng);
});
Deno.bench("compile 100 rules", () => {
  PolicySet.compile(policies);
});
