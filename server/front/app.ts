/**
 * The HTTP face of one gateway node, as a Hono app:
 *
 * - `/mcp`: Streamable HTTP for both eras. A request that carries the
 *   2026-07-28 envelope is served statelessly; a 2025 `initialize` opens a
 *   session (`Mcp-Session-Id`) with its GET stream and server-pushed requests.
 * - `/sse` + `/messages`: the legacy HTTP+SSE front for old clients.
 * - `/healthz`: liveness plus a summary of backend health.
 *
 * Every MCP route checks Host and Origin against DNS rebinding, bounds the
 * request body, and answers malformed JSON-RPC with the JSON-RPC error and
 * HTTP status the spec asks for.
 *
 * @module
 */
import { Hono } from "hono";
import {
  createMcpHandler,
  isLegacyRequest,
  type JSONRPCMessage,
  localhostAllowedHostnames,
  type McpHttpHandler,
  readRequestBody,
  type Server,
  validateHostHeader,
  validateOriginHeader,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import type { Gateway } from "../gateway/gateway.ts";
import {
  createFrontServer,
  isSubscribed,
  MAX_SUBSCRIPTIONS_PER_SESSION,
  type ResumeCodec,
  sendListChanged,
  sessionState,
} from "./front.ts";
import { SseFrontTransport } from "./sse_front.ts";
import { acceptsJson, isSingleRequest, preferJsonReply } from "../gateway/json_reply.ts";
import type { SessionDirectory } from "../control/session_directory.ts";
import {
  abortDirectCalls,
  answerPushedRequests,
  cancelDirectCalls,
  directCallRequest,
  DirectCalls,
  KeepAlive,
  serveDirectCall,
} from "./direct_call.ts";
import { INVALID_REQUEST, PARSE_ERROR, SESSION_NOT_FOUND } from "../gateway/jsonrpc_codes.ts";

/** Distinct Host headers whose check is remembered (they are client input, so bounded). */
const MAX_REMEMBERED_HOSTS = 64;

/** Options of {@link createGatewayApp}. */
export interface GatewayAppOptions {
  gateway: Gateway;
  codec: ResumeCodec;
  /** Host names accepted in `Host` and `Origin`, besides loopback names. */
  allowedHosts: string[];
  allowedOrigins: string[];
  maxRequestBodyBytes: number;
  /** Most concurrent 2025 sessions (Streamable HTTP and SSE together); more get 503. */
  maxSessions: number;
  /** Shares 2025 sessions with the other nodes of a cluster; local only when absent. */
  sessionDirectory?: SessionDirectory;
  /**
   * A 2025 session the client has not used for this long is closed, so clients
   * that vanish without DELETE do not hold memory forever. Default 30 minutes.
   */
  sessionIdleMs?: number;
}

/** How many times longer a session with an open GET stream may stay idle. */
const LISTENING_IDLE_FACTOR = 4;

/** Default of {@link GatewayAppOptions.sessionIdleMs}. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60_000;

/** The app plus the handles a node needs to shut it down. */
export interface GatewayApp {
  app: Hono;
  /** Serves one request: `app.fetch`, with a shortcut for POST /mcp. */
  fetch(req: Request): Response | Promise<Response>;
  /** Closes every session and the stateless handler. */
  close(): Promise<void>;
  /** Number of open 2025 sessions. */
  sessionCount(): number;
  /** Number of 2025 sessions whose client opened the GET stream for notifications. */
  listeningCount(): number;
  /** Tool calls served on the direct lane (direct_call.ts) since the app started. */
  directCallCount(): number;
  /**
   * Turns the direct lane on (the default) or off; with it off every call
   * takes the SDK path, which serves the same results more slowly. For
   * telling the two apart when something looks wrong, and for tests.
   */
  setDirectLane(enabled: boolean): void;
}

interface Session {
  server: Server;
  transport: WebStandardStreamableHTTPServerTransport | SseFrontTransport;
  /** Last time the client sent anything, for idle expiry. */
  lastSeenMs: number;
  /** Calls in flight on the direct lane (see direct_call.ts), for cancellation. */
  calls: DirectCalls;
  /** Set while a taken-over session replays its state, which needs no saving. */
  restoring?: boolean;
}

function jsonRpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: "2.0", id: null, error: { code, message } }, { status });
}

/** The path of an absolute request URL, without query or fragment. */
export function pathOf(url: string): string {
  const scheme = url.indexOf("://");
  let start = -1;
  for (let i = scheme < 0 ? 0 : scheme + 3; i < url.length && start < 0; i++) {
    const c = url[i];
    if (c === "?" || c === "#") return "/";
    if (c === "/") start = i;
  }
  if (start < 0) return "/";
  let end = url.length;
  for (const mark of ["?", "#"]) {
    const at = url.indexOf(mark, start);
    if (at >= 0 && at < end) end = at;
  }
  return url.slice(start, end);
}

function isMessageShape(value: unknown): boolean {
  const one = (m: unknown): boolean =>
    typeof m === "object" && m !== null && !Array.isArray(m) &&
    (m as Record<string, unknown>).jsonrpc === "2.0";
  return Array.isArray(value) ? value.length > 0 && value.every(one) : one(value);
}

/** Builds the Hono app of one gateway node. */
export function createGatewayApp(options: GatewayAppOptions): GatewayApp {
  const { gateway, codec } = options;
  const hosts = [...localhostAllowedHostnames(), ...options.allowedHosts];
  const origins = [...localhostAllowedHostnames(), ...options.allowedOrigins];
  const sessions = new Map<string, Session>();
  const listening = new Set<string>();
  const keepAlive = new KeepAlive();
  let directCalls = 0;
  let directLane = true;

  const modern: McpHttpHandler = createMcpHandler(
    () => createFrontServer(gateway, codec, "modern"),
    { legacy: "reject", maxRequestBodySize: options.maxRequestBodyBytes },
  );

  const unsubscribe = gateway.subscribe({
    listChanged: (kind) => {
      if (kind === "tools") modern.notify.toolsChanged();
      if (kind === "prompts") modern.notify.promptsChanged();
      if (kind === "resources") modern.notify.resourcesChanged();
      for (const { server } of sessions.values()) {
        sendListChanged(server, kind);
      }
    },
    resourceUpdated: (uri) => {
      modern.notify.resourceUpdated(uri);
      for (const { server } of sessions.values()) {
        if (isSubscribed(server, uri)) void server.sendResourceUpdated({ uri }).catch(() => {});
      }
    },
    log: (params) => {
      for (const { server } of sessions.values()) {
        // deno-lint-ignore no-explicit-any
        void server.sendLoggingMessage(params as any).catch(() => {});
      }
    },
  });

  const idleMs = options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
  const sweep = setInterval(() => {
    const nowMs = Date.now();
    for (const [id, session] of sessions) {
      // A client holding the GET stream open is waiting for notifications, not idle;
      // it still expires eventually, in case it vanished with the stream half-open.
      const limitMs = listening.has(id) ? idleMs * LISTENING_IDLE_FACTOR : idleMs;
      if (nowMs - session.lastSeenMs < limitMs) continue;
      sessions.delete(id);
      listening.delete(id);
      abortDirectCalls(session.calls);
      void session.server.close().catch(() => {});
      void options.sessionDirectory?.remove(id).catch(() => {});
    }
  }, Math.max(1_000, Math.min(idleMs / 4, 60_000)));

  const app = new Hono();

  app.get("/healthz", (c) => {
    const status = gateway.status();
    return c.json({
      status: gateway.healthy() ? "ok" : "degraded",
      sessions: sessions.size,
      listening: listening.size,
      services: status.services,
    });
  });

  app.use("/mcp", guard);
  app.use("/sse", guard);
  app.use("/messages", guard);

  async function guard(
    c: { req: { raw: Request } },
    next: () => Promise<void>,
  ): Promise<Response | void> {
    const refused = refuse(c.req.raw);
    if (refused !== undefined) return refused;
    await next();
  }

  /** The 403 for a request whose Host or Origin is not allowed (DNS rebinding). */
  function refuse(req: Request): Response | undefined {
    const host = checkHost(req.headers.get("host"));
    if (!host.ok) return jsonRpcError(403, INVALID_REQUEST, `Forbidden: ${host.message}`);
    const origin = req.headers.get("origin");
    if (origin !== null) {
      const check = validateOriginHeader(origin, origins);
      if (!check.ok) return jsonRpcError(403, INVALID_REQUEST, `Forbidden: ${check.message}`);
    }
    return undefined;
  }

  // A client sends the same Host on every request; the check parses it as a URL.
  const hostChecks = new Map<string | null, { ok: boolean; message?: string }>();
  function checkHost(header: string | null): { ok: boolean; message?: string } {
    let check = hostChecks.get(header);
    if (check === undefined) {
      if (hostChecks.size >= MAX_REMEMBERED_HOSTS) hostChecks.clear();
      check = validateHostHeader(header, hosts);
      hostChecks.set(header, check);
    }
    return check;
  }

  async function readJson(req: Request): Promise<{ body: unknown } | Response> {
    const contentType = req.headers.get("content-type") ?? "";
    if (!contentType.toLowerCase().includes("application/json")) {
      return jsonRpcError(415, INVALID_REQUEST, "Unsupported Media Type: use application/json");
    }
    // A body with a Content-Length within the limit is read in one go: the
    // HTTP framing bounds it, and the chunked read below costs a stream reader
    // and a copy per chunk on every call.
    const declaredBytes = Number(req.headers.get("content-length") ?? NaN);
    const read = declaredBytes >= 0 && declaredBytes <= options.maxRequestBodyBytes
      ? { text: await req.text(), tooLarge: false }
      : await readRequestBody(req, options.maxRequestBodyBytes);
    if (read.tooLarge) {
      return jsonRpcError(
        413,
        INVALID_REQUEST,
        `Request body exceeds ${options.maxRequestBodyBytes} bytes`,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(read.text);
    } catch {
      return jsonRpcError(400, PARSE_ERROR, "Parse error: body is not valid JSON");
    }
    if (!isMessageShape(body)) {
      return jsonRpcError(400, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message");
    }
    return { body };
  }

  /**
   * Opens a 2025 session. `adoptedId` reuses the id of a session another node
   * opened (its initialize is replayed by the caller); otherwise a new id is
   * drawn and, with a directory, the session is shared once initialized.
   */
  async function openSession(
    initialize: Record<string, unknown> | undefined,
    adoptedId?: string,
  ): Promise<Session> {
    if (sessions.size >= options.maxSessions) throw new Error("session limit reached");
    const directory = options.sessionDirectory;
    // Saves run one after another, each writing the state as it is by then.
    let saved = Promise.resolve();
    const save = (): void => {
      const id = transport.sessionId;
      if (directory === undefined || initialize === undefined || id === undefined) return;
      if (session.restoring) return;
      saved = saved.then(() =>
        directory.save(id, { initialize, ...sessionState(server) }).catch(() => {
          // The next change or takeover retries; the session itself is fine.
        })
      );
    };
    const server = createFrontServer(gateway, codec, "legacy", { onSessionStateChange: save });
    const transport: WebStandardStreamableHTTPServerTransport =
      new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => adoptedId ?? crypto.randomUUID(),
        onsessioninitialized: async (id) => {
          sessions.set(id, session);
          if (directory !== undefined && adoptedId === undefined && initialize !== undefined) {
            await directory.save(id, { initialize });
          }
        },
        onsessionclosed: async (id) => {
          sessions.delete(id);
          listening.delete(id);
          abortDirectCalls(session.calls);
          await directory?.remove(id).catch(() => {});
        },
        maxRequestBodySize: options.maxRequestBodyBytes,
      });
    const session: Session = {
      server,
      transport,
      lastSeenMs: Date.now(),
      calls: new DirectCalls(),
      restoring: adoptedId !== undefined,
    };
    transport.onclose = () => {
      abortDirectCalls(session.calls);
      if (transport.sessionId === undefined) return;
      sessions.delete(transport.sessionId);
      listening.delete(transport.sessionId);
    };
    await server.connect(transport);
    return session;
  }

  /**
   * Serves a session this node has not seen: found in the directory, it is
   * re-created under the same id by replaying the client's initialize.
   */
  async function adoptSession(sessionId: string, req: Request): Promise<Session | undefined> {
    const directory = options.sessionDirectory;
    if (directory === undefined || sessions.size >= options.maxSessions) return undefined;
    const record = await directory.load(sessionId);
    if (record === undefined) return undefined;
    const session = await openSession(record.initialize, sessionId);
    const transport = session.transport as WebStandardStreamableHTTPServerTransport;
    const replay = (body: unknown, withSession: boolean) =>
      new Request(req.url, {
        method: "POST",
        headers: {
          host: req.headers.get("host") ?? "localhost",
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          ...(withSession ? { "mcp-session-id": sessionId } : {}),
          ...(withSession
            ? {
              "mcp-protocol-version": String(record.initialize.protocolVersion ?? ""),
            }
            : {}),
        },
        body: JSON.stringify(body),
      });
    const init = await transport.handleRequest(
      replay({ jsonrpc: "2.0", id: 0, method: "initialize", params: record.initialize }, false),
    );
    await init.body?.cancel();
    if (!init.ok || transport.sessionId !== sessionId) {
      await session.server.close().catch(() => {});
      return undefined;
    }
    const initialized = await transport.handleRequest(
      replay({ jsonrpc: "2.0", method: "notifications/initialized" }, true),
    );
    await initialized.body?.cancel();
    // What the client set afterwards goes through the same handlers, so the
    // backends behind this node hear it too (a subscription, a log level).
    const restore = async (id: string, method: string, params: Record<string, unknown>) => {
      const response = await transport.handleRequest(
        replay({ jsonrpc: "2.0", id, method, params }, true),
      );
      // The stream ends once the handler has answered.
      await response.text().catch(() => "");
    };
    if (record.logLevel !== undefined) {
      await restore("safla-restore-level", "logging/setLevel", { level: record.logLevel });
    }
    const uris = (record.subscriptions ?? []).slice(0, MAX_SUBSCRIPTIONS_PER_SESSION);
    for (const [i, uri] of uris.entries()) {
      await restore(`safla-restore-subscription-${i}`, "resources/subscribe", { uri });
    }
    session.restoring = false;
    return session;
  }

  app.post("/mcp", (c) => postMcp(c.req.raw));

  async function postMcp(req: Request): Promise<Response> {
    const parsed = await readJson(req);
    if (parsed instanceof Response) return parsed;
    let { body } = parsed;
    const sessionId = req.headers.get("mcp-session-id");
    const session = sessionId === null ? undefined : sessions.get(sessionId);
    if (session !== undefined) {
      // Answers to questions the direct lane pushed go to their calls, not the SDK.
      body = answerPushedRequests(session.calls, body);
      if (body === undefined) return new Response(null, { status: 202 });
      const direct = serveDirect(req, session, sessionId!, body);
      if (direct !== undefined) return await direct;
    }
    const response = await servePost(req, body);
    return isSingleRequest(body) && acceptsJson(req.headers.get("accept"))
      ? await preferJsonReply(response, body.id)
      : response;
  }

  /** Serves a `tools/call` of a session on the direct lane, when that lane takes it. */
  function serveDirect(
    req: Request,
    session: Session,
    sessionId: string,
    body: unknown,
  ): Promise<Response> | undefined {
    if (!(session.transport instanceof WebStandardStreamableHTTPServerTransport)) return undefined;
    cancelDirectCalls(session.calls, body);
    if (!directLane) return undefined;
    const call = directCallRequest(gateway, session.server, req, body);
    if (call === undefined) return undefined;
    directCalls++;
    session.lastSeenMs = Date.now();
    return serveDirectCall(
      gateway,
      keepAlive,
      { server: session.server, sessionId, calls: session.calls },
      call,
    );
  }

  async function servePost(req: Request, body: unknown): Promise<Response> {
    const sessionId = req.headers.get("mcp-session-id");
    if (sessionId !== null) {
      const session = sessions.get(sessionId) ?? await adoptSession(sessionId, req);
      if (session === undefined) {
        return jsonRpcError(404, SESSION_NOT_FOUND, "Session not found");
      }
      session.lastSeenMs = Date.now();
      return await (session.transport as WebStandardStreamableHTTPServerTransport)
        .handleRequest(req, { parsedBody: body });
    }
    if (await isLegacyRequest(req, body)) {
      const messages = Array.isArray(body) ? body : [body];
      if (
        !messages.some((m) => (m as JSONRPCMessage & { method?: string }).method === "initialize")
      ) {
        return jsonRpcError(400, INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required");
      }
      if (sessions.size >= options.maxSessions) {
        return jsonRpcError(503, INVALID_REQUEST, "Too many sessions on this node");
      }
      const initialize = messages.find((m) => (m as { method?: string }).method === "initialize") as
        | { params?: Record<string, unknown> }
        | undefined;
      const session = await openSession(initialize?.params);
      return await (session.transport as WebStandardStreamableHTTPServerTransport)
        .handleRequest(req, { parsedBody: body });
    }
    return await modern.fetch(req, { parsedBody: body });
  }

  const sessionRequest = async (req: Request): Promise<Response> => {
    const sessionId = req.headers.get("mcp-session-id");
    if (sessionId === null) {
      return jsonRpcError(405, INVALID_REQUEST, "Method not allowed without Mcp-Session-Id");
    }
    const session = sessions.get(sessionId) ?? await adoptSession(sessionId, req);
    if (session === undefined) return jsonRpcError(404, SESSION_NOT_FOUND, "Session not found");
    session.lastSeenMs = Date.now();
    const response = await (session.transport as WebStandardStreamableHTTPServerTransport)
      .handleRequest(req);
    if (req.method === "GET" && response.ok) listening.add(sessionId);
    return response;
  };
  app.get("/mcp", (c) => sessionRequest(c.req.raw));
  app.delete("/mcp", (c) => sessionRequest(c.req.raw));

  app.get("/sse", async () => {
    if (sessions.size >= options.maxSessions) {
      return jsonRpcError(503, INVALID_REQUEST, "Too many sessions on this node");
    }
    const id = crypto.randomUUID();
    const transport = new SseFrontTransport("/messages", id);
    const server = createFrontServer(gateway, codec, "legacy");
    transport.onclose = () => void sessions.delete(id);
    sessions.set(id, { server, transport, lastSeenMs: Date.now(), calls: new DirectCalls() });
    await server.connect(transport);
    return transport.response;
  });

  app.post("/messages", async (c) => {
    const id = c.req.query("sessionId");
    const session = id === undefined ? undefined : sessions.get(id);
    if (session === undefined || !(session.transport instanceof SseFrontTransport)) {
      return jsonRpcError(404, SESSION_NOT_FOUND, "Session not found");
    }
    session.lastSeenMs = Date.now();
    const parsed = await readJson(c.req.raw);
    if (parsed instanceof Response) return parsed;
    const messages = Array.isArray(parsed.body) ? parsed.body : [parsed.body];
    for (const m of messages) session.transport.receive(m as JSONRPCMessage);
    return new Response("Accepted", { status: 202 });
  });

  return {
    app,
    // POST /mcp carries every call: it skips Hono's routing and context, with the same guard.
    fetch: (req) => {
      if (req.method !== "POST" || pathOf(req.url) !== "/mcp") return app.fetch(req);
      return refuse(req) ?? postMcp(req);
    },
    sessionCount: () => sessions.size,
    listeningCount: () => listening.size,
    directCallCount: () => directCalls,
    setDirectLane: (enabled) => {
      directLane = enabled;
    },
    close: async () => {
      clearInterval(sweep);
      unsubscribe();
      for (const s of sessions.values()) abortDirectCalls(s.calls);
      keepAlive.close();
      await Promise.all([...sessions.values()].map((s) => s.server.close().catch(() => {})));
      sessions.clear();
      listening.clear();
      await modern.close();
    },
  };
}
