/**
 * The MCP routes of one node, for clients of both eras:
 *
 * - `POST /mcp`: a request with the 2026-07-28 envelope goes to the stateless
 *   handler; a 2025 `initialize` opens a session; a request of a session goes
 *   to it, a `tools/call` the direct lane takes straight to the gateway.
 * - `GET /mcp` (the session's notification stream) and `DELETE /mcp`.
 * - `GET /sse` + `POST /messages`: the legacy HTTP+SSE front.
 *
 * The Host/Origin guard and authentication run before these (app.ts), so
 * every request carries its caller in `c.var.principal`; bodies pass
 * {@link jsonRpcBody} first. A 2025 session serves only the caller that
 * opened it: for anyone else its id is unknown (404, the same answer).
 *
 * @module
 */
import { Hono } from "hono";
import {
  isLegacyRequest,
  type JSONRPCMessage,
  type McpHttpHandler,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import type { DirectLane } from "./direct_call.ts";
import { acceptsJson, isSingleRequest, preferJsonReply } from "../gateway/json_reply.ts";
import { SseFrontTransport } from "./sse_front.ts";
import { INVALID_REQUEST, SESSION_NOT_FOUND } from "../gateway/jsonrpc_codes.ts";
import { jsonRpcBody, type JsonRpcBodyEnv, jsonRpcError } from "./http_edge.ts";
import type { HttpSession, SessionTable } from "./session_table.ts";
import type { Principal } from "@safla/core/access";
import type { PrincipalEnv } from "../auth/middleware.ts";

/** What {@link mcpRoutes} serves with. */
export interface McpRoutesOptions {
  sessions: SessionTable;
  lane: DirectLane;
  /** Serves 2026-07-28 requests, each on its own. */
  stateless: McpHttpHandler;
  maxRequestBodyBytes: number;
  /** Narrows a 2026 request to what its caller may use (access/enforce.ts `restrictListen`). */
  restrict?: (body: unknown, principal: Principal) => unknown;
}

type RoutesEnv = { Variables: JsonRpcBodyEnv["Variables"] & PrincipalEnv["Variables"] };

type StreamableSession = HttpSession & { transport: WebStandardStreamableHTTPServerTransport };

function isStreamable(session: HttpSession | undefined): session is StreamableSession {
  return session?.transport instanceof WebStandardStreamableHTTPServerTransport;
}

const sessionNotFound = () => jsonRpcError(404, SESSION_NOT_FOUND, "Session not found");
function tooManySessions(refusal: { reason: string; retryAfterSeconds: number }): Response {
  const response = jsonRpcError(503, INVALID_REQUEST, `Too many sessions: ${refusal.reason}`);
  response.headers.set("retry-after", String(refusal.retryAfterSeconds));
  return response;
}

/** More than the handshake: what makes a session worth keeping (session_table.ts). */
function isRealUse(body: unknown): boolean {
  return (Array.isArray(body) ? body : [body]).some((m) =>
    (m as { method?: unknown } | null)?.method !== "notifications/initialized"
  );
}

/** The MCP routes: see the module doc. */
export function mcpRoutes(options: McpRoutesOptions): Hono<RoutesEnv> {
  const { sessions, lane, stateless } = options;
  const routes = new Hono<RoutesEnv>();
  const body = jsonRpcBody(options.maxRequestBodyBytes);

  /** A request of an open 2025 session. */
  async function postToSession(
    req: Request,
    id: string,
    body: unknown,
    principal: Principal,
  ): Promise<Response> {
    const session = await sessions.find(id, req, principal);
    if (!isStreamable(session)) return sessionNotFound();
    sessions.touch(session, isRealUse(body));
    session.principal = principal;
    // Answers to questions pushed on the direct lane go to their calls, not the SDK.
    const rest = session.answerQuestions(body);
    if (rest === undefined) return new Response(null, { status: 202 });
    session.cancelCalls(rest);
    const direct = lane.serve(req, session, rest);
    if (direct !== undefined) return await direct;
    return await preferJson(
      req,
      rest,
      await session.transport.handleRequest(req, { parsedBody: rest }),
    );
  }

  /** A request without a session: a 2025 `initialize`, or a 2026 request. */
  async function postWithoutSession(
    req: Request,
    body: unknown,
    principal: Principal,
  ): Promise<Response> {
    if (!await isLegacyRequest(req, body)) {
      // The SDK hands authInfo to the factory that builds this request's server.
      const authInfo = {
        token: "",
        clientId: "",
        scopes: [...principal.scopes],
        extra: { principal },
      };
      return await preferJson(
        req,
        body,
        await stateless.fetch(req, {
          parsedBody: options.restrict?.(body, principal) ?? body,
          authInfo,
        }),
      );
    }
    const messages = (Array.isArray(body) ? body : [body]) as (JSONRPCMessage & {
      method?: string;
      params?: Record<string, unknown>;
    })[];
    const initialize = messages.find((m) => m.method === "initialize");
    if (initialize === undefined) {
      return jsonRpcError(400, INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required");
    }
    const admission = sessions.admit(principal);
    if (!admission.ok) return tooManySessions(admission);
    const session = await sessions.openStreamable(initialize.params, undefined, principal);
    const transport = session.transport as WebStandardStreamableHTTPServerTransport;
    const response = await transport.handleRequest(req, { parsedBody: body });
    sessions.opened(session);
    return await preferJson(req, body, response);
  }

  routes.post("/mcp", body, (c) => {
    const id = c.req.header("mcp-session-id");
    return id === undefined
      ? postWithoutSession(c.req.raw, c.get("body"), c.get("principal"))
      : postToSession(c.req.raw, id, c.get("body"), c.get("principal"));
  });

  /** GET (the notification stream) and DELETE of a session. */
  const sessionRequest = async (req: Request, principal: Principal): Promise<Response> => {
    const id = req.headers.get("mcp-session-id");
    if (id === null) {
      return jsonRpcError(405, INVALID_REQUEST, "Method not allowed without Mcp-Session-Id");
    }
    const session = await sessions.find(id, req, principal);
    if (!isStreamable(session)) return sessionNotFound();
    sessions.touch(session, req.method === "GET");
    session.principal = principal;
    const response = await session.transport.handleRequest(req);
    if (req.method !== "GET" || !response.ok) return response;
    sessions.listening(id);
    return session.outbound.wrap(response);
  };
  routes.get("/mcp", (c) => sessionRequest(c.req.raw, c.get("principal")));
  routes.delete("/mcp", (c) => sessionRequest(c.req.raw, c.get("principal")));

  routes.get("/sse", async (c) => {
    const admission = sessions.admit(c.get("principal"));
    if (!admission.ok) return tooManySessions(admission);
    const session = await sessions.openSse("/messages", c.get("principal"));
    return (session.transport as SseFrontTransport).response;
  });

  routes.post("/messages", body, (c) => {
    const id = c.req.query("sessionId");
    const principal = c.get("principal");
    const session = id === undefined ? undefined : sessions.get(id, principal);
    if (session === undefined || !(session.transport instanceof SseFrontTransport)) {
      return sessionNotFound();
    }
    session.principal = principal;
    const parsed = c.get("body");
    sessions.touch(session, isRealUse(parsed));
    for (const m of Array.isArray(parsed) ? parsed : [parsed]) {
      session.transport.receive(m as JSONRPCMessage);
    }
    return new Response("Accepted", { status: 202 });
  });

  return routes;
}

/** One request's answer as one JSON body when its stream would carry nothing else (json_reply.ts). */
function preferJson(req: Request, body: unknown, response: Response): Promise<Response> | Response {
  return isSingleRequest(body) && acceptsJson(req.headers.get("accept"))
    ? preferJsonReply(response, body.id)
    : response;
}
