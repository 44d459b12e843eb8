/**
 * The gateway as an MCP server: one low-level SDK `Server` per serving unit
 * (a 2025 session, a 2026-07-28 request, a stdio connection), whose handlers
 * delegate to the shared {@link Gateway}. The SDK owns the wire of both eras;
 * this module only maps each request to a gateway call with a
 * {@link CallContext} that reaches back to the client that made it.
 *
 * @module
 */
import {
  CLIENT_CAPABILITIES_META_KEY,
  createRequestStateCodec,
  LOG_LEVEL_META_KEY,
  type LoggingLevel,
  ProtocolError,
  type RequestStateCodec,
  Server,
  type ServerContext,
} from "@modelcontextprotocol/server";
import type {
  CallContext,
  Gateway,
  ListKind,
  ResumeState,
  ResumeStateSealer,
} from "../gateway/gateway.ts";
import { INVALID_REQUEST } from "../gateway/jsonrpc_codes.ts";

/** Protocol era of one serving unit. */
export type FrontEra = "legacy" | "modern";

/** Signs and verifies the gateway's `requestState` across input rounds. */
export interface ResumeCodec extends ResumeStateSealer {
  verify(state: string, ctx: ServerContext): Promise<ResumeState>;
}

/** Creates the HMAC codec for resume state; every node of a cluster needs the same key. */
export function createResumeCodec(key: Uint8Array | string, ttlSeconds = 600): ResumeCodec {
  const codec: RequestStateCodec<ResumeState> = createRequestStateCodec<ResumeState>({
    key,
    ttlSeconds,
  });
  return {
    mint: (payload) => codec.mint(payload),
    verify: (state, ctx) => codec.verify(state, ctx),
  };
}

/** The gateway's own identity. */
export const GATEWAY_INFO = { name: "safla-gateway", version: "0.1.0" } as const;

/** The resource URIs each 2025 front server's client subscribed to. */
const subscriptions = new WeakMap<Server, Set<string>>();

/** Bound on resource subscriptions per client session. */
export const MAX_SUBSCRIPTIONS_PER_SESSION = 1_024;

/** The log level each 2025 front server's client set with `logging/setLevel`. */
const sessionLevels = new WeakMap<Server, LoggingLevel>();

/** The lowest log level the client of a 2025 front server asked for; all when it never asked. */
export function sessionLogLevel(server: Server): LoggingLevel {
  return sessionLevels.get(server) ?? "debug";
}

/** True when the client of `server` subscribed to `uri` (2025 `resources/subscribe`). */
export function isSubscribed(server: Server, uri: string): boolean {
  return subscriptions.get(server)?.has(uri) ?? false;
}

/**
 * What a 2025 session's client set after `initialize`: the log level it asked
 * for (absent: never asked) and the resources it subscribed to. Another node
 * that takes the session over restores both.
 */
export interface SessionState {
  logLevel?: LoggingLevel;
  subscriptions: string[];
}

/** The {@link SessionState} of the client of a 2025 front server. */
export function sessionState(server: Server): SessionState {
  const level = sessionLevels.get(server);
  const subscribed = [...subscriptions.get(server) ?? []];
  return level === undefined ? { subscriptions: subscribed } : {
    logLevel: level,
    subscriptions: subscribed,
  };
}

/** Callbacks of {@link createFrontServer}. */
export interface FrontHooks {
  /** The client changed its {@link SessionState} (2025 sessions). */
  onSessionStateChange?(): void;
}

/** Builds one front server bound to `gateway`. */
export function createFrontServer(
  gateway: Gateway,
  codec: ResumeCodec,
  era: FrontEra,
  hooks: FrontHooks = {},
): Server {
  const server = new Server(GATEWAY_INFO, {
    capabilities: {
      tools: { listChanged: true },
      resources: { subscribe: true, listChanged: true },
      prompts: { listChanged: true },
      completions: {},
      logging: {},
    },
    instructions:
      "SAFLA gateway: tools of every backend service, named {service}{separator}{tool}.",
    requestState: { verify: (state, ctx) => codec.verify(state, ctx) },
  });

  // A 2025 session sets its level once with logging/setLevel; a 2026 request
  // carries it in its envelope.
  const context = (ctx: ServerContext): CallContext => {
    const meta = ctx.mcpReq._meta as Record<string, unknown> | undefined;
    const token = meta?.progressToken;
    const state = ctx.mcpReq.requestState<ResumeState>();
    const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
    const requested = envelope?.[LOG_LEVEL_META_KEY];
    // A 2025 server may log without being asked; a 2026 client opts in per request.
    const logLevel = era === "legacy"
      ? sessionLogLevel(server)
      : typeof requested === "string"
      ? requested as LoggingLevel
      : undefined;
    return {
      signal: ctx.mcpReq.signal,
      progressToken: typeof token === "string" || typeof token === "number" ? token : undefined,
      meta,
      affinityKey: ctx.sessionId,
      client: era === "legacy" ? server : undefined,
      logLevel,
      clientCapabilities: era === "legacy"
        ? server.getClientCapabilities() as Record<string, unknown> | undefined
        : envelope?.[CLIENT_CAPABILITIES_META_KEY] as Record<string, unknown> | undefined,
      notify: (n) => {
        if (!passesLogFilter(n, logLevel)) {
          return Promise.resolve();
        }
        return ctx.mcpReq.notify(n);
      },
      sendRequest: era === "legacy"
        ? async (request, signal) =>
          // deno-lint-ignore no-explicit-any
          await ctx.mcpReq.send(request as any, { signal }) as Record<string, unknown>
        : undefined,
      resume: typeof state === "object" && state !== null
        ? { state, inputResponses: ctx.mcpReq.inputResponses }
        : undefined,
    };
  };

  // The SDK result types are unions over both eras; the gateway passes backend
  // results through untouched, so the handlers return them as the SDK gets them.
  // deno-lint-ignore no-explicit-any
  type AnyResult = any;
  const project = era === "legacy" ? toLegacyResult : (r: Record<string, unknown>) => r;
  server.setRequestHandler("tools/list", () => ({ tools: gateway.listTools() }));
  server.setRequestHandler(
    "tools/call",
    async (req, ctx): Promise<AnyResult> =>
      project(await gateway.callTool(req.params as AnyResult, context(ctx))),
  );
  server.setRequestHandler(
    "prompts/list",
    (): AnyResult => ({ prompts: gateway.listPrompts() }),
  );
  server.setRequestHandler(
    "prompts/get",
    async (req, ctx): Promise<AnyResult> =>
      project(await gateway.getPrompt(req.params as AnyResult, context(ctx))),
  );
  server.setRequestHandler(
    "resources/list",
    (): AnyResult => ({ resources: gateway.listResources() }),
  );
  server.setRequestHandler(
    "resources/templates/list",
    (): AnyResult => ({ resourceTemplates: gateway.listResourceTemplates() }),
  );
  server.setRequestHandler(
    "resources/read",
    async (req, ctx): Promise<AnyResult> =>
      project(await gateway.readResource(req.params as AnyResult, context(ctx))),
  );
  server.setRequestHandler(
    "completion/complete",
    async (req, ctx): Promise<AnyResult> =>
      project(await gateway.complete(req.params as AnyResult, context(ctx))),
  );
  if (era === "legacy") {
    const subscribed = new Set<string>();
    subscriptions.set(server, subscribed);
    server.setRequestHandler("resources/subscribe", async (req, ctx): Promise<AnyResult> => {
      if (subscribed.size >= MAX_SUBSCRIPTIONS_PER_SESSION && !subscribed.has(req.params.uri)) {
        throw new ProtocolError(
          INVALID_REQUEST,
          `at most ${MAX_SUBSCRIPTIONS_PER_SESSION} resource subscriptions per session`,
        );
      }
      if (subscribed.has(req.params.uri)) return {};
      const result = await gateway.subscribeResource(
        "resources/subscribe",
        req.params.uri,
        context(ctx),
      );
      subscribed.add(req.params.uri);
      hooks.onSessionStateChange?.();
      return result;
    });
    server.setRequestHandler("resources/unsubscribe", async (req, ctx): Promise<AnyResult> => {
      if (!subscribed.delete(req.params.uri)) return {};
      hooks.onSessionStateChange?.();
      return await gateway.subscribeResource(
        "resources/unsubscribe",
        req.params.uri,
        context(ctx),
      );
    });
    server.setRequestHandler("logging/setLevel", async (req) => {
      const changed = sessionLevels.get(server) !== req.params.level;
      sessionLevels.set(server, req.params.level);
      if (changed) hooks.onSessionStateChange?.();
      await gateway.setLogLevel(req.params.level);
      return {};
    });
  }
  return server;
}

/**
 * Cache hints (`ttlMs`, `cacheScope`) belong to the 2026-07-28 wire; a 2025
 * client gets the result without them when the backend spoke the newer era.
 */
export function toLegacyResult(result: Record<string, unknown>): Record<string, unknown> {
  if (!("ttlMs" in result) && !("cacheScope" in result)) return result;
  const { ttlMs: _, cacheScope: __, ...rest } = result;
  return rest;
}

const SEVERITY: readonly string[] = [
  "debug",
  "info",
  "notice",
  "warning",
  "error",
  "critical",
  "alert",
  "emergency",
];

/**
 * True when `notification` may go to a client that filters logs at `minimum`:
 * anything but a log message, or a log message at `minimum` or above (no
 * filter set: all pass).
 */
export function passesLogFilter(
  notification: { method: string; params?: Record<string, unknown> },
  minimum: string | undefined,
): boolean {
  if (notification.method !== "notifications/message" || minimum === undefined) return true;
  const level = notification.params?.level;
  if (typeof level !== "string") return true;
  return SEVERITY.indexOf(level) >= SEVERITY.indexOf(minimum);
}

/** Tells the client of one front server that a list changed (a closed session is ignored). */
export function sendListChanged(server: Server, kind: ListKind): void {
  const send = kind === "tools"
    ? server.sendToolListChanged()
    : kind === "prompts"
    ? server.sendPromptListChanged()
    : server.sendResourceListChanged();
  void send.catch(() => {});
}
