import assert from "node:assert/strict";
import { ADMIN_SCOPE, ANONYMOUS, type Principal } from "./principal.ts";
import {
  type AccessTarget,
  parsePolicies,
  parsePolicy,
  type Policy,
  PolicyError,
  PolicySet,
} from "./policy.ts";

function who(
  subject: string,
  scopes: string[] = [],
  claims: Record<string, unknown> = {},
): Principal {
  return { subject, scopes, claims, source: "apiKey" };
}
const tool = (service: string, name: string): AccessTarget => ({ kind: "tool", service, name });

const GITHUB: Policy = {
  name: "github-eng",
  service: "github",
  rules: [
    { effect: "allow", claims: { groups: ["eng"] } },
    { effect: "deny", tools: ["delete_*"] },
    { effect: "allow", subjects: ["bot"], tools: ["list_issues"], prompts: ["triage"] },
    { effect: "allow", scopes: ["docs:read"], resources: ["repo://{owner}/{repo}/readme"] },
  ],
};

Deno.test("no policy: every principal may use every backend target", () => {
  const set = PolicySet.EMPTY;
  assert.deepEqual(set.decide(who("x"), tool("any", "t")), { allowed: true, reason: "noPolicy" });
  assert.ok(set.allows(ANONYMOUS, { kind: "resource", service: "s", uri: "file:///x" }));
});

Deno.test("a governed service denies what no rule allows; other services stay open", () => {
  const set = PolicySet.compile([GITHUB]);
  assert.deepEqual(set.decide(who("mallory"), tool("github", "list_issues")), {
    allowed: false,
    reason: "noRuleAllows",
  });
  assert.ok(set.allows(who("mallory"), tool("slack", "post")));
  assert.ok(set.governs("github") && !set.governs("slack"));
});

Deno.test("claims, subjects and scopes select principals; deny wins over allow", () => {
  const set = PolicySet.compile([GITHUB]);
  const eng = who("alice", [], { groups: ["ops", "eng"] });
  assert.deepEqual(set.decide(eng, tool("github", "create_issue")), {
    allowed: true,
    reason: "allowedByRule",
    policy: "github-eng",
    rule: 0,
  });
  assert.deepEqual(set.decide(eng, tool("github", "delete_repo")), {
    allowed: false,
    reason: "deniedByRule",
    policy: "github-eng",
    rule: 1,
  });
  assert.ok(set.allows(who("bot"), tool("github", "list_issues")));
  assert.ok(!set.allows(who("bot"), tool("github", "create_issue")));
  assert.ok(set.allows(who("bot"), { kind: "prompt", service: "github", name: "triage" }));
  assert.ok(!set.allows(who("bot"), { kind: "prompt", service: "github", name: "other" }));
  // A claim given as a single string counts too; a claim of another type never matches.
  assert.ok(set.allows(who("c", [], { groups: "eng" }), tool("github", "x")));
  assert.ok(!set.allows(who("d", [], { groups: 7 }), tool("github", "x")));
});

Deno.test("resources match by URI template, and templates by their text", () => {
  const set = PolicySet.compile([GITHUB]);
  const reader = who("r", ["docs:read"]);
  const readme = { kind: "resource", service: "github", uri: "repo://a/b/readme" } as const;
  assert.ok(set.allows(reader, readme));
  assert.ok(!set.allows(reader, { ...readme, uri: "repo://a/b/secrets" }));
  assert.ok(!set.allows(who("r"), readme), "without the scope");
  const template = {
    kind: "resourceTemplate",
    service: "github",
    uriTemplate: "repo://{owner}/{repo}/readme",
  } as const;
  assert.ok(set.allows(reader, template));
  assert.ok(!set.allows(reader, { ...template, uriTemplate: "repo://{owner}/{repo}/code" }));
});

Deno.test("globs match names, and a template's explode '*' is not a glob", () => {
  const set = PolicySet.compile([{
    name: "p",
    service: "fs",
    rules: [
      { effect: "allow", tools: ["read_*"], resources: ["file:///pub/*", "file://{/path*}"] },
    ],
  }]);
  const anyone = who("a");
  assert.ok(set.allows(anyone, tool("fs", "read_file")));
  assert.ok(!set.allows(anyone, tool("fs", "write_file")));
  assert.ok(set.allows(anyone, { kind: "resource", service: "fs", uri: "file:///pub/a/b" }));
  const t = { kind: "resourceTemplate", service: "fs" } as const;
  assert.ok(set.allows(anyone, { ...t, uriTemplate: "file://{/path*}" }));
  assert.ok(!set.allows(anyone, { ...t, uriTemplate: "file://{/pathXX}" }));
});

Deno.test("management tools need the admin scope; the anonymous caller of a node without auth keeps them", () => {
  const set = PolicySet.EMPTY;
  const target: AccessTarget = { kind: "management", name: "safla__status" };
  assert.deepEqual(set.decide(who("x"), target), { allowed: false, reason: "adminScopeRequired" });
  assert.ok(set.allows(who("root", [ADMIN_SCOPE]), target));
  assert.ok(set.allows(ANONYMOUS, target));
});

Deno.test("viewKey tells apart principals that rules treat differently, and only those", () => {
  const set = PolicySet.compile([GITHUB]);
  assert.equal(set.viewKey(who("a")), set.viewKey(who("b")));
  assert.notEqual(set.viewKey(who("a")), set.viewKey(who("a", [], { groups: ["eng"] })));
  assert.notEqual(set.viewKey(who("a")), set.viewKey(who("a", [ADMIN_SCOPE])));
});

Deno.test("validation names the bad field", () => {
  const bad = (value: unknown, path: string) =>
    assert.throws(
      () => parsePolicies(value),
      (e) => e instanceof PolicyError && e.path === path,
      path,
    );
  bad({}, "policies");
  bad([{ name: "p", service: "s", rules: [{ effect: "maybe" }] }], "policies[0].rules[0].effect");
  bad(
    [{ name: "p", service: "s", rules: [{ effect: "allow", tools: "x" }] }],
    "policies[0].rules[0].tools",
  );
  bad(
    [{ name: "p", service: "s", rules: [{ effect: "allow", tools: [""] }] }],
    "policies[0].rules[0].tools[0]",
  );
  bad(
    [{ name: "p", service: "s", rules: [{ effect: "allow", resources: ["x://{bad"] }] }],
    "policies[0].rules[0].resources[0]",
  );
  bad(
    [{ name: "p", service: "s", rules: [{ effect: "allow", claims: { groups: [1] } }] }],
    "policies[0].rules[0].claims.groups[0]",
  );
  bad(
    [{ name: "p", service: "s", rules: [{ effect: "allow", who: 1 }] }],
    "policies[0].rules[0].who",
  );
  bad([{ name: "p", service: "safla", rules: [] }], "policies[0].service");
  bad(
    [{ name: "p", service: "s", rules: [] }, { name: "p", service: "t", rules: [] }],
    "policies[1].name",
  );
  bad([{ name: "a b", service: "s", rules: [] }], "policies[0].name");
  assert.throws(() => parsePolicy(null), /\(policy\): must be an object/);
  assert.deepEqual(parsePolicy(GITHUB), GITHUB);
});
