/**
 * The HTTP side of authentication, as Hono pieces: {@link authenticate}
 * puts the caller's {@link Principal} in `c.var.principal` (or answers the
 * refusal with its `WWW-Authenticate` challenge), and
 * {@link protectedResourceMetadata} serves the RFC 9728 document that tells
 * MCP clients which authorization server issues tokens for this gateway.
 *
 * @module
 */
import { Hono, type MiddlewareHandler } from "hono";
import { ANONYMOUS, type Principal } from "@safla/core/access";
import type { AuthConfig } from "./auth_config.ts";
import type { Authenticator, AuthRefusal } from "./authenticator.ts";

/** What {@link authenticate} leaves for the handlers. */
export type PrincipalEnv = { Variables: { principal: Principal } };

/** The well-known path of Protected Resource Metadata (RFC 9728 §3). */
export const PRM_PATH = "/.well-known/oauth-protected-resource";

/**
 * Where this gateway's metadata is, for the `resource` URI: the well-known
 * path inserted before the resource's path, as RFC 9728 §3.1 asks.
 */
export function resourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === "/" ? "" : url.pathname;
  return `${url.origin}${PRM_PATH}${path}`;
}

/** A quoted-string value of a challenge parameter: no quotes or backslashes inside. */
function quoted(text: string): string {
  return `"${text.replace(/["\\\r\n]/g, "'")}"`;
}

/** The `WWW-Authenticate` value for a refusal (RFC 6750 §3, MCP authorization). */
export function challenge(config: AuthConfig, refusal: AuthRefusal): string {
  const params: string[] = [];
  if (config.oauth !== undefined && config.resource !== undefined) {
    params.push(`resource_metadata=${quoted(resourceMetadataUrl(config.resource))}`);
  }
  if (config.requiredScopes.length > 0) {
    params.push(`scope=${quoted(config.requiredScopes.join(" "))}`);
  }
  if (refusal.error !== undefined) {
    params.push(`error=${quoted(refusal.error)}`);
    params.push(`error_description=${quoted(refusal.description)}`);
  }
  return params.length === 0 ? "Bearer" : `Bearer ${params.join(", ")}`;
}

/** The response for a refusal: the challenge plus an OAuth-style JSON error. */
export function refusalResponse(config: AuthConfig, refusal: AuthRefusal): Response {
  const headers: Record<string, string> = { "cache-control": "no-store" };
  if (refusal.status === 503) headers["retry-after"] = "5";
  else headers["www-authenticate"] = challenge(config, refusal);
  return Response.json(
    { error: refusal.error ?? "unauthorized", error_description: refusal.description },
    { status: refusal.status, headers },
  );
}

/**
 * Sets `c.var.principal`: the authenticated caller, or {@link ANONYMOUS}
 * when `auth` is undefined (a node without authentication).
 */
export function authenticate(auth: Authenticator | undefined): MiddlewareHandler<PrincipalEnv> {
  if (auth === undefined) {
    return async (c, next) => {
      c.set("principal", ANONYMOUS);
      await next();
    };
  }
  return async (c, next) => {
    const outcome = await auth.authenticate(c.req.raw.headers.get("authorization"));
    if ("refusal" in outcome) return refusalResponse(auth.config, outcome.refusal);
    c.set("principal", outcome.principal);
    await next();
  };
}

/**
 * The Protected Resource Metadata routes: at the root well-known path and
 * at the one for the `/mcp` endpoint, the same document.
 */
export function protectedResourceMetadata(config: AuthConfig): Hono {
  const routes = new Hono();
  const oauth = config.oauth;
  if (oauth === undefined || config.resource === undefined) return routes;
  const document = {
    resource: config.resource,
    authorization_servers: [oauth.issuer],
    bearer_methods_supported: ["header"],
    resource_name: "SAFLA gateway",
    ...(oauth.scopesSupported === undefined && config.requiredScopes.length === 0
      ? {}
      : { scopes_supported: oauth.scopesSupported ?? config.requiredScopes }),
  };
  const serve = () =>
    Response.json(document, {
      // Public metadata: browser-based MCP clients read it cross-origin.
      headers: { "access-control-allow-origin": "*", "cache-control": "max-age=300" },
    });
  const paths = new Set([
    PRM_PATH,
    `${PRM_PATH}/mcp`,
    new URL(resourceMetadataUrl(config.resource)).pathname,
  ]);
  for (const path of paths) routes.get(path, serve);
  return routes;
}
