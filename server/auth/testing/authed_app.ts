/**
 * An in-process gateway app with authentication and one stand-in backend
 * (`svc`, tool `echo`), for tests that drive the HTTP front with
 * `app.fetch`: no sockets for the gateway, and a count of what reached the
 * backend.
 *
 * @module
 */
import { SeededRng } from "@safla/core";
import type { Catalog } from "@safla/transports";
import { ConfigError } from "../../config.ts";
import { Gateway } from "../../gateway/gateway.ts";
import { createResumeCodec } from "../../front/front.ts";
import { createGatewayApp, type GatewayApp } from "../../front/app.ts";
import type { SessionDirectory } from "../../control/session_directory.ts";
import { config } from "../../testing/harness.ts";
import { type StandInBackend, standInFactory } from "../../testing/stand_in_backend.ts";
import { parseAuthConfig } from "../auth_config.ts";
import { Authenticator } from "../authenticator.ts";

/** The resource URI the test apps answer for. */
export const RESOURCE = "http://localhost:8080/mcp";

const CATALOG: Catalog = {
  tools: [{ name: "echo", inputSchema: { type: "object" } }],
  resources: [],
  resourceTemplates: [],
  prompts: [],
  capabilities: { tools: {} },
  era: "modern",
  protocolVersion: "2026-07-28",
};

/** A running test app. */
export interface AuthedApp {
  app: GatewayApp;
  gateway: Gateway;
  backend: StandInBackend;
  close(): Promise<void>;
}

/** Starts an app whose `auth` section is `auth` (undefined: no authentication). */
export async function startAuthedApp(
  auth: Record<string, unknown> | undefined,
  options: { sessionDirectory?: SessionDirectory } = {},
): Promise<AuthedApp> {
  const { factory, made } = standInFactory(CATALOG, {
    "svc#0": (_m, params) =>
      Promise.resolve({ content: [{ type: "text", text: `echo ${params?.name}` }] }),
  });
  const gateway = new Gateway(config({ svc: { command: "stand-in" } }), {
    nowMs: () => performance.now(),
    rng: new SeededRng(1),
    backendFactory: factory,
  });
  await gateway.start();
  const authConfig = auth === undefined ? undefined : parseAuthConfig(auth, (key, problem) => {
    throw new ConfigError("<test>", key, problem);
  });
  const app = createGatewayApp({
    gateway,
    codec: createResumeCodec("k".repeat(32)),
    allowedHosts: [],
    allowedOrigins: [],
    maxRequestBodyBytes: 64 * 1024,
    maxSessions: 100,
    sessionDirectory: options.sessionDirectory,
    auth: authConfig === undefined ? undefined : new Authenticator(authConfig),
  });
  return {
    app,
    gateway,
    backend: made.get("svc#0")!,
    close: async () => {
      await app.close();
      await gateway.close();
    },
  };
}

/** A POST to `/mcp` with `authorization` (when given) and `headers`. */
export function mcpPost(
  body: unknown,
  authorization?: string,
  headers: Record<string, string> = {},
): Request {
  return new Request(RESOURCE, {
    method: "POST",
    headers: {
      host: "localhost:8080",
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(authorization === undefined ? {} : { authorization }),
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "t", version: "1" },
  },
};

/** Opens a 2025 session as `authorization`; returns its id. */
export async function openSession(app: GatewayApp, authorization?: string): Promise<string> {
  const init = await app.fetch(mcpPost(INITIALIZE, authorization));
  if (init.status !== 200) throw new Error(`initialize: HTTP ${init.status}: ${await init.text()}`);
  await init.body?.cancel();
  const id = init.headers.get("mcp-session-id")!;
  const done = await app.fetch(
    mcpPost({ jsonrpc: "2.0", method: "notifications/initialized" }, authorization, {
      "mcp-session-id": id,
      "mcp-protocol-version": "2025-11-25",
    }),
  );
  await done.body?.cancel();
  return id;
}

/** The body of a `tools/call` of `svc__echo`. */
export const CALL_ECHO = {
  jsonrpc: "2.0",
  id: 2,
  method: "tools/call",
  params: { name: "svc__echo", arguments: {} },
};

/** Calls `svc__echo` on session `id` as `authorization`. */
export async function callEcho(
  app: GatewayApp,
  id: string,
  authorization?: string,
): Promise<Response> {
  return await app.fetch(
    mcpPost(CALL_ECHO, authorization, {
      "mcp-session-id": id,
      "mcp-protocol-version": "2025-11-25",
    }),
  );
}
