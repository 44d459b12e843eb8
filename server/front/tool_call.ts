/**
 * What every front does with a client request before and after the gateway
 * serves it, in one place for both lanes of a 2025 `tools/call` (the SDK
 * `Server` in front.ts and the direct lane in direct_call.ts) and for the
 * other request kinds: the {@link CallContext} built from who asked
 * ({@link CallOrigin}) and how the request reaches back to its client
 * ({@link CallChannel}), and the result as a 2025 client must get it.
 *
 * @module
 */
import { isCallToolResult, ProtocolError } from "@modelcontextprotocol/server";
import type { CallContext, ResumeState } from "../gateway/call_context.ts";
import { ANONYMOUS, type Principal } from "@safla/core/access";
import type { Gateway } from "../gateway/gateway.ts";
import { INVALID_PARAMS, METHOD_NOT_FOUND } from "../gateway/jsonrpc_codes.ts";
import { auditManagementCall, authorizeToolCall } from "../access/enforce.ts";

const PUSHED_CAPABILITIES = ["sampling", "elicitation", "roots"] as const;
/** Keys of a result family other than a plain tool result; such a result never gains `content`. */
const FOREIGN_RESULT_KEYS = ["task", "inputRequests", "requestState"] as const;

/** Who made a request: the same for every request of one client. */
export interface CallOrigin {
  /** The client's session or connection; one object per client (see {@link CallContext.client}). */
  client?: object;
  affinityKey?: string;
  /** Who is calling; {@link ANONYMOUS} when absent. */
  principal?: Principal;
  /** The lowest log level the client wants; undefined: it did not say (2026 requests). */
  logLevel?: string;
  clientCapabilities?: Record<string, unknown>;
}

/** How one request reaches back to its client: the wire of the lane that serves it. */
export interface CallChannel {
  signal: AbortSignal;
  /** The request's `_meta`. */
  meta?: Record<string, unknown>;
  /** Sends a notification related to this request. */
  notify(notification: { method: string; params?: Record<string, unknown> }): Promise<void>;
  /** Sends a request to the client (2025 sessions); absent when the wire cannot. */
  ask?(
    request: { method: string; params?: Record<string, unknown> },
    signal: AbortSignal | undefined,
  ): Promise<Record<string, unknown>>;
  /** The verified state and answers of an input round this request resumes. */
  resume?: { state: ResumeState; inputResponses?: Record<string, unknown> };
}

/** Whether the client declared a capability a backend's question needs. */
export function declaresPushedCapability(
  capabilities: Record<string, unknown> | undefined,
): boolean {
  return PUSHED_CAPABILITIES.some((c) => capabilities?.[c] !== undefined);
}

/** The {@link CallContext} of one request. */
export function callContext(origin: CallOrigin, channel: CallChannel): CallContext {
  const { logLevel, clientCapabilities } = origin;
  const token = channel.meta?.progressToken;
  const ask = channel.ask;
  return {
    signal: channel.signal,
    progressToken: typeof token === "string" || typeof token === "number" ? token : undefined,
    meta: channel.meta,
    affinityKey: origin.affinityKey,
    principal: origin.principal ?? ANONYMOUS,
    client: origin.client,
    logLevel,
    clientCapabilities,
    notify: (n) => passesLogFilter(n, logLevel) ? channel.notify(n) : Promise.resolve(),
    // A client that declared any pushed capability answers every question
    // itself ("method not found" for one it lacks); one that declared none is
    // spared the round trip.
    sendRequest: ask === undefined
      ? undefined
      : declaresPushedCapability(clientCapabilities)
      ? (request, signal) => ask(request, signal)
      : refusePushedRequest,
    resume: channel.resume,
  };
}

/** A client that declared no capability a pushed request needs. */
function refusePushedRequest(request: { method: string }): Promise<Record<string, unknown>> {
  return Promise.reject(
    new ProtocolError(
      METHOD_NOT_FOUND,
      `${request.method}: the client of this call does not support it`,
    ),
  );
}

/**
 * Serves a `tools/call` of either era once the caller's principal may make
 * it (both lanes of 2025 and the 2026 handler come here, so no lane skips the check).
 */
export async function callTool(
  gateway: Gateway,
  params: { name: string; arguments?: Record<string, unknown> } & Record<string, unknown>,
  origin: CallOrigin,
  channel: CallChannel,
): Promise<Record<string, unknown>> {
  authorizeToolCall(gateway, params.name, origin.principal);
  const result = await gateway.callTool(params, callContext(origin, channel));
  auditManagementCall(gateway, params, origin.principal);
  return result;
}

/**
 * Serves a 2025 client's `tools/call`: the gateway's result as that client
 * gets it ({@link toLegacyToolResult}).
 */
export async function callToolFor2025(
  gateway: Gateway,
  params: { name: string; arguments?: Record<string, unknown> } & Record<string, unknown>,
  origin: CallOrigin,
  channel: CallChannel,
): Promise<Record<string, unknown>> {
  return toLegacyToolResult(await callTool(gateway, params, origin, channel));
}

/** True for a result of a family other than a plain tool result (a task, an input round). */
export function isOtherResultFamily(result: Record<string, unknown>): boolean {
  return FOREIGN_RESULT_KEYS.some((key) => key in result);
}

/**
 * A tool result for a 2025 client: without the 2026 cache hints, with the
 * `content` it requires, and well formed (else an invalid-params error, as
 * the SDK reports a result that fails its schema). A result of another
 * family only loses the cache hints; the lane that serves it judges it.
 */
export function toLegacyToolResult(raw: Record<string, unknown>): Record<string, unknown> {
  let result = toLegacyResult(raw);
  if (isOtherResultFamily(result)) return result;
  if (result.content === undefined) result = { ...result, content: [] };
  if (!isWellFormedToolResult(result) && !isCallToolResult(result)) {
    throw new ProtocolError(INVALID_PARAMS, "Invalid tools/call result");
  }
  return result;
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

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The common shape of a tool result, checked without a schema parse: content
 * blocks that say what they are, an optional object of structured content
 * and an optional error flag. Anything else gets the SDK's full check.
 */
function isWellFormedToolResult(result: Record<string, unknown>): boolean {
  const content = result.content;
  if (!Array.isArray(content)) return false;
  for (const block of content) {
    if (!isPlainObject(block)) return false;
    if (block.type === "text") {
      if (typeof block.text !== "string") return false;
    } else if (typeof block.type !== "string") return false;
  }
  if (result.isError !== undefined && typeof result.isError !== "boolean") return false;
  return result.structuredContent === undefined || isPlainObject(result.structuredContent);
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
