/**
 * The enforcement points of the data path: before the gateway serves a
 * `tools/call`, `prompts/get`, `resources/read`, `resources/subscribe` or
 * `completion/complete`, the caller's principal is checked against the
 * policies in force; a refusal is audited and thrown as a JSON-RPC error.
 *
 * A backend tool, prompt or resource the caller may not use is refused with
 * exactly the error an unknown one gets (-32602 "Tool X not found", ...): the
 * caller's lists do not show it, and a distinct "forbidden" would confirm to
 * a caller probing names that it exists. Management tools are documented and
 * listed to admins; a non-admin gets -32013 naming the scope it lacks, so an
 * operator knows what to grant.
 *
 * @module
 */
import { ProtocolError } from "@modelcontextprotocol/server";
import {
  type AccessTarget,
  ADMIN_SCOPE,
  ANONYMOUS,
  type Principal,
  principalKey,
} from "@safla/core/access";
import type { Gateway } from "../gateway/gateway.ts";
import { FORBIDDEN, INVALID_PARAMS } from "../gateway/jsonrpc_codes.ts";

/** The target behind an exposed tool name; undefined for a name the gateway does not know. */
export function toolTarget(gateway: Gateway, name: string): AccessTarget | undefined {
  if (gateway.isLocalTool(name)) return { kind: "management", name };
  const resolved = gateway.resolveTool(name);
  return resolved === undefined ? undefined : { kind: "tool", ...resolved };
}

/** The target behind an exposed prompt name. */
export function promptTarget(gateway: Gateway, name: string): AccessTarget | undefined {
  const resolved = gateway.resolvePrompt(name);
  return resolved === undefined ? undefined : { kind: "prompt", ...resolved };
}

/** The target of a concrete resource URI. */
export function resourceTarget(gateway: Gateway, uri: string): AccessTarget | undefined {
  const service = gateway.serviceOfResource(uri);
  return service === undefined ? undefined : { kind: "resource", service, uri };
}

/** The target of a listed resource template. */
export function templateTarget(gateway: Gateway, uriTemplate: string): AccessTarget | undefined {
  const service = gateway.serviceOfResource(uriTemplate, true);
  return service === undefined ? undefined : { kind: "resourceTemplate", service, uriTemplate };
}

/**
 * Throws the refusal when `principal` may not use `target` (an unknown target
 * passes: the gateway answers it as unknown). `action` is the method, for the audit.
 */
function enforce(
  gateway: Gateway,
  principal: Principal,
  action: string,
  target: AccessTarget | undefined,
  notFound: () => ProtocolError,
): void {
  if (target === undefined) return;
  const access = gateway.access;
  const decision = access.policies.decide(principal, target);
  if (decision.allowed) return;
  access.audit.record({
    principal: principalKey(principal),
    action,
    target: describe(target),
    decision: "denied",
    revision: access.policies.revision,
  });
  if (target.kind === "management") {
    throw new ProtocolError(FORBIDDEN, `${target.name} requires the scope ${ADMIN_SCOPE}`);
  }
  throw notFound();
}

/** How a target reads in the audit trail. */
export function describe(target: AccessTarget): string {
  switch (target.kind) {
    case "management":
      return target.name;
    case "resource":
      return `${target.service}:${target.uri}`;
    case "resourceTemplate":
      return `${target.service}:${target.uriTemplate}`;
    default:
      return `${target.service}:${target.name}`;
  }
}

/** Refuses a `tools/call` of `name` that `principal` may not make. */
export function authorizeToolCall(
  gateway: Gateway,
  name: string,
  principal: Principal = ANONYMOUS,
): void {
  enforce(
    gateway,
    principal,
    "tools/call",
    toolTarget(gateway, name),
    () => new ProtocolError(INVALID_PARAMS, `Tool ${name} not found`),
  );
}

/**
 * Records a management call that changed something (any management tool not
 * marked read-only) with who made it. The arguments are not kept (a server
 * entry may carry secrets), only the name they act on.
 */
export function auditManagementCall(
  gateway: Gateway,
  params: { name: string; arguments?: Record<string, unknown> },
  principal: Principal = ANONYMOUS,
): void {
  const tool = gateway.isLocalTool(params.name)
    ? gateway.listTools().find((t) => t.name === params.name)
    : undefined;
  if (!gateway.isLocalTool(params.name) || tool?.annotations?.readOnlyHint === true) return;
  const args = params.arguments ?? {};
  const policy = args.policy as { name?: unknown } | undefined;
  const subject = [args.name, args.key, args.prefix, policy?.name, args.service]
    .find((v) => typeof v === "string");
  gateway.access.audit.record({
    principal: principalKey(principal),
    action: params.name,
    target: typeof subject === "string" ? subject : "",
    decision: "changed",
    revision: gateway.access.policies.revision,
  });
}

/** Refuses a `prompts/get` (or a completion of its arguments) `principal` may not make. */
export function authorizePrompt(
  gateway: Gateway,
  name: string,
  principal: Principal = ANONYMOUS,
  action = "prompts/get",
): void {
  enforce(
    gateway,
    principal,
    action,
    promptTarget(gateway, name),
    () => new ProtocolError(INVALID_PARAMS, `Prompt ${name} not found`),
  );
}

/** Refuses a `resources/read` or `resources/subscribe` of `uri` `principal` may not make. */
export function authorizeResource(
  gateway: Gateway,
  uri: string,
  principal: Principal = ANONYMOUS,
  action = "resources/read",
): void {
  enforce(
    gateway,
    principal,
    action,
    resourceTarget(gateway, uri),
    () => new ProtocolError(INVALID_PARAMS, `Resource not found: ${uri}`, { uri }),
  );
}

/** Refuses a `completion/complete` about a prompt or template `principal` may not use. */
export function authorizeCompletion(
  gateway: Gateway,
  ref: { type: string; name?: string; uri?: string },
  principal: Principal = ANONYMOUS,
): void {
  if (ref.type === "ref/prompt" && ref.name !== undefined) {
    authorizePrompt(gateway, ref.name, principal, "completion/complete");
  } else if (ref.type === "ref/resource" && ref.uri !== undefined) {
    const uri = ref.uri;
    enforce(
      gateway,
      principal,
      "completion/complete",
      templateTarget(gateway, uri) ?? resourceTarget(gateway, uri),
      () => new ProtocolError(INVALID_PARAMS, `Resource template ${uri} not found`),
    );
  }
}
