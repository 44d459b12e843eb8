/**
 * The HTTP face of one gateway node, as a Hono app:
 *
 * - `/mcp`: Streamable HTTP for both eras, `/sse` + `/messages`: the legacy
 *   HTTP+SSE front (front/mcp_routes.ts), behind a Host/Origin guard against
 *   DNS rebinding (front/http_edge.ts) and authentication (auth/), which
 *   gives every request its caller (`c.var.principal`).
 * - `/.well-known/oauth-protected-resource[/mcp]`: Protected Resource
 *   Metadata, when OAuth is configured.
 * - `/healthz`: liveness plus a summary of backend health.
 *
 * 2025 sessions live in a {@link SessionTable}; 2026-07-28 requests go to
 * the SDK's stateless handler; both hear what the gateway announces.
 *
 * @module
 */
import { Hono } from "hono";
import {
  createMcpHandler,
  localhostAllowedHostnames,
  type McpHttpHandler,
} from "@modelcontextprotocol/server";
import type { Gateway } from "../gateway/gateway.ts";
import { createFrontServer, type ResumeCodec } from "./front.ts";
import type { SessionDirectory } from "../control/session_directory.ts";
import type { OutboundLimits } from "./outbound_gate.ts";
import { DirectLane } from "./direct_call.ts";
import { hostOriginGuard } from "./http_edge.ts";
import { mcpRoutes } from "./mcp_routes.ts";
import { restrictListen } from "../access/enforce.ts";
import { SessionTable } from "./session_table.ts";
import type { Authenticator } from "../auth/authenticator.ts";
import { authenticate, protectedResourceMetadata } from "../auth/middleware.ts";
import { ANONYMOUS, type Principal } from "@safla/core/access";

export { DEFAULT_SESSION_IDLE_MS } from "./session_table.ts";

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
  /** Most concurrent 2025 sessions of one principal (session_limits.ts). */
  maxSessionsPerPrincipal?: number;
  /** Notification backlog bounds per stream and per node (outbound_gate.ts). */
  outboundLimits?: OutboundLimits;
  maxOutboundBytes?: number;
  /** Shares 2025 sessions with the other nodes of a cluster; local only when absent. */
  sessionDirectory?: SessionDirectory;
  /**
   * A 2025 session the client has not used for this long is closed, so clients
   * that vanish without DELETE do not hold memory forever. Default 30 minutes.
   */
  sessionIdleMs?: number;
  /** Authenticates `/mcp`, `/sse` and `/messages`; every caller is anonymous when absent. */
  auth?: Authenticator;
}

/** The app plus the handles a node needs to shut it down. */
export interface GatewayApp {
  app: Hono;
  /** Serves one request (`app.fetch`). */
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
   * takes the SDK `Server`, which serves it through the same code more
   * slowly. For telling the two apart when something looks wrong, and for tests.
   */
  setDirectLane(enabled: boolean): void;
}

/** Builds the Hono app of one gateway node. */
export function createGatewayApp(options: GatewayAppOptions): GatewayApp {
  const { gateway, codec } = options;
  const sessions = new SessionTable(options);
  const lane = new DirectLane(gateway);
  const stateless: McpHttpHandler = createMcpHandler(
    ({ authInfo }) =>
      createFrontServer(
        gateway,
        codec,
        "modern",
        undefined,
        (authInfo?.extra?.principal as Principal | undefined) ?? ANONYMOUS,
      ),
    { legacy: "reject", maxRequestBodySize: options.maxRequestBodyBytes },
  );
  const unsubscribe = gateway.subscribe({
    listChanged: (kind) => {
      if (kind === "tools") stateless.notify.toolsChanged();
      if (kind === "prompts") stateless.notify.promptsChanged();
      if (kind === "resources") stateless.notify.resourcesChanged();
      sessions.listChanged(kind);
    },
    resourceUpdated: (uri) => {
      stateless.notify.resourceUpdated(uri);
      sessions.resourceUpdated(uri);
    },
    log: (params) => sessions.log(params),
  });
  // 2026 listeners have no session to compare views for: any policy change may alter theirs.
  const unwatchPolicies = gateway.access.onChange(() => {
    stateless.notify.toolsChanged();
    stateless.notify.promptsChanged();
    stateless.notify.resourcesChanged();
  });

  const app = new Hono();
  app.get("/healthz", (c) => {
    const status = gateway.status();
    return c.json({
      status: gateway.healthy() ? "ok" : "degraded",
      sessions: sessions.size,
      listening: sessions.listeningCount,
      services: status.services,
    });
  });
  const guard = hostOriginGuard(
    [...localhostAllowedHostnames(), ...options.allowedHosts],
    [...localhostAllowedHostnames(), ...options.allowedOrigins],
  );
  const authn = authenticate(options.auth);
  for (const path of ["/mcp", "/sse", "/messages"]) app.use(path, guard, authn);
  if (options.auth !== undefined) app.route("/", protectedResourceMetadata(options.auth.config));
  app.route(
    "/",
    mcpRoutes({
      sessions,
      lane,
      stateless,
      maxRequestBodyBytes: options.maxRequestBodyBytes,
      restrict: (body, principal) => restrictListen(gateway, principal, body),
    }),
  );

  return {
    app,
    fetch: (req) => app.fetch(req),
    sessionCount: () => sessions.size,
    listeningCount: () => sessions.listeningCount,
    directCallCount: () => lane.served,
    setDirectLane: (enabled) => {
      lane.enabled = enabled;
    },
    close: async () => {
      unsubscribe();
      unwatchPolicies();
      lane.close();
      await sessions.close();
      await stateless.close();
    },
  };
}
