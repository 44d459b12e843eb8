/**
 * How messages are adjusted on their way through the gateway: the `_meta` a
 * backend receives (client keys, our progress token, the 2026 per-request log
 * level and capabilities), the identity stamp a backend's result loses, which
 * server→client requests a client can answer, and progress kept increasing
 * when parallel attempts report it.
 *
 * @module
 */
import type { CallContext } from "./call_context.ts";

const CAPABILITY_OF: Readonly<Record<string, string>> = {
  "sampling/createMessage": "sampling",
  "elicitation/create": "elicitation",
  "roots/list": "roots",
};

/** True when the client declared the capability a server→client request needs. */
export function clientCan(
  capabilities: Record<string, unknown> | undefined,
  method: string,
): boolean {
  const capability = CAPABILITY_OF[method];
  return capability !== undefined && capabilities?.[capability] !== undefined;
}

/**
 * Progress from parallel attempts (a hedge) goes to one client token; the
 * spec wants it increasing, so anything not ahead of what was sent is dropped.
 */
export function monotonicProgress(ctx: CallContext): CallContext {
  let sent = -Infinity;
  return {
    ...ctx,
    notify: (n) => {
      if (n.method !== "notifications/progress") return ctx.notify(n);
      const progress = n.params?.progress;
      if (typeof progress !== "number" || progress <= sent) return Promise.resolve();
      sent = progress;
      return ctx.notify(n);
    },
  };
}

/**
 * The `_meta` a backend gets: the client's own keys (its progress token is
 * replaced by ours), plus, for a 2026-07-28 backend, the log level the client
 * asked for, which that era carries per request.
 */
export function withMeta(
  params: Record<string, unknown>,
  ctx: CallContext,
  era: "legacy" | "modern" | undefined,
): Record<string, unknown> {
  const envelope = era === "modern" &&
    (ctx.logLevel !== undefined || ctx.clientCapabilities !== undefined);
  // The common call: no `_meta` either way, so the params go on as they are.
  if (params._meta === undefined && ctx.meta === undefined && !envelope) return params;
  const { _meta: _, ...rest } = params;
  const { progressToken: __, ...meta } = ctx.meta ?? {};
  if (era === "modern" && ctx.logLevel !== undefined) meta[LOG_LEVEL_META_KEY] = ctx.logLevel;
  if (era === "modern" && ctx.clientCapabilities !== undefined) {
    meta[CLIENT_CAPABILITIES_META_KEY] = ctx.clientCapabilities;
  }
  return Object.keys(meta).length === 0 ? rest : { ...rest, _meta: meta };
}

const LOG_LEVEL_META_KEY = "io.modelcontextprotocol/logLevel";
const CLIENT_CAPABILITIES_META_KEY = "io.modelcontextprotocol/clientCapabilities";

const SERVER_INFO_META_KEY = "io.modelcontextprotocol/serverInfo";

/** The backend's self-identification is not ours to pass on: the front stamps its own. */
export function stripServerInfo(result: Record<string, unknown>): Record<string, unknown> {
  const meta = result._meta as Record<string, unknown> | undefined;
  if (meta === undefined || !(SERVER_INFO_META_KEY in meta)) return result;
  const { [SERVER_INFO_META_KEY]: _, ...rest } = meta;
  const { _meta: __, ...body } = result;
  return Object.keys(rest).length === 0 ? body : { ...body, _meta: rest };
}
