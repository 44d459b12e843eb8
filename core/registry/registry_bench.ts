import { type Catalog, catalogHash, emptyCatalog } from "./catalog.ts";
import { Registry } from "./registry.ts";
import { UriTemplate } from "./uri_template.ts";

const SERVICES = 50;
const REPLICAS_PER_SERVICE = 4;
const TOOLS_PER_SERVICE = 40;

function serviceCatalog(s: number): Catalog {
  return {
    ...emptyCatalog(),
    tools: Array.from({ length: TOOLS_PER_SERVICE }, (_, t) => ({
      name: `tool_${t}`,
      description: `Tool ${t} of service ${s}, with a description of ordinary length.`,
      inputSchema: {
        type: "object",
        properties: { query: { type: "string" }, limit: { type: "integer", minimum: 1 } },
        required: ["query"],
      },
      annotations: { readOnlyHint: t % 2 === 0 },
    })),
    resourceTemplates: [{
      uriTemplate: `svc${s}://{owner}/{repo}/issues{?state,page}`,
      name: "issues",
    }],
  };
}

const registry = new Registry();
for (let s = 0; s < SERVICES; s++) {
  const catalog = serviceCatalog(s);
  for (let r = 0; r < REPLICAS_PER_SERVICE; r++) {
    registry.register(`svc${s}`, {
      id: `r${r}`,
      name: `svc${s}`,
      version: "1.0.0",
      transport: { kind: "streamable-http", url: `http://10.0.${s}.${r}:3000/mcp`, headers: {} },
      capabilities: { tools: {} },
      metadata: {},
    }, `lease-${r}`);
    registry.setCatalog(`svc${s}`, `r${r}`, catalog);
    registry.setHealth(`svc${s}`, `r${r}`, r === 0 ? "unhealthy" : "healthy");
  }
}
const catalog = serviceCatalog(0);
const template = UriTemplate.parse("svc7://{owner}/{repo}/issues{?state,page}");

Deno.bench("replicasForTool (4 replicas, call path)", () => {
  registry.replicasForTool("svc7", "tool_13");
});

Deno.bench("tool() annotations lookup (call path)", () => {
  registry.tool("svc7", "tool_13");
});

Deno.bench("resolveResource over 50 services' templates", () => {
  registry.resolveResource("svc42://octo/hello/issues?state=open&page=2");
});

Deno.bench("UriTemplate.match with a query", () => {
  template.match("svc7://octo/hello/issues?state=open&page=2");
});

Deno.bench("catalogHash of a 40-tool catalog", () => {
  catalogHash(catalog);
});

Deno.bench("setHealth flip with events (healthy <-> unhealthy)", () => {
  registry.setHealth("svc3", "r1", "unhealthy");
  registry.setHealth("svc3", "r1", "healthy");
});
