/**
 * Who may use the state-changing management tools: a caller holding the
 * `safla:admin` scope, or, on a node whose config opts in with
 * `"management": {"anonymousAdmin": true}`, the anonymous caller of a node
 * without inbound auth. Everyone else gets JSON-RPC error -32013
 * ({@link FORBIDDEN}) naming the scope. Read-only tools stay open.
 *
 * @module
 */
import { ProtocolError } from "@modelcontextprotocol/server";
import { ADMIN_SCOPE, ANONYMOUS, hasScope, type Principal } from "@safla/core/access";
import type { CallContext } from "../gateway/call_context.ts";
import type { LocalTool } from "../gateway/gateway.ts";
import { FORBIDDEN } from "../gateway/jsonrpc_codes.ts";

/** The caller of a tool call; a call the gateway makes on its own behalf has none. */
export function callerOf(ctx: CallContext): Principal {
  return ctx.principal ?? ANONYMOUS;
}

/** Whether `principal` may change the gateway through its management tools. */
export function mayManage(principal: Principal, anonymousAdmin: boolean): boolean {
  if (hasScope(principal, ADMIN_SCOPE)) return true;
  return anonymousAdmin && principal.source === "anonymous";
}

/**
 * `tool`, callable only by a caller who {@link mayManage}.
 *
 * @example
 * ```ts ignore
 * gateway.addLocalTool(adminOnly(registerTool, config.management.anonymousAdmin));
 * ```
 */
export function adminOnly(tool: LocalTool, anonymousAdmin: boolean): LocalTool {
  const name = tool.definition.name;
  return {
    ...tool,
    call: (args, ctx) => {
      if (!mayManage(callerOf(ctx), anonymousAdmin)) {
        return Promise.reject(
          new ProtocolError(
            FORBIDDEN,
            `${name} changes the gateway and needs a caller with the "${ADMIN_SCOPE}" scope ` +
              `(a node without auth can allow its anonymous callers with ` +
              `"management": {"anonymousAdmin": true})`,
            { requiredScope: ADMIN_SCOPE },
          ),
        );
      }
      return tool.call(args, ctx);
    },
  };
}
