/**
 * Management tools for access policies and the audit trail:
 * `safla__policy_list`, `safla__policy_put`, `safla__policy_delete` and
 * `safla__audit_list`. Like every management tool they need the admin scope
 * (server/access/enforce.ts). In a cluster a change goes through the
 * replicated store and applies on every node at its revision; a standalone
 * node keeps runtime policies in memory.
 *
 * @module
 */
import { ProtocolError, type Tool } from "@modelcontextprotocol/server";
import { parsePolicy, type Policy, PolicyError } from "@safla/core/access";
import type { Gateway, LocalTool } from "../gateway/gateway.ts";
import { INVALID_PARAMS } from "../gateway/jsonrpc_codes.ts";

/** Where runtime policy changes go: the replicated store, or this node's memory. */
export interface PolicyWriter {
  /** Stores `policy`; resolves with the revision once this node runs on it. */
  put(policy: Policy): Promise<number>;
  /** Deletes policy `name`; resolves once this node runs without it. */
  delete(name: string): Promise<{ deleted: boolean; revision: number }>;
}

/** Runtime policies of a node without a store: in memory, lost at restart. */
export class MemoryPolicies implements PolicyWriter {
  readonly #gateway: Gateway;
  readonly #policies = new Map<string, Policy>();
  #revision = 0;

  constructor(gateway: Gateway) {
    this.#gateway = gateway;
  }

  put(policy: Policy): Promise<number> {
    this.#policies.set(policy.name, policy);
    this.#gateway.access.applyStored(this.#policies.values(), ++this.#revision);
    return Promise.resolve(this.#revision);
  }

  delete(name: string): Promise<{ deleted: boolean; revision: number }> {
    const deleted = this.#policies.delete(name);
    if (deleted) this.#gateway.access.applyStored(this.#policies.values(), ++this.#revision);
    return Promise.resolve({ deleted, revision: this.#revision });
  }
}

/** Most audit records one `audit_list` returns. */
const MAX_AUDIT_LIST = 1_000;

function json(value: Record<string, unknown>): Record<string, unknown> {
  return {
    content: [{ type: "text", text: JSON.stringify(value, null, 2) }],
    structuredContent: value,
  };
}

function tool(
  name: string,
  description: string,
  properties: Tool["inputSchema"]["properties"],
  required: string[],
  readOnly: boolean,
): Tool {
  return {
    name,
    description,
    inputSchema: { type: "object", properties, required },
    annotations: readOnly ? { readOnlyHint: true } : { readOnlyHint: false, idempotentHint: true },
  };
}

/** The policy and audit tools, named by `named`. */
export function policyTools(
  named: (tool: string) => string,
  gateway: Gateway,
  writer: PolicyWriter,
): LocalTool[] {
  const access = gateway.access;
  return [
    {
      definition: tool(
        named("policy_list"),
        "Lists the access policies in force (from the config and set at runtime) and their revision",
        {},
        [],
        true,
      ),
      call: () => {
        const fromConfig = new Set(access.configPolicies);
        const policies = access.policies.policies.map((p) => ({
          ...p,
          source: fromConfig.has(p) ? "config" : "runtime",
        }));
        return Promise.resolve(json({ revision: access.policies.revision, policies }));
      },
    },
    {
      definition: tool(
        named("policy_put"),
        "Creates or replaces an access policy (by name) for one service: rules that allow or " +
          "deny tools, resources (URI, template or glob) and prompts to subjects, scopes or " +
          "claims; deny wins; once a service has a policy, what no rule allows there is denied",
        { policy: { type: "object", description: "{name, service, description?, rules: [...]}" } },
        ["policy"],
        false,
      ),
      call: async (args) => {
        let policy: Policy;
        try {
          policy = parsePolicy(args.policy, "policy");
        } catch (error) {
          if (!(error instanceof PolicyError)) throw error;
          throw new ProtocolError(INVALID_PARAMS, error.message, { path: error.path });
        }
        const revision = await writer.put(policy);
        return json({ put: policy.name, revision });
      },
    },
    {
      definition: tool(
        named("policy_delete"),
        "Deletes a runtime access policy by name (config policies stay until the config changes)",
        { name: { type: "string" } },
        ["name"],
        false,
      ),
      call: async (args) => {
        if (typeof args.name !== "string" || args.name === "") {
          throw new ProtocolError(INVALID_PARAMS, "name: must be a non-empty string", {
            path: "name",
          });
        }
        const { deleted, revision } = await writer.delete(args.name);
        return json({ deleted: deleted ? args.name : null, revision });
      },
    },
    {
      definition: tool(
        named("audit_list"),
        "The newest audit records of every node (denied calls; policy, service and membership " +
          "changes), newest first",
        { limit: { type: "number", description: `At most ${MAX_AUDIT_LIST} (default 100)` } },
        [],
        true,
      ),
      call: async (args) => {
        const limit = args.limit === undefined ? 100 : args.limit;
        if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1) {
          throw new ProtocolError(INVALID_PARAMS, "limit: must be a positive integer", {
            path: "limit",
          });
        }
        const listed = await access.audit.list(Math.min(limit, MAX_AUDIT_LIST));
        return json({ ...listed, stats: access.audit.stats });
      },
    },
  ];
}
