/**
 * The KV session: a node's KV operations over one WebSocket
 * (`GET /admin/kv-session`), with many requests in flight at once, for
 * clients that issue many concurrent operations (a service with many
 * callers, a load generator). It is the same API as the REST routes: the same
 * validation, the same status codes and JSON bodies; only the framing
 * differs, and a request no longer costs an HTTP exchange.
 *
 * Protocol (text frames, JSON):
 * - client → node: an array of requests, each with a client-chosen `id`
 *   (a non-negative safe integer, unique among the session's outstanding
 *   requests) and an `op`:
 *   `{"id":1,"op":"put","key":"k","value":"v","leaseId":7}` (`leaseId` optional),
 *   `{"id":2,"op":"get","key":"k","consistency":"serializable"}` (default linearizable),
 *   `{"id":3,"op":"delete","key":"k","prefix":true}` (`prefix`, `prevKv` optional),
 *   `{"id":4,"op":"range","prefix":"a/","limit":10}` (`limit`, `after`, `consistency`
 *   optional), paged and bounded as the REST routes are.
 * - node → client: arrays of replies `{"id":1,"status":200,"body":{...}}`,
 *   in completion order, `status` and `body` exactly as the REST route
 *   answers (400 naming the field, 404, 409, 429, 503 not applied,
 *   504 outcome unknown).
 *
 * A request is executed once: nothing is resent by the node, and a client
 * must not resend either. If the socket closes before a write's reply
 * arrives, that write's outcome is unknown. A frame that is not a JSON array
 * of at most {@link MAX_REQUESTS_PER_FRAME} objects with valid ids closes the
 * session (code 1008, the reason names the problem). Browsers may only open a
 * session from the node's own origin: a page elsewhere cannot use it to write
 * behind the user's back.
 *
 * @module
 */
import { clearImmediate, setImmediate } from "node:timers";
import type { UserKv } from "../../control/user_keys.ts";
import {
  BadRequestError,
  checkKey,
  consistencyParam,
  errorReply,
  type KvOperation,
  type KvReply,
  pageLimit,
  putOperation,
  runKvOperation,
} from "./kv_operations.ts";

/** Most requests in one client frame. */
export const MAX_REQUESTS_PER_FRAME = 1024;
/** Most requests a session may have outstanding; beyond it requests are answered 429. */
export const MAX_OUTSTANDING_PER_SESSION = 10_000;
/** Largest client frame, in bytes of text. */
export const MAX_FRAME_CHARS = 16 * 1024 * 1024;
/** WebSocket close code for a frame that breaks the protocol. */
const POLICY_VIOLATION = 1008;
/** WebSocket close code for a frame that is too large. */
const MESSAGE_TOO_BIG = 1009;

/** Hooks of {@link serveKvSession}. */
export interface KvSessionOptions {
  /** Aborting it closes the session (server shutdown). */
  signal?: AbortSignal;
  /** Called once when the socket opened. */
  onOpen?: () => void;
  /** Called once when the socket closed. */
  onClose?: () => void;
}

/** The client broke the protocol; the session closes. */
class SessionProtocolError extends Error {}

/** A reply on its way out, as sent. */
interface SessionReply extends KvReply {
  id: number;
}

function field(request: Record<string, unknown>, name: string): unknown {
  return request[name];
}

function refuseUnknown(request: Record<string, unknown>, allowed: readonly string[]): void {
  for (const name of Object.keys(request)) {
    if (!allowed.includes(name)) throw new BadRequestError(name, "unknown field");
  }
}

/** Validates one session request (without its id) into an operation. */
export function sessionOperation(request: Record<string, unknown>): KvOperation {
  switch (request.op) {
    case "put":
      return putOperation(checkKey(request.key), request, ["id", "op", "key"]);
    case "get":
      refuseUnknown(request, ["id", "op", "key", "consistency"]);
      return {
        op: "get",
        key: checkKey(request.key),
        consistency: consistencyParam(field(request, "consistency")),
      };
    case "delete": {
      refuseUnknown(request, ["id", "op", "key", "prefix", "prevKv"]);
      const prefix = field(request, "prefix") ?? false;
      if (typeof prefix !== "boolean") throw new BadRequestError("prefix", "expected a boolean");
      const prevKv = field(request, "prevKv") ?? false;
      if (typeof prevKv !== "boolean") throw new BadRequestError("prevKv", "expected a boolean");
      return { op: "delete", key: checkKey(request.key), prefix, prevKv };
    }
    case "range": {
      refuseUnknown(request, ["id", "op", "prefix", "limit", "after", "consistency"]);
      const prefix = field(request, "prefix") ?? "";
      if (typeof prefix !== "string") throw new BadRequestError("prefix", "expected a string");
      const after = field(request, "after");
      return {
        op: "range",
        prefix,
        limit: pageLimit(field(request, "limit")),
        after: after === undefined ? undefined : checkKey(after, "after"),
        consistency: consistencyParam(field(request, "consistency")),
      };
    }
    default:
      throw new BadRequestError("op", `expected "put", "get", "delete" or "range"`);
  }
}

/** Splits a client frame into requests; throws {@link SessionProtocolError} when it is not one. */
function parseFrame(data: unknown): Record<string, unknown>[] {
  if (typeof data !== "string") throw new SessionProtocolError("frames must be text (JSON)");
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    throw new SessionProtocolError("a frame is not valid JSON");
  }
  if (!Array.isArray(parsed) || parsed.length > MAX_REQUESTS_PER_FRAME) {
    throw new SessionProtocolError(
      `a frame must be an array of at most ${MAX_REQUESTS_PER_FRAME} requests`,
    );
  }
  for (const request of parsed) {
    if (typeof request !== "object" || request === null || Array.isArray(request)) {
      throw new SessionProtocolError("every request must be an object");
    }
    const id = (request as Record<string, unknown>).id;
    if (!Number.isSafeInteger(id) || (id as number) < 0) {
      throw new SessionProtocolError("every request needs an id (a non-negative integer)");
    }
  }
  return parsed as Record<string, unknown>[];
}

/** Whether a browser page at `origin` may open a session on the node serving `url`. */
function originAllowed(origin: string | null, url: string): boolean {
  return origin === null || origin === new URL(url).origin;
}

/**
 * Upgrades `request` to a KV session over `store`; answers 400 when it is not
 * a WebSocket upgrade and 403 for a page of another origin.
 */
export function serveKvSession(
  request: Request,
  store: UserKv,
  options: KvSessionOptions = {},
): Response {
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return Response.json({ error: "expected a WebSocket upgrade", field: "upgrade" }, {
      status: 400,
    });
  }
  if (!originAllowed(request.headers.get("origin"), request.url)) {
    return Response.json({ error: "KV sessions from another origin are refused" }, {
      status: 403,
    });
  }
  const { socket, response } = Deno.upgradeWebSocket(request);
  let outstanding = new Set<number>();
  let outbox: SessionReply[] = [];
  let flushTask: ReturnType<typeof setImmediate> | undefined;
  let open = false;

  const flush = () => {
    flushTask = undefined;
    if (!open || outbox.length === 0) return;
    const replies = outbox;
    outbox = [];
    socket.send(JSON.stringify(replies));
  };
  const reply = (id: number, result: KvReply) => {
    outstanding.delete(id);
    if (!open) return;
    outbox.push({ id, status: result.status, body: result.body });
    // Replies completing in the same turn of the event loop share one frame
    // (setImmediate runs after the turn's I/O; setTimeout(0) would add ~2 ms).
    flushTask ??= setImmediate(flush);
  };
  const run = async (id: number, raw: Record<string, unknown>) => {
    let result: KvReply;
    try {
      result = await runKvOperation(store, sessionOperation(raw));
    } catch (error) {
      result = errorReply(error) ?? {
        status: 500,
        body: { error: error instanceof Error ? error.message : String(error) },
      };
    }
    reply(id, result);
  };
  const close = (code: number, reason: string) => {
    try {
      socket.close(code, reason);
    } catch { /* already closing */ }
  };
  const onAbort = () => close(1001, "the node is shutting down");

  socket.onopen = () => {
    open = true;
    options.onOpen?.();
    options.signal?.addEventListener("abort", onAbort);
    if (options.signal?.aborted) onAbort();
  };
  socket.onclose = () => {
    if (!open) return;
    open = false;
    if (flushTask) clearImmediate(flushTask);
    outstanding = new Set();
    outbox = [];
    options.signal?.removeEventListener("abort", onAbort);
    options.onClose?.();
  };
  socket.onmessage = (event) => {
    if (typeof event.data === "string" && event.data.length > MAX_FRAME_CHARS) {
      return close(MESSAGE_TOO_BIG, `a frame may hold at most ${MAX_FRAME_CHARS} characters`);
    }
    let requests: Record<string, unknown>[];
    try {
      requests = parseFrame(event.data);
      const ids = new Set<number>();
      for (const r of requests) {
        const id = r.id as number;
        if (outstanding.has(id) || ids.has(id)) {
          throw new SessionProtocolError(`id ${id} is already outstanding`);
        }
        ids.add(id);
      }
    } catch (error) {
      if (!(error instanceof SessionProtocolError)) throw error;
      return close(POLICY_VIOLATION, error.message);
    }
    for (const r of requests) {
      const id = r.id as number;
      if (outstanding.size >= MAX_OUTSTANDING_PER_SESSION) {
        reply(id, {
          status: 429,
          body: { error: `too many outstanding requests (limit ${MAX_OUTSTANDING_PER_SESSION})` },
        });
        continue;
      }
      outstanding.add(id);
      run(id, r);
    }
  };
  return response;
}
