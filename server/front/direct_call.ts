/**
 * The direct lane for `tools/call` on a 2025 Streamable HTTP session: the
 * request the front already parsed goes to the gateway without the SDK
 * transport and `Server` (per-message schema checks, request and result zod
 * parses, an SSE stream per POST that a JSON reply then unwraps), and the
 * answer goes back as one JSON body, or as an SSE stream once the call
 * sends something before its result (progress, logs).
 *
 * The lane serves only what it serves exactly like the SDK path; a request
 * it does not take ({@link directCallRequest} returns undefined) goes the
 * SDK way unchanged:
 *
 * - a well-formed call of a tool the gateway forwards (not a local tool, not
 *   an unknown name), not task-augmented, not resuming an input round, with
 *   no 2026 envelope keys in `_meta`;
 * - headers the SDK transport would accept as they are (`Accept` naming
 *   both types, no or the negotiated `MCP-Protocol-Version`);
 * - a client that declared none of sampling, elicitation and roots, or
 *   one that did, calling a tool whose replicas all speak the 2025 protocol.
 *   Such a backend asks its questions as requests of its own, which the lane
 *   pushes on the call's stream (the reply turns into SSE) under ids of its
 *   own, and the client's answers, POSTed to the session, are matched here
 *   ({@link answerPushedRequests}) before the SDK sees them. A 2026 backend
 *   asks with an `input_required` result instead, which the SDK's 2025 shim
 *   turns into rounds of requests: calls of capable clients to such tools
 *   stay on the SDK path. A backend that asks a client without the
 *   capability gets "method not found", as from the SDK.
 *
 * Cancellation (`notifications/cancelled` naming a direct call) and the
 * session's end abort the call, which the gateway passes to the upstream.
 *
 * @module
 */
import {
  isCallToolResult,
  isInputRequiredResult,
  ProtocolError,
  type Server,
} from "@modelcontextprotocol/server";
import type { CallContext, Gateway } from "../gateway/gateway.ts";
import { passesLogFilter, sessionLogLevel, toLegacyResult } from "./front.ts";
import {
  INTERNAL_ERROR,
  INVALID_PARAMS,
  METHOD_NOT_FOUND,
  RESOURCE_NOT_FOUND_2026,
} from "../gateway/jsonrpc_codes.ts";

/** How long a direct reply may go without a byte before it turns into a stream with keep-alives. */
export const DIRECT_KEEP_ALIVE_MS = 15_000;
/** How often quiet replies are checked; a keep-alive goes out up to this much late. */
const KEEP_ALIVE_TICK_MS = 1_000;

const ENVELOPE_KEY_PREFIX = "io.modelcontextprotocol/";
const PUSHED_CAPABILITIES = ["sampling", "elicitation", "roots"] as const;
/** Keys of a result family other than a plain tool result; such a result never gains `content`. */
const FOREIGN_RESULT_KEYS = ["task", "inputRequests", "requestState"] as const;
const encoder = new TextEncoder();

/** A JSON-RPC request id. */
export type RequestId = string | number;

/** A request pushed to the client on the direct lane, waiting for its answer. */
interface PushedRequest {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
}

/** At most this many pushed requests wait for answers per session. */
const MAX_PUSHED_PER_SESSION = 256;
let nextPushedId = 0;

/**
 * The direct calls in flight on one session, by request id, so they can be
 * cancelled; and the requests pushed to its client, by the id the lane gave
 * them, waiting for the client's answer.
 */
export class DirectCalls {
  /** Calls in flight, by the client's request id. */
  readonly calls = new Map<RequestId, AbortController>();
  /** Pushed requests waiting for an answer, by our id; each leaves it when it settles. */
  readonly pushed = new Map<string, PushedRequest>();
}

/** Whether the client declared a capability a backend's question needs. */
function declaresPushedCapability(capabilities: Record<string, unknown> | undefined): boolean {
  return PUSHED_CAPABILITIES.some((c) => capabilities?.[c] !== undefined);
}

/** A `tools/call` the direct lane takes. */
export interface DirectCallRequest {
  id: RequestId;
  params: { name: string; arguments?: Record<string, unknown> } & Record<string, unknown>;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The call in `body` when the direct lane takes it for the session of
 * `server`, otherwise undefined (the SDK path serves it).
 */
export function directCallRequest(
  gateway: Gateway,
  server: Server,
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
  if (version !== null && version !== server.getNegotiatedProtocolVersion()) return undefined;
  const capabilities = server.getClientCapabilities() as Record<string, unknown> | undefined;
  if (capabilities === undefined) return undefined;
  if (!gateway.forwardsTool(params.name)) return undefined;
  if (declaresPushedCapability(capabilities) && gateway.toolEra(params.name) !== "legacy") {
    return undefined;
  }
  return { id, params: params as DirectCallRequest["params"] };
}

/**
 * Keeps quiet direct replies alive: one ticking timer for all of them rather
 * than a timer per call. Each app owns one and closes it with its sessions.
 */
export class KeepAlive {
  #replies = new Set<DirectReply>();
  #tick?: ReturnType<typeof setTimeout>;
  #closed = false;

  /** Watches `reply` until it ends. */
  add(reply: DirectReply): void {
    if (this.#closed) return;
    this.#replies.add(reply);
    this.#tick ??= setTimeout(() => this.#sweep(), KEEP_ALIVE_TICK_MS);
  }

  /** Stops watching `reply`. */
  delete(reply: DirectReply): void {
    this.#replies.delete(reply);
  }

  /** Stops the timer; replies still open get no more keep-alives. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#tick);
    this.#tick = undefined;
    this.#replies.clear();
  }

  #sweep(): void {
    this.#tick = undefined;
    const nowMs = performance.now();
    for (const reply of this.#replies) reply.pingIfQuiet(nowMs);
    if (this.#replies.size > 0) this.#tick = setTimeout(() => this.#sweep(), KEEP_ALIVE_TICK_MS);
  }
}

/** Serves a call {@link directCallRequest} took; the response is JSON or, once something streams, SSE. */
export function serveDirectCall(
  gateway: Gateway,
  keepAlive: KeepAlive,
  session: { server: Server; sessionId: string; calls: DirectCalls },
  call: DirectCallRequest,
): Promise<Response> {
  const { server, sessionId } = session;
  const { calls, pushed } = session.calls;
  const reply = new DirectReply(sessionId, keepAlive);
  // A client reusing the id of a call in flight breaks JSON-RPC; the SDK path reports that.
  const abort = new AbortController();
  calls.set(call.id, abort);
  const capabilities = server.getClientCapabilities() as Record<string, unknown> | undefined;
  const logLevel = sessionLogLevel(server);
  const meta = call.params._meta as Record<string, unknown> | undefined;
  const token = meta?.progressToken as RequestId | undefined;
  const ctx: CallContext = {
    signal: abort.signal,
    progressToken: token,
    meta,
    affinityKey: sessionId,
    client: server,
    logLevel,
    clientCapabilities: capabilities,
    notify: (n) => {
      if (passesLogFilter(n, logLevel)) reply.notify({ jsonrpc: "2.0", ...n });
      return Promise.resolve();
    },
    // A client that declared any pushed capability answers every question
    // itself ("method not found" for one it lacks), as on the SDK lane.
    sendRequest: declaresPushedCapability(capabilities)
      ? (request, signal) => pushRequest(pushed, reply, request, signal)
      : refusePushedRequest,
  };
  gateway.callTool(call.params, ctx).then(
    (result) => {
      if (abort.signal.aborted) return reply.abandon();
      reply.finish(resultMessage(call.id, result));
    },
    (error) => {
      if (abort.signal.aborted) return reply.abandon();
      reply.finish(errorMessage(call.id, error));
    },
  ).finally(() => {
    if (calls.get(call.id) === abort) calls.delete(call.id);
    // Questions pushed on this call's stream stay: with several calls of one
    // client in flight, a question may belong to another of them, and its
    // answer comes by POST whatever became of this stream. They end when
    // answered, when the backend withdraws them, or with the session.
  });
  return reply.response;
}

/**
 * Sends `request` to the client on the call's stream under an id of ours and
 * waits for the answer the client POSTs; an abort withdraws it with
 * `notifications/cancelled`.
 */
function pushRequest(
  pushed: Map<string, PushedRequest>,
  reply: DirectReply,
  request: { method: string; params?: Record<string, unknown> },
  signal: AbortSignal | undefined,
): Promise<Record<string, unknown>> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (pushed.size >= MAX_PUSHED_PER_SESSION) {
    return Promise.reject(
      new ProtocolError(
        INTERNAL_ERROR,
        `${request.method}: ${MAX_PUSHED_PER_SESSION} requests already wait for this client`,
      ),
    );
  }
  const id = `safla-pushed-${nextPushedId++}`;
  const { promise, resolve, reject } = Promise.withResolvers<Record<string, unknown>>();
  const onAbort = () => {
    const waiter = pushed.get(id);
    if (waiter === undefined) return;
    reply.notify({
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: id, reason: String(signal!.reason ?? "cancelled") },
    });
    waiter.reject(signal!.reason);
  };
  const settle = () => {
    pushed.delete(id);
    signal?.removeEventListener("abort", onAbort);
  };
  pushed.set(id, {
    resolve: (result) => {
      settle();
      resolve(result);
    },
    reject: (error) => {
      settle();
      reject(error);
    },
  });
  signal?.addEventListener("abort", onAbort, { once: true });
  const sent = reply.notify({
    jsonrpc: "2.0",
    id,
    method: request.method,
    params: request.params ?? {},
  });
  if (!sent) {
    // The client closed this call's stream: the question cannot reach it.
    pushed.get(id)?.reject(
      new ProtocolError(INTERNAL_ERROR, `${request.method}: the client closed this call's stream`),
    );
  }
  return promise;
}

/**
 * Hands the client's answers to requests the lane pushed (JSON-RPC responses
 * with our ids) to the calls waiting for them. Returns what is left of `body`
 * for the SDK path, or undefined when nothing is.
 */
export function answerPushedRequests(calls: DirectCalls, body: unknown): unknown {
  if (calls.pushed.size === 0) return body;
  const messages = Array.isArray(body) ? body : [body];
  const rest: unknown[] = [];
  for (const m of messages) {
    const id = isPlainObject(m) && !("method" in m) ? m.id : undefined;
    const waiter = typeof id === "string" ? calls.pushed.get(id) : undefined;
    if (waiter === undefined) {
      rest.push(m);
      continue;
    }
    const message = m as { result?: unknown; error?: unknown };
    if (isPlainObject(message.error)) {
      const e = message.error as { code?: unknown; message?: unknown; data?: unknown };
      waiter.reject(
        new ProtocolError(
          typeof e.code === "number" ? e.code : INTERNAL_ERROR,
          typeof e.message === "string" ? e.message : "the client reported an error",
          e.data,
        ),
      );
    } else if (isPlainObject(message.result)) {
      waiter.resolve(message.result);
    } else {
      waiter.reject(new ProtocolError(INVALID_PARAMS, "the client's answer has no result object"));
    }
  }
  if (rest.length === messages.length) return body;
  if (rest.length === 0) return undefined;
  return Array.isArray(body) ? rest : rest[0];
}

/** A client on the direct lane declared no capability a pushed request needs. */
function refusePushedRequest(request: { method: string }): Promise<Record<string, unknown>> {
  return Promise.reject(
    new ProtocolError(
      METHOD_NOT_FOUND,
      `${request.method}: the client of this call does not support it`,
    ),
  );
}

/**
 * Aborts the direct calls that the `notifications/cancelled` messages in
 * `body` name; the SDK path still sees the messages (it ignores ids it does not know).
 */
export function cancelDirectCalls(directCalls: DirectCalls, body: unknown): void {
  const { calls } = directCalls;
  if (calls.size === 0) return;
  const messages = Array.isArray(body) ? body : [body];
  for (const m of messages) {
    if (!isPlainObject(m) || m.method !== "notifications/cancelled") continue;
    const params = m.params;
    if (!isPlainObject(params)) continue;
    const id = params.requestId;
    if (typeof id !== "string" && typeof id !== "number") continue;
    const reason = typeof params.reason === "string" ? params.reason : "cancelled by the client";
    calls.get(id)?.abort(new Error(reason));
  }
}

/** Aborts every direct call of a session that ended. */
export function abortDirectCalls(directCalls: DirectCalls): void {
  for (const abort of directCalls.calls.values()) abort.abort(new Error("the session ended"));
  directCalls.calls.clear();
  // Each waiter leaves the map as it settles.
  for (const waiter of [...directCalls.pushed.values()]) {
    waiter.reject(new Error("the session ended"));
  }
}

/** What the SDK `Server` makes of a forwarded tool result for a 2025 client. */
function resultMessage(id: RequestId, raw: Record<string, unknown>): Record<string, unknown> {
  if (isInputRequiredResult(raw)) {
    // The SDK's 2025 shim would ask the client for the input. The lane takes calls of
    // clients that can answer only to 2025 backends, which never ask this way (one
    // that came back as a 2026 server mid-call is the rare exception); for the
    // others the shim reports the same error.
    return errorMessage(id, {
      code: INVALID_PARAMS,
      message: "The backend asked for client input this client does not support",
    });
  }
  let result = toLegacyResult(raw);
  if (result.content === undefined && !FOREIGN_RESULT_KEYS.some((key) => key in result)) {
    result = { ...result, content: [] };
  }
  if (!isWellFormedToolResult(result) && !isCallToolResult(result)) {
    return errorMessage(id, { code: INVALID_PARAMS, message: "Invalid tools/call result" });
  }
  return { result, jsonrpc: "2.0", id };
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
 * The HTTP answer to one direct call: plain JSON when the result is all
 * there is, an SSE stream as soon as anything has to go out first (or the
 * call has been quiet for {@link DIRECT_KEEP_ALIVE_MS}).
 */
class DirectReply {
  readonly response: Promise<Response>;
  #resolve!: (response: Response) => void;
  #sessionId: string;
  #keepAlive: KeepAlive;
  #stream?: ReadableStreamDefaultController<Uint8Array>;
  #done = false;
  /** When the client last got a byte, or the call began. */
  #lastSentMs = performance.now();

  constructor(sessionId: string, keepAlive: KeepAlive) {
    this.#sessionId = sessionId;
    this.#keepAlive = keepAlive;
    this.response = new Promise((resolve) => this.#resolve = resolve);
    keepAlive.add(this);
  }

  /** Sends a message before the result. */
  notify(message: Record<string, unknown>): boolean {
    if (this.#done) return false;
    return this.#enqueue(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /** Sends the response and ends the reply. */
  finish(message: Record<string, unknown>): void {
    if (this.#done) return;
    this.#end();
    const json = JSON.stringify(message);
    if (this.#stream === undefined) {
      this.#resolve(
        new Response(json, {
          status: 200,
          headers: { "content-type": "application/json", "mcp-session-id": this.#sessionId },
        }),
      );
      return;
    }
    this.#enqueue(`event: message\ndata: ${json}\n\n`);
    this.#close();
  }

  /** Ends the reply without a response: the client cancelled the call. */
  abandon(): void {
    if (this.#done) return;
    this.#end();
    this.#open();
    this.#close();
  }

  /** Sends an SSE comment when nothing went out for {@link DIRECT_KEEP_ALIVE_MS}. */
  pingIfQuiet(nowMs: number): void {
    if (!this.#done && nowMs - this.#lastSentMs >= DIRECT_KEEP_ALIVE_MS) {
      this.#enqueue(": keepalive\n\n");
    }
  }

  #end(): void {
    this.#done = true;
    this.#keepAlive.delete(this);
  }

  #open(): ReadableStreamDefaultController<Uint8Array> {
    if (this.#stream !== undefined) return this.#stream;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => controller = c,
      // The client went away: nothing more can reach it.
      cancel: () => this.#end(),
    });
    this.#stream = controller;
    this.#resolve(
      new Response(body, {
        status: 200,
        headers: {
          "content-type": "text/event-stream",
          "cache-control": "no-cache, no-transform",
          connection: "keep-alive",
          "x-accel-buffering": "no",
          "mcp-session-id": this.#sessionId,
        },
      }),
    );
    return controller;
  }

  /** False when the client closed the stream: nothing reaches it any more. */
  #enqueue(text: string): boolean {
    this.#lastSentMs = performance.now();
    try {
      this.#open().enqueue(encoder.encode(text));
      return true;
    } catch {
      // The client closed the stream; the call's outcome has nowhere to go.
      return false;
    }
  }

  #close(): void {
    try {
      this.#stream?.close();
    } catch {
      // Already closed by the client.
    }
  }
}
