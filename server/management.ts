/**
 * The gateway's own MCP tools, as the seed roadmap asks: list and discover
 * nodes (backend MCP servers), register and unregister one, status with
 * metrics, and choose the balancing strategy. They are named
 * `safla{separator}{tool}`; the service name `safla` is reserved for them.
 *
 * @module
 */
import { type JSONValue, ProtocolError, type Tool } from "@modelcontextprotocol/server";
import { isStrategyName, STRATEGY_NAMES } from "../core/balancer/mod.ts";
import { parseConfig } from "./config.ts";
import type { Gateway, LocalTool } from "./gateway.ts";

/** The reserved service name that prefixes management tools. */
export const MANAGEMENT_SERVICE = "safla";
const INVALID_PARAMS = -32602;

function json(value: unknown): Record<string, unknown> {
  return {
    content: [{ type: "text", text: JSON.stringify(value, null, 2) }],
    structuredContent: value as Record<string, unknown>,
  };
}

function tool(
  name: string,
  description: string,
  properties: Record<string, JSONValue>,
  required: string[],
  annotations: Tool["annotations"],
): Tool {
  return {
    name,
    description,
    inputSchema: { type: "object", properties, required },
    annotations,
  };
}

/** Registers the management tools on `gateway`. */
export function addManagementTools(gateway: Gateway): void {
  const sep = gateway.settings.separator;
  const named = (n: string): string => `${MANAGEMENT_SERVICE}${sep}${n}`;
  const services = () => (gateway.status().services as {
    name: string;
    strategy: string;
    replicas: { id: string; state: string; tools: number }[];
  }[]);

  const tools: LocalTool[] = [
    {
      definition: tool(
        named("list_nodes"),
        "Lists the backend MCP servers (services and their replicas) with their health",
        {},
        [],
        { readOnlyHint: true },
      ),
      call: () => Promise.resolve(json({ nodes: services() })),
    },
    {
      definition: tool(
        named("discover_nodes"),
        "Finds services that offer a tool, or that have a healthy replica",
        {
          tool: { type: "string", description: "Backend tool name the service must offer" },
          healthyOnly: { type: "boolean", description: "Only services with a ready replica" },
        },
        [],
        { readOnlyHint: true },
      ),
      call: (args) => {
        const wanted = typeof args.tool === "string" ? args.tool : undefined;
        const healthyOnly = args.healthyOnly === true;
        const tools = gateway.listTools();
        const nodes = services().filter((s) => {
          if (healthyOnly && !s.replicas.some((r) => r.state === "ready")) return false;
          if (wanted === undefined) return true;
          return tools.some((t) => t.name === `${s.name}${sep}${wanted}` || t.name === wanted);
        });
        return Promise.resolve(json({ nodes }));
      },
    },
    {
      definition: tool(
        named("register_node"),
        "Registers a backend MCP server as a service: {command,args,env} for stdio or " +
          "{url,headers,type} for HTTP, optionally with replicas and strategy",
        {
          name: { type: "string" },
          server: { type: "object", description: "One entry in the mcpServers config shape" },
        },
        ["name", "server"],
        { readOnlyHint: false, idempotentHint: false },
      ),
      call: async (args) => {
        if (typeof args.name !== "string") {
          throw new ProtocolError(INVALID_PARAMS, "name must be a string");
        }
        if (args.name === MANAGEMENT_SERVICE) {
          throw new ProtocolError(INVALID_PARAMS, `"${MANAGEMENT_SERVICE}" is reserved`);
        }
        let config;
        try {
          config = parseConfig(
            { mcpServers: { [args.name]: args.server } },
            "register_node arguments",
          );
        } catch (error) {
          throw new ProtocolError(INVALID_PARAMS, (error as Error).message);
        }
        try {
          await gateway.registerService(config.services[0]);
        } catch (error) {
          throw new ProtocolError(INVALID_PARAMS, (error as Error).message);
        }
        return json({
          registered: args.name,
          nodes: services().filter((s) => s.name === args.name),
        });
      },
    },
    {
      definition: tool(
        named("unregister_node"),
        "Removes a service and stops its replicas",
        { name: { type: "string" } },
        ["name"],
        { readOnlyHint: false, idempotentHint: true, destructiveHint: true },
      ),
      call: async (args) => {
        const removed = await gateway.unregisterService(String(args.name));
        return json({ unregistered: removed ? args.name : null });
      },
    },
    {
      definition: tool(
        named("status"),
        "Gateway status: call counts, failovers, name collisions, and per-replica state, " +
          "restarts and latency/error metrics",
        {},
        [],
        { readOnlyHint: true },
      ),
      call: () => Promise.resolve(json(gateway.status())),
    },
    {
      definition: tool(
        named("set_strategy"),
        `Chooses the load-balancing strategy: ${STRATEGY_NAMES.join(", ")}`,
        {
          strategy: { type: "string", enum: [...STRATEGY_NAMES] },
          service: { type: "string", description: "One service; all when absent" },
        },
        ["strategy"],
        { readOnlyHint: false, idempotentHint: true },
      ),
      call: (args) => {
        const strategy = String(args.strategy);
        if (!isStrategyName(strategy)) {
          throw new ProtocolError(
            INVALID_PARAMS,
            `unknown strategy "${strategy}"; expected one of ${STRATEGY_NAMES.join(", ")}`,
          );
        }
        const service = typeof args.service === "string" ? args.service : undefined;
        gateway.setStrategy(strategy, service);
        return Promise.resolve(json({ strategy, service: service ?? "*" }));
      },
    },
  ];
  for (const t of tools) gateway.addLocalTool(t);
}
