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
import { ANONYMOUS, type Principal } from "@safla/core/access";
import {
  authorizeCompletion,
  authorizePrompt,
  authorizeResource,
  resourceTarget,
} from "../access/enforce.ts";
import { changedViews, visibleItems } from "../access/list_filter.ts";
import { listPage } from "./list_pages.ts";
import { MAX_SUBSCRIPTIONS_PER_SESSION, type Session } from "./session.ts";
import {
  type CallChannel,
  callContext,
  type CallOrigin,
  callTool,
  callToolFor2025,
  toLegacyResult,
} from "./tool_call.ts";

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

/**
 * Builds one front server bound to `gateway`: a 2025 one serves `session`
 * (whose state, caller included, it keeps there), a 2026-07-28 one serves
 * single requests of `principal`.
 */
export function createFrontServer(
  gateway: Gateway,
  codec: ResumeCodec,
  era: FrontEra,
  session?: Session,
  principal: Principal = ANONYMOUS,
): Server {
  if ((era === "legacy") !== (session !== undefined)) {
    throw new TypeError("a 2025 front server serves one session; a 2026 one serves none");
  }
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
  // carries it and the client's capabilities in its envelope.
  const origin = (ctx: ServerContext): CallOrigin => {
    if (session !== undefined) return session.origin();
    const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
    const requested = envelope?.[LOG_LEVEL_META_KEY];
    return {
      affinityKey: ctx.sessionId,
      principal,
      logLevel: typeof requested === "string" ? requested : undefined,
      clientCapabilities: envelope?.[CLIENT_CAPABILITIES_META_KEY] as
        | Record<string, unknown>
        | undefined,
    };
  };
  const channel = (ctx: ServerContext): CallChannel => {
    const state = ctx.mcpReq.requestState<ResumeState>();
    return {
      signal: ctx.mcpReq.signal,
      meta: ctx.mcpReq._meta as Record<string, unknown> | undefined,
      notify: (n) => ctx.mcpReq.notify(n),
      ask: session === undefined ? undefined : async (request, signal) =>
        // deno-lint-ignore no-explicit-any
        await ctx.mcpReq.send(request as any, { signal }) as Record<string, unknown>,
      resume: typeof state === "object" && state !== null
        ? { state, inputResponses: ctx.mcpReq.inputResponses }
        : undefined,
    };
  };
  const context = (ctx: ServerContext): CallContext => callContext(origin(ctx), channel(ctx));
  const caller = (ctx: ServerContext): Principal => origin(ctx).principal ?? ANONYMOUS;
  if (session !== undefined) watchView(gateway, server, session);

  // The SDK result types are unions over both eras; the gateway passes backend
  // results through untouched, so the handlers return them as the SDK gets them.
  // deno-lint-ignore no-explicit-any
  type AnyResult = any;
  const project = era === "legacy" ? toLegacyResult : (r: Record<string, unknown>) => r;
  const pageSize = gateway.settings.listPageSize;
  server.setRequestHandler("tools/list", (req, ctx): AnyResult => {
    const tools = visibleItems(gateway, "tools", gateway.listTools(), caller(ctx));
    const page = listPage("tools", tools, req.params?.cursor, pageSize);
    return { tools: page.items, nextCursor: page.nextCursor };
  });
  server.setRequestHandler(
    "tools/call",
    async (req, ctx): Promise<AnyResult> =>
      session === undefined
        ? await callTool(gateway, req.params as AnyResult, origin(ctx), channel(ctx))
        : await callToolFor2025(gateway, req.params as AnyResult, origin(ctx), channel(ctx)),
  );
  server.setRequestHandler("prompts/list", (req, ctx): AnyResult => {
    const prompts = visibleItems(gateway, "prompts", gateway.listPrompts(), caller(ctx));
    const page = listPage("prompts", prompts, req.params?.cursor, pageSize);
    return { prompts: page.items, nextCursor: page.nextCursor };
  });
  server.setRequestHandler(
    "prompts/get",
    async (req, ctx): Promise<AnyResult> => {
      authorizePrompt(gateway, req.params.name, caller(ctx));
      return project(await gateway.getPrompt(req.params as AnyResult, context(ctx)));
    },
  );
  server.setRequestHandler("resources/list", (req, ctx): AnyResult => {
    const resources = visibleItems(gateway, "resources", gateway.listResources(), caller(ctx));
    const page = listPage("resources", resources, req.params?.cursor, pageSize);
    return { resources: page.items, nextCursor: page.nextCursor };
  });
  server.setRequestHandler("resources/templates/list", (req, ctx): AnyResult => {
    const all = gateway.listResourceTemplates();
    const templates = visibleItems(gateway, "resourceTemplates", all, caller(ctx));
    const page = listPage("resourceTemplates", templates, req.params?.cursor, pageSize);
    return { resourceTemplates: page.items, nextCursor: page.nextCursor };
  });
  server.setRequestHandler(
    "resources/read",
    async (req, ctx): Promise<AnyResult> => {
      authorizeResource(gateway, req.params.uri, caller(ctx));
      return project(await gateway.readResource(req.params as AnyResult, context(ctx)));
    },
  );
  server.setRequestHandler(
    "completion/complete",
    async (req, ctx): Promise<AnyResult> => {
      authorizeCompletion(gateway, req.params.ref, caller(ctx));
      return project(await gateway.complete(req.params as AnyResult, context(ctx)));
    },
  );
  if (session !== undefined) {
    const subscribed = session.subscriptions;
    server.setRequestHandler("resources/subscribe", async (req, ctx): Promise<AnyResult> => {
      if (subscribed.size >= MAX_SUBSCRIPTIONS_PER_SESSION && !subscribed.has(req.params.uri)) {
        throw new ProtocolError(
          INVALID_REQUEST,
          `at most ${MAX_SUBSCRIPTIONS_PER_SESSION} resource subscriptions per session`,
        );
      }
      authorizeResource(gateway, req.params.uri, caller(ctx), "resources/subscribe");
      if (subscribed.has(req.params.uri)) return {};
      const result = await gateway.subscribeResource(
        "resources/subscribe",
        req.params.uri,
        context(ctx),
      );
      subscribed.add(req.params.uri);
      session.stateChanged();
      return result;
    });
    server.setRequestHandler("resources/unsubscribe", async (req, ctx): Promise<AnyResult> => {
      if (!subscribed.delete(req.params.uri)) return {};
      session.stateChanged();
      return await gateway.subscribeResource(
        "resources/unsubscribe",
        req.params.uri,
        context(ctx),
      );
    });
    server.setRequestHandler("logging/setLevel", async (req) => {
      session.setLogLevel(req.params.level);
      await gateway.setLogLevel(req.params.level);
      return {};
    });
  }
  return server;
}

/**
 * Sends the session's client `list_changed` for each list a policy change
 * alters for its principal, and ends its subscriptions to resources it may no
 * longer read (no more updates about them), until the session's server closes.
 */
function watchView(gateway: Gateway, server: Server, session: Session): void {
  const stop = gateway.access.onChange((before, after) => {
    const principal = session.origin().principal ?? ANONYMOUS;
    for (const kind of changedViews(gateway, principal, before, after)) {
      sendListChanged(server, kind);
    }
    const revoked = [...session.subscriptions].filter((uri) => {
      const target = resourceTarget(gateway, uri);
      return target !== undefined && !after.allows(principal, target);
    });
    for (const uri of revoked) {
      session.subscriptions.delete(uri);
      const ctx = { notify: () => Promise.resolve(), client: session };
      void gateway.subscribeResource("resources/unsubscribe", uri, ctx).catch(() => {});
    }
    if (revoked.length > 0) session.stateChanged();
  });
  const closed = server.onclose;
  server.onclose = () => {
    stop();
    closed?.();
  };
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
