// Property: through the real gateway's name resolution, a filtered list holds
// exactly the tools, prompts and resources that a direct call by the same
// principal is allowed (enforce.ts), for random policies and principals.
import assert from "node:assert/strict";
import fc from "fast-check";
import { SeededRng } from "@safla/core";
import { ADMIN_SCOPE, type Policy, type PolicyRule, type Principal } from "@safla/core/access";
import type { Catalog } from "@safla/transports";
import { config } from "../testing/harness.ts";
import { standInFactory } from "../testing/stand_in_backend.ts";
import { Gateway } from "../gateway/gateway.ts";
import { addManagementTools } from "../control/management.ts";
import { visibleItems } from "./list_filter.ts";
import { authorizePrompt, authorizeResource, authorizeToolCall } from "./enforce.ts";

const CATALOG: Catalog = {
  tools: ["read", "read_all", "write", "delete"].map((name) => ({
    name,
    inputSchema: { type: "object" as const },
  })),
  resources: [{ uri: "file:///pub/a", name: "a" }, { uri: "file:///priv/b", name: "b" }],
  resourceTemplates: [],
  prompts: [{ name: "greet" }, { name: "triage" }],
  capabilities: { tools: {}, resources: {}, prompts: {} },
  era: "legacy",
  protocolVersion: "2025-11-25",
};
const SERVICES = ["fs", "gh"];

const some = <T>(values: T[]) =>
  fc.option(fc.subarray(values, { minLength: 1 }), { nil: undefined });
const ruleArb = fc.record({
  effect: fc.constantFrom("allow" as const, "deny" as const),
  subjects: some(["alice", "bob", "*"]),
  scopes: some(["s1", ADMIN_SCOPE]),
  claims: fc.option(fc.record({ groups: fc.subarray(["eng", "ops"], { minLength: 1 }) }), {
    nil: undefined,
  }),
  tools: some(["read", "read*", "write", "*"]),
  resources: some(["file:///pub/*", "file:///priv/b", "*"]),
  prompts: some(["greet", "*"]),
}).map((r) =>
  Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as unknown as PolicyRule
);
const policiesArb = fc.uniqueArray(
  fc.record({
    name: fc.constantFrom("p1", "p2", "p3"),
    service: fc.constantFrom(...SERVICES),
    rules: fc.array(ruleArb, { maxLength: 4 }),
  }),
  { selector: (p) => p.name, maxLength: 3 },
);
const principalArb: fc.Arbitrary<Principal> = fc.record({
  subject: fc.constantFrom("alice", "bob", "carol"),
  scopes: fc.subarray(["s1", ADMIN_SCOPE]),
  claims: fc.record({ groups: fc.subarray(["eng", "ops"]) }),
  source: fc.constant("apiKey" as const),
});

function allowed(check: () => void): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}

Deno.test("property: a filtered list contains exactly what direct calls would be allowed", async () => {
  const handle = () => Promise.resolve({});
  const { factory } = standInFactory(CATALOG, { "fs#0": handle, "gh#0": handle });
  const gateway = new Gateway(
    config({ fs: { command: "stand-in" }, gh: { command: "stand-in" } }),
    { nowMs: () => performance.now(), rng: new SeededRng(1), backendFactory: factory },
  );
  addManagementTools(gateway);
  await gateway.start();
  gateway.access.audit.configure({ maxPendingRecords: 1 });
  let revision = 0;
  try {
    fc.assert(
      fc.property(policiesArb, principalArb, (policies, principal) => {
        gateway.access.applyStored(policies as Policy[], ++revision);
        const tools = gateway.listTools();
        const shown = new Set(visibleItems(gateway, "tools", tools, principal).map((t) => t.name));
        for (const { name } of tools) {
          assert.equal(
            shown.has(name),
            allowed(() => authorizeToolCall(gateway, name, principal)),
            name,
          );
        }
        const prompts = gateway.listPrompts();
        const shownPrompts = new Set(visibleItems(gateway, "prompts", prompts, principal));
        for (const p of prompts) {
          const name = String(p.name);
          assert.equal(
            shownPrompts.has(p),
            allowed(() => authorizePrompt(gateway, name, principal)),
          );
        }
        const resources = gateway.listResources();
        const shownResources = new Set(visibleItems(gateway, "resources", resources, principal));
        for (const r of resources) {
          const uri = String(r.uri);
          assert.equal(
            shownResources.has(r),
            allowed(() => authorizeResource(gateway, uri, principal)),
          );
        }
      }),
      { numRuns: 300 },
    );
  } finally {
    await gateway.access.audit.close();
    await gateway.close();
  }
});
