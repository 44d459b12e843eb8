/**
 * The edge rules of the admin API and of the cluster-internal routes, as Hono
 * middleware. A browser page must not be able to drive either (CSRF, DNS
 * rebinding), and an outsider must not be able to make a node hold a large
 * body:
 *
 * - Host must name this node (a loopback name or its own URL's host); an
 *   `Origin` header, which every browser sends on a cross-origin or
 *   WebSocket request, is refused unless it is on an explicit allow-list
 *   (empty by default: the admin API has no browser clients).
 * - `/admin/*` needs the admin credential: a principal with `safla:admin`
 *   once inbound auth is wired in (`adminAuth`), or the per-cluster admin
 *   token (`Authorization: Bearer`) from a loopback address.
 * - A request with a body (POST, PUT, PATCH) must be `application/json`
 *   (415 otherwise): no CORS-simple `text/plain` form post reaches a handler.
 * - Bodies are read through {@link readJsonObject}, which counts bytes as
 *   they arrive and stops at the bound (413) instead of buffering them.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { validateHostHeader } from "@modelcontextprotocol/server";
import { ADMIN_SCOPE, hasScope, type Principal } from "@safla/core/access";
import { constantTimeEqual } from "./admin_token.ts";
import { BadRequestError } from "./kv_operations.ts";

/** Largest admin request body: a 1 MiB value escaped as JSON is at most 6 MiB. */
export const MAX_ADMIN_BODY_BYTES = 8 * 1024 * 1024;

/** What Deno.serve tells about the connection (passed to `app.fetch` as its env). */
export interface ConnectionInfo {
  remoteAddr?: Deno.Addr;
}

/** Options of {@link adminGuard} and {@link clusterGuard}. */
export interface AdminGuardOptions {
  /** Hostnames the Host header may name besides loopback ones (e.g. this node's URL host). */
  allowedHosts: readonly string[];
  /** Exact origins (`scheme://host:port`) a browser may call from; none by default. */
  allowedOrigins?: readonly string[];
  /** The per-cluster admin token. */
  adminToken: string;
  /**
   * Authenticates a request once inbound auth is configured; a principal with
   * `safla:admin` is let in from any address. Without it the admin API
   * answers only loopback callers that hold the admin token.
   */
  adminAuth?: (request: Request) => Promise<Principal | undefined>;
}

/** A request body over its bound. */
export class BodyTooLargeError extends Error {
  /** `maxBytes`: the bound it crossed. */
  constructor(readonly maxBytes: number) {
    super(`request body exceeds ${maxBytes} bytes`);
    this.name = "BodyTooLargeError";
  }
}

const LOOPBACK_HOSTNAMES = ["localhost", "127.0.0.1", "[::1]"];

/** Whether the connection came from this machine. */
export function isLoopback(addr: Deno.Addr | undefined): boolean {
  if (addr === undefined || addr.transport !== "tcp") return false;
  const host = addr.hostname.toLowerCase();
  return host === "::1" || /^127\./.test(host) || /^::ffff:127\./.test(host);
}

function refuse(status: number, error: string, headers?: HeadersInit): Response {
  return Response.json({ error }, { status, headers });
}

function hasBody(method: string): boolean {
  return method === "POST" || method === "PUT" || method === "PATCH";
}

/** Host, Origin and content type: the checks every guarded route shares. */
function edgeCheck(c: Context, options: AdminGuardOptions): Response | undefined {
  const headers = c.req.raw.headers;
  const host = validateHostHeader(headers.get("host"), [
    ...LOOPBACK_HOSTNAMES,
    ...options.allowedHosts,
  ]);
  if (!host.ok) return refuse(403, `Forbidden: ${host.message}`);
  const origin = headers.get("origin");
  if (origin !== null && !(options.allowedOrigins ?? []).includes(origin)) {
    return refuse(403, `Forbidden: origin ${origin} may not call the admin API`);
  }
  if (hasBody(c.req.method)) {
    const type = (headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/json") {
      return refuse(415, "Unsupported Media Type: send application/json");
    }
  }
  return undefined;
}

function bearerToken(request: Request): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "");
  return match?.[1];
}

/**
 * Guards `/admin/*`: edge checks, then the admin credential.
 *
 * @example
 * ```ts ignore
 * app.use("/admin/*", adminGuard({ allowedHosts: ["10.0.0.1"], adminToken }));
 * ```
 */
export function adminGuard(options: AdminGuardOptions): MiddlewareHandler {
  return async (c, next) => {
    const refused = edgeCheck(c, options);
    if (refused) return refused;
    // The admin token is checked first: it costs a comparison, inbound auth may cost a
    // request, and it must never reach inbound auth (which may hand a token it does not
    // know to an introspection endpoint).
    const token = bearerToken(c.req.raw);
    if (token !== undefined && constantTimeEqual(token, options.adminToken)) {
      if (!isLoopback((c.env as ConnectionInfo | undefined)?.remoteAddr)) {
        return refuse(403, "the admin token is accepted from loopback only");
      }
      return await next();
    }
    const principal = options.adminAuth ? await options.adminAuth(c.req.raw) : undefined;
    if (principal === undefined) {
      return refuse(401, "the admin API needs the admin token (Authorization: Bearer)", {
        "www-authenticate": 'Bearer realm="safla-admin"',
      });
    }
    if (!hasScope(principal, ADMIN_SCOPE)) {
      return refuse(403, `the admin API needs a caller with the "${ADMIN_SCOPE}" scope`);
    }
    await next();
  };
}

/**
 * Guards `/cluster/*` (node-to-node calls, each authenticated by the cluster
 * token in its handler): the same edge checks as the admin API.
 */
export function clusterGuard(options: AdminGuardOptions): MiddlewareHandler {
  return async (c, next) => {
    const refused = edgeCheck(c, options);
    if (refused) return refused;
    await next();
  };
}

/**
 * Reads a request body of at most `maxBytes` as a JSON object. A declared
 * Content-Length over the bound is refused before anything is read; otherwise
 * bytes are counted as they arrive and the stream is cancelled at the bound.
 */
export async function readJsonObject(
  request: Request,
  maxBytes: number,
): Promise<Record<string, unknown>> {
  if (Number(request.headers.get("content-length")) > maxBytes) {
    await request.body?.cancel();
    throw new BodyTooLargeError(maxBytes);
  }
  const chunks: Uint8Array[] = [];
  let sizeBytes = 0;
  if (request.body !== null) {
    const reader = request.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      sizeBytes += value.byteLength;
      if (sizeBytes > maxBytes) {
        await reader.cancel();
        throw new BodyTooLargeError(maxBytes);
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(sizeBytes);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  // No body reads as an empty object: a POST that only names its target (a promote) needs none.
  if (sizeBytes === 0) return {};
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new BadRequestError("body", "expected a JSON object");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequestError("body", "expected a JSON object");
  }
  return body as Record<string, unknown>;
}
