/**
 * The gateway's own MCP tools, as the seed roadmap asks: list and discover
 * servers (backend MCP servers), register and unregister one, status with
 * metrics, and choose the balancing strategy. They are named
 * `safla{separator}{tool}`; the service name `safla` is reserved for them.
 * A *node* is a member of the gateway cluster; the seed called backends nodes,
 * so its tool names (`list_nodes`, `register_node`, ...) stay as unlisted aliases.
 *
 * The tools that change the gateway (register, unregister, set_strategy,
 * state_set, state_delete) need an admin caller (`management_access.ts`);
 * the state tools work in the user key space (`user_keys.ts`).
 *
 * @module
 */
import { type JSONValue, ProtocolError, type Tool } from "@modelcontextprotocol/server";
import { isStrategyName, STRATEGY_NAMES } from "@safla/core/balancer";
import { parseConfig } from "../config.ts";
import type { Gateway, LocalTool } from "../gateway/gateway.ts";
import type { ServiceDirectory } from "./service_directory.ts";
import type { StateStore } from "../store/types.ts";
import { INVALID_PARAMS } from "../gateway/jsonrpc_codes.ts";
import { UserKeySpace } from "./user_keys.ts";
import { adminOnly } from "./management_access.ts";
import { checkRuntimeService } from "./registration_check.ts";
import { DEFAULT_MANAGEMENT, type ManagementConfig } from "./management_config.ts";
import { MemoryPolicies, policyTools, type PolicyWriter } from "./policy_tools.ts";

/** The reserved service name that prefixes management tools. */
export const MANAGEMENT_SERVICE = "safla";

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

/** What the management tools may use besides the gateway. */
export interface ManagementOptions {
  /** Makes register/unregister cluster-wide. */
  directory?: ServiceDirectory;
  /** Enables the state-store tools (get, set, delete, list, watch). */
  store?: StateStore;
  /** Who may use the state-changing tools, what registrations may run; defaults: nobody, nothing. */
  management?: ManagementConfig;
  /** Where `policy_put`/`policy_delete` write; this node's memory when absent. */
  policies?: PolicyWriter;
}

/** The tools that change the gateway or its state; the others only read. */
const ADMIN_TOOLS = new Set([
  "register_server",
  "unregister_server",
  "set_strategy",
  "state_set",
  "state_delete",
  "policy_list",
  "policy_put",
  "policy_delete",
  "audit_list",
]);

/** Longest a `state_watch` call waits for events. */
const MAX_WATCH_MS = 30_000;
/** Most events one `state_watch` call returns. */
const MAX_WATCH_EVENTS = 1_000;

/** Registers the management tools on `gateway`. */
export function addManagementTools(gateway: Gateway, options: ManagementOptions = {}): void {
  const { directory, store } = options;
  const management = options.management ?? DEFAULT_MANAGEMENT;
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
        named("list_servers"),
        "Lists the backend MCP servers (services and their replicas) with their health",
        {},
        [],
        { readOnlyHint: true },
      ),
      aliases: [named("list_nodes")],
      call: () => Promise.resolve(json({ servers: services() })),
    },
    {
      definition: tool(
        named("discover_servers"),
        "Finds services that offer a tool, or that have a healthy replica",
        {
          tool: { type: "string", description: "Backend tool name the service must offer" },
          healthyOnly: { type: "boolean", description: "Only services with a ready replica" },
        },
        [],
        { readOnlyHint: true },
      ),
      aliases: [named("discover_nodes")],
      call: (args) => {
        const wanted = typeof args.tool === "string" ? args.tool : undefined;
        const healthyOnly = args.healthyOnly === true;
        const tools = gateway.listTools();
        const servers = services().filter((s) => {
          if (healthyOnly && !s.replicas.some((r) => r.state === "ready")) return false;
          if (wanted === undefined) return true;
          return tools.some((t) => t.name === `${s.name}${sep}${wanted}` || t.name === wanted);
        });
        return Promise.resolve(json({ servers }));
      },
    },
    {
      definition: tool(
        named("register_server"),
        "Registers a backend MCP server as a service: {command,args,env} for stdio or " +
          "{url,headers,type} for HTTP, optionally with replicas and strategy",
        {
          name: { type: "string" },
          server: { type: "object", description: "One entry in the mcpServers config shape" },
        },
        ["name", "server"],
        { readOnlyHint: false, idempotentHint: false },
      ),
      aliases: [named("register_node")],
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
            "register_server arguments",
          );
        } catch (error) {
          throw new ProtocolError(INVALID_PARAMS, (error as Error).message);
        }
        try {
          if (directory !== undefined) await directory.register(args.name, args.server);
          else {
            await checkRuntimeService(config.services[0], management.registration);
            await gateway.registerService(config.services[0]);
          }
        } catch (error) {
          throw new ProtocolError(INVALID_PARAMS, (error as Error).message);
        }
        return json({
          registered: args.name,
          servers: services().filter((s) => s.name === args.name),
        });
      },
    },
    {
      definition: tool(
        named("unregister_server"),
        "Removes a service and stops its replicas",
        { name: { type: "string" } },
        ["name"],
        { readOnlyHint: false, idempotentHint: true, destructiveHint: true },
      ),
      aliases: [named("unregister_node")],
      call: async (args) => {
        const name = String(args.name);
        const removed = directory !== undefined && await directory.unregister(name) ||
          await gateway.unregisterService(name);
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
  if (store !== undefined) tools.push(...stateTools(named, store));
  tools.push(...policyTools(named, gateway, options.policies ?? new MemoryPolicies(gateway)));
  const adminNames = new Set([...ADMIN_TOOLS].map(named));
  for (const t of tools) {
    gateway.addLocalTool(
      adminNames.has(t.definition.name) ? adminOnly(t, management.anonymousAdmin) : t,
    );
  }
}

function userKey(args: Record<string, unknown>, field = "key"): string {
  const key = args[field];
  if (typeof key !== "string" || key.length === 0) {
    throw new ProtocolError(INVALID_PARAMS, `${field} must be a non-empty string`);
  }
  return key;
}

function userPrefix(args: Record<string, unknown>): string {
  if (typeof args.prefix !== "string") {
    throw new ProtocolError(INVALID_PARAMS, "prefix must be a string");
  }
  return args.prefix;
}

/**
 * get/set/delete/list/watch on the user key space of the replicated store
 * (`user_keys.ts`): the gateway's own records are out of reach by construction.
 */
function stateTools(named: (n: string) => string, stateStore: StateStore): LocalTool[] {
  const store = new UserKeySpace(stateStore);
  return [
    {
      definition: tool(
        named("state_get"),
        "Reads one key of the replicated state store (linearizable)",
        { key: { type: "string" } },
        ["key"],
        { readOnlyHint: true },
      ),
      call: async (args) => {
        const kv = await store.get(userKey(args), "linearizable");
        return json({ key: args.key, value: kv?.value ?? null, revision: kv?.modRevision ?? null });
      },
    },
    {
      definition: tool(
        named("state_set"),
        "Writes one key of the replicated state store",
        { key: { type: "string" }, value: { type: "string" } },
        ["key", "value"],
        { readOnlyHint: false, idempotentHint: true },
      ),
      call: async (args) => {
        if (typeof args.value !== "string") {
          throw new ProtocolError(INVALID_PARAMS, "value must be a string");
        }
        const reply = await store.put(userKey(args), args.value);
        return json({ key: args.key, revision: reply.revision });
      },
    },
    {
      definition: tool(
        named("state_delete"),
        "Deletes one key (or, with prefix: true, every key under it)",
        { key: { type: "string" }, prefix: { type: "boolean" } },
        ["key"],
        { readOnlyHint: false, idempotentHint: true, destructiveHint: true },
      ),
      call: async (args) => {
        const reply = await store.delete(userKey(args), {
          prefix: args.prefix === true,
          prevKv: false,
        });
        return json({ deleted: reply.deleted, revision: reply.revision });
      },
    },
    {
      definition: tool(
        named("state_list"),
        "Lists keys and values under a prefix, one page at a time (pass `next` back as `after`)",
        {
          prefix: { type: "string" },
          limit: { type: "number", description: "At most 1000; default 100" },
          after: { type: "string", description: "The `next` of the previous page" },
        },
        ["prefix"],
        { readOnlyHint: true },
      ),
      call: async (args) => {
        if (
          args.limit !== undefined &&
          (!Number.isInteger(args.limit) || (args.limit as number) < 1)
        ) {
          throw new ProtocolError(INVALID_PARAMS, "limit must be a positive integer");
        }
        const limit = Math.min((args.limit as number | undefined) ?? 100, 1_000);
        if (args.after !== undefined && (typeof args.after !== "string" || args.after === "")) {
          throw new ProtocolError(INVALID_PARAMS, "after must be a non-empty string");
        }
        const reply = await store.range(userPrefix(args), {
          limit,
          after: args.after as string | undefined,
        });
        const kvs = reply.kvs.map((kv) => ({
          key: kv.key,
          value: kv.value,
          revision: kv.modRevision,
        }));
        const page: Record<string, unknown> = { kvs, revision: reply.revision, more: reply.more };
        if (reply.more) page.next = kvs[kvs.length - 1].key;
        return json(page);
      },
    },
    {
      definition: tool(
        named("state_watch"),
        "Waits for changes under a prefix (from a revision, if given) and returns them",
        {
          prefix: { type: "string" },
          fromRevision: { type: "number" },
          timeoutMs: { type: "number", description: `At most ${MAX_WATCH_MS}` },
        },
        ["prefix"],
        { readOnlyHint: true },
      ),
      call: async (args, ctx) => {
        const prefix = userPrefix(args);
        const timeoutMs = Math.min(
          typeof args.timeoutMs === "number" ? args.timeoutMs : 5_000,
          MAX_WATCH_MS,
        );
        const events: { type: string; key: string; value: string | null; revision: number }[] = [];
        const done = Promise.withResolvers<void>();
        const handle = await store.watch({ prefix }, (batch) => {
          for (const e of batch) {
            if (events.length >= MAX_WATCH_EVENTS) break;
            events.push({
              type: e.type,
              key: e.kv.key,
              value: e.type === "put" ? e.kv.value : null,
              revision: e.revision,
            });
          }
          done.resolve();
        }, {
          startRevision: typeof args.fromRevision === "number" ? args.fromRevision : undefined,
        });
        const timer = setTimeout(() => done.resolve(), timeoutMs);
        ctx.signal?.addEventListener("abort", () => done.resolve(), { once: true });
        try {
          await done.promise;
        } finally {
          clearTimeout(timer);
          await handle.cancel();
        }
        return json({ events });
      },
    },
  ];
}
