/**
 * Cost of per-caller list filtering and of the call-path check, through the
 * gateway's name resolution: 10 services of 100 tools, 100 rules.
 * `tools/list` for a caller is one filter per (snapshot, list, view key) and
 * then a cache hit; every call pays one resolution and one decision.
 */
import { SeededRng } from "@safla/core";
import type { Policy, PolicyRule, Principal } from "@safla/core/access";
import type { BackendFactory, Catalog } from "@safla/transports";
import { config } from "../testing/harness.ts";
import { StandInBackend } from "../testing/stand_in_backend.ts";
import { Gateway } from "../gateway/gateway.ts";
import { visibleItems } from "./list_filter.ts";
import { authorizeToolCall } from "./enforce.ts";

const SERVICES = 10;
const TOOLS = 100;
const catalog: Catalog = {
  tools: Array.from({ length: TOOLS }, (_, t) => ({
    name: t % 10 === 0 ? `delete_${t}` : `tool_${t}`,
    inputSchema: { type: "object" as const },
  })),
  resources: [],
  resourceTemplates: [],
  prompts: [],
  capabilities: { tools: {} },
  era: "legacy",
  protocolVersion: "2025-11-25",
};
const factory: BackendFactory = (options) =>
  new StandInBackend(options, catalog, () => Promise.resolve({}));
const services: Record<string, unknown> = {};
for (let s = 0; s < SERVICES; s++) services[`svc${s}`] = { command: "stand-in" };
const gateway = new Gateway(config(services), {
  nowMs: () => performance.now(),
  rng: new SeededRng(1),
  backendFactory: factory,
});
await gateway.start();
const rules = (s: number): PolicyRule[] =>
  Array.from(
    { length: 10 },
    (_, r): PolicyRule =>
      r % 2 === 0
        ? { effect: "allow", claims: { groups: [`team${r}`, "eng"] }, tools: [`tool_${r}*`] }
        : { effect: "deny", subjects: [`user${s}${r}`], tools: ["delete_*"] },
  );
const policies: Policy[] = Array.from({ length: SERVICES }, (_, s) => ({
  name: `p${s}`,
  service: `svc${s}`,
  rules: rules(s),
}));
gateway.access.applyStored(policies, 1);
const eng: Principal = {
  subject: "alice",
  scopes: [],
  claims: { groups: ["eng"] },
  source: "oauth",
};
const tools = gateway.listTools();
let n = 0;

Deno.bench("tools/list filter, 1000 tools, 100 rules: first caller of a view (uncached)", () => {
  // A new snapshot each time: nothing cached.
  gateway.access.applyStored(policies, ++n);
  visibleItems(gateway, "tools", tools, eng);
});
Deno.bench("tools/list filter, 1000 tools, 100 rules: a view seen before (cached)", () => {
  visibleItems(gateway, "tools", tools, eng);
});
Deno.bench("tools/call check: resolve the name and decide (100 rules)", () => {
  authorizeToolCall(gateway, "svc3__tool_4", eng);
});
globalThis.addEventListener("unload", () => void gateway.close());
