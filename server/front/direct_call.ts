/**
 * The direct lane for `tools/call` on a 2025 Streamable HTTP session: the
 * request the front already parsed goes to the gateway without the SDK
 * transport and `Server` (per-message schema checks, request and result zod
 * parses, an SSE stream per POST that a JSON reply then unwraps), and the
 * answer goes back as one JSON body, or as an SSE stream once the call
 * sends something before its result (progress, logs, pushed questions).
 *
 * Both lanes serve a call through the same {@link callToolFor2025}
 * (tool_call.ts) with the same session state ({@link Session}); this lane
 * only adds its wire: which requests it takes, the reply
 * ({@link DirectReply}), and the JSON-RPC framing of the result or error
 * exactly as the SDK frames it. A request it does not take
 * ({@link directCallRequest} returns undefined) goes the SDK way unchanged:
 *
 * - a well-formed call of a tool the gateway forwards (not a local tool, not
 *   an unknown name), not task-augmented, not resuming an input round, with
 *   no 2026 envelope keys in `_meta`;
 * - headers the SDK transport would accept as they are (`Accept` naming
 *   both types, no or the negotiated `MCP-Protocol-Version`);
 * - a client that declared none of sampling, elicitation and roots, or
 *   one that did, calling a tool whose replicas all speak the 2025 protocol.
 *   Such a backend asks its questions as requests of its own, which the lane
 *   pushes on the call's stream under ids of the session's own
 *   ({@link Session.ask}); the client's answers, POSTed to the session, are
 *   matched before the SDK sees them ({@link Session.answerQuestions}). A
 *   2026 backend asks with an `input_required` result instead, which the
 *   SDK's 2025 shim turns into rounds of requests: calls of capable clients
 *   to such tools stay on the SDK path.
 *
 * Cancellation (`notifications/cancelled` naming a direct call) and the
 * session's end abort the call, which the gateway passes to the upstream.
 *
 * @module
 */
import { isCallToolResult, isInputRequiredResult } from "@modelcontextprotocol/server";
import type { Gateway } from "../gateway/gateway.ts";
import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  RESOURCE_NOT_FOUND_2026,
} from "../gateway/jsonrpc_codes.ts";
import type { RequestId, Session } from "./session.ts";
import { callToolFor2025, declaresPushedCapability, isOtherResultFamily } from "./tool_call.ts";
import { DirectReply, KeepAlive } from "./direct_reply.ts";

const ENVELOPE_KEY_PREFIX = "io.modelcontextprotocol/";

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A `tools/call` the direct lane takes. */
export interface DirectCallRequest {
  id: RequestId;
  params: { name: string; arguments?: Record<string, unknown> } & Record<string, unknown>;
}

/**
 * The call in `body` when the direct lane takes it for `session`, otherwise
 * undefined (the SDK `Server` serves it).
 */
export function directCallRequest(
  gateway: Gateway,
  session: Session,
  req: Request,
  body: unknown,
): DirectCallRequest | undefined {
  if (!isPlainObject(body) || body.method !== "tools/call") return undefined;
  const id = body.id;
  if (typeof id !== "string" && typeof id !== "number") return undefined;
  const params = body.params;
  if (!isPlainObject(params) || typeof params.name !== "string") return undefined;
  if (params.arguments !== undefined && !isPlainObject(params.arguments)) return undefined;
  if ("task" in params || "requestState" in params || "inputResponses" in params) return undefined;
  const meta = params._meta;
  if (meta !== undefined) {
    if (!isPlainObject(meta)) return undefined;
    const token = meta.progressToken;
    if (token !== undefined && typeof token !== "string" && typeof token !== "number") {
      return undefined;
    }
    for (const key in meta) if (key.startsWith(ENVELOPE_KEY_PREFIX)) return undefined;
  }
  const accept = req.headers.get("accept");
  if (
    accept === null || !accept.includes("application/json") ||
    !accept.includes("text/event-stream")
  ) {
    return undefined;
  }
  const version = req.headers.get("mcp-protocol-version");
  if (version !== null && version !== session.server.getNegotiatedProtocolVersion()) {
    return undefined;
  }
  const capabilities = session.server.getClientCapabilities() as
    | Record<string, unknown>
    | undefined;
  if (capabilities === undefined) return undefined;
  if (!gateway.forwardsTool(params.name)) return undefined;
  if (declaresPushedCapability(capabilities) && gateway.toolEra(params.name) !== "legacy") {
    return undefined;
  }
  return { id, params: params as DirectCallRequest["params"] };
}

/** Serves a call {@link directCallRequest} took; the response is JSON or, once something streams, SSE. */
export function serveDirectCall(
  gateway: Gateway,
  keepAlive: KeepAlive,
  session: Session,
  call: DirectCallRequest,
): Promise<Response> {
  const reply = new DirectReply(session.id ?? "", keepAlive);
  const abort = new AbortController();
  const untrack = session.trackCall(call.id, abort);
  const push = (message: Record<string, unknown>) => reply.notify(message);
  callToolFor2025(gateway, call.params, session.origin(), {
    signal: abort.signal,
    meta: call.params._meta as Record<string, unknown> | undefined,
    notify: (n) => {
      push({ jsonrpc: "2.0", ...n });
      return Promise.resolve();
    },
    ask: (request, signal) => session.ask(push, request, signal),
  }).then(
    (result) => {
      if (abort.signal.aborted) return reply.abandon();
      reply.finish(resultMessage(call.id, result));
    },
    (error) => {
      if (abort.signal.aborted) return reply.abandon();
      reply.finish(errorMessage(call.id, error));
    },
  ).finally(untrack);
  return reply.response;
}

/** The JSON-RPC response the SDK `Server` sends for a tool result. */
function resultMessage(id: RequestId, result: Record<string, unknown>): Record<string, unknown> {
  if (isInputRequiredResult(result)) {
    // The SDK's 2025 shim would ask the client for the input. The lane takes calls of
    // clients that can answer only to 2025 backends, which never ask this way (one
    // that came back as a 2026 server mid-call is the rare exception); for the
    // others the shim reports the same error.
    return errorMessage(id, {
      code: INVALID_PARAMS,
      message: "The backend asked for client input this client does not support",
    });
  }
  if (isOtherResultFamily(result) && !isCallToolResult(result)) {
    // The lane takes no task-augmented calls: any other family is malformed, as for the SDK.
    return errorMessage(id, { code: INVALID_PARAMS, message: "Invalid tools/call result" });
  }
  return { result, jsonrpc: "2.0", id };
}

/** The JSON-RPC error the SDK `Server` sends for an error a handler threw. */
function errorMessage(id: RequestId, error: unknown): Record<string, unknown> {
  const e = (isPlainObject(error) || error instanceof Error ? error : {}) as {
    code?: unknown;
    message?: unknown;
    data?: unknown;
  };
  const thrown = typeof e.code === "number" && Number.isSafeInteger(e.code)
    ? e.code
    : INTERNAL_ERROR;
  const code = thrown === RESOURCE_NOT_FOUND_2026 ? INVALID_PARAMS : thrown;
  const message = typeof e.message === "string" ? e.message : "Internal error";
  return {
    jsonrpc: "2.0",
    id,
    error: e.data === undefined ? { code, message } : { code, message, data: e.data },
  };
}

/**
 * The direct lane of one app: which calls it takes, its keep-alive timer,
 * and a switch and a count for telling the lanes apart.
 */
export class DirectLane {
  readonly #gateway: Gateway;
  readonly #keepAlive = new KeepAlive();
  #served = 0;
  /** Off: every call takes the SDK lane (for diagnosis, and the tests' reference). */
  enabled = true;

  constructor(gateway: Gateway) {
    this.#gateway = gateway;
  }

  /** Calls served on this lane so far. */
  get served(): number {
    return this.#served;
  }

  /** Serves `body` on the direct lane when it is a call the lane takes; otherwise undefined. */
  serve(req: Request, session: Session, body: unknown): Promise<Response> | undefined {
    if (!this.enabled) return undefined;
    const call = directCallRequest(this.#gateway, session, req, body);
    if (call === undefined) return undefined;
    this.#served++;
    return serveDirectCall(this.#gateway, this.#keepAlive, session, call);
  }

  /** Stops the keep-alives; the sessions end their calls themselves. */
  close(): void {
    this.#keepAlive.close();
  }
}
