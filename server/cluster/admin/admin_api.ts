/**
 * The admin REST API of a cluster node, as a Hono sub-app:
 *
 * - `GET /livez`: the process is alive. (`/healthz` belongs to the gateway a node
 *   fronts: backend health, see `front/app.ts`.)
 * - `GET /readyz`: 200 when a leader is known and this node has applied all it knows committed.
 * - `GET /admin/status`: leader, term, members, commit/applied indices, peer link counters.
 * - `GET|PUT|DELETE /admin/kv/:key`, `GET /admin/kv?prefix=&limit=&after=`: the replicated KV,
 *   in the user key space (`control/user_keys.ts`): the gateway's own records
 *   (sessions, services) cannot be named, listed, watched or deleted here.
 *   A range answers one page (default 1000 records, at most 10 000, and at
 *   most 4 MiB of keys and values) with `more`, and `next` when there is
 *   more: pass it as `after` for the next page. Each page is read at its own
 *   revision: following `next` returns every key that existed throughout
 *   exactly once, in order; keys written meanwhile show only if they sort
 *   after the page being read. `DELETE ...?prefix=true` answers
 *   `{revision, deleted}`; with `prevKv=true` also the deleted records, and
 *   413 (nothing deleted) when there are more than 1000 of them or 4 MiB.
 * - `GET /admin/kv-session`: the same KV operations over one WebSocket, many
 *   requests in flight at once (see `kv_session.ts`).
 * - `GET /admin/watch?prefix=&startRevision=`: changes as server-sent events, at most
 *   1000 per message (a longer batch is split, all but its last message with `more: true`).
 * - `POST /admin/members`, `POST /admin/members/:id/promote`, `DELETE /admin/members/:id`:
 *   membership changes (a new member is a learner until it has caught up; see `membership.ts`).
 * - `POST /cluster/v1/submit`: requests forwarded by followers (cluster token required).
 * - `POST /cluster/v1/members`, `DELETE /cluster/v1/members/:id`: membership
 *   changes a follower forwards to the leader (cluster token required).
 *
 * Every `/admin/*` and `/cluster/*` route goes through `admin_guard.ts`:
 * Host and Origin checks, `application/json` bodies read within a bound, and
 * for `/admin/*` the admin credential. `/livez` and `/readyz` stay open.
 *
 * A node that fronts MCP servers adds `GET /admin/registry` (see `cluster_node.ts`).
 *
 * Bad input gets 400 with a JSON body naming the field; a node that cannot
 * reach a leader answers writes with 503 and says so.
 *
 * @module
 */
import { Hono } from "hono";
import type { Context } from "hono";
import { type Command, validateCommand, type WatchEvent } from "@safla/core/state";
import type { NodeHost } from "@safla/transports/host";
import type { KvQuery } from "@safla/core/node";
import {
  CLUSTER_AUTH_HEADER,
  type RaftStore,
  type WireRequest,
} from "../../store/raft/raft_store.ts";
import type { WatchSelector } from "../../store/types.ts";
import {
  BadRequestError,
  booleanParam,
  checkKey,
  consistencyParam,
  errorReply,
  type KvOperation,
  pageLimit,
  positiveIntParam,
  putOperation,
  runKvOperation,
} from "./kv_operations.ts";
import { serveKvSession } from "./kv_session.ts";
import { UserKeySpace, type UserKv } from "../../control/user_keys.ts";
import {
  adminGuard,
  type AdminGuardOptions,
  BodyTooLargeError,
  clusterGuard,
  MAX_ADMIN_BODY_BYTES,
  readJsonObject,
} from "./admin_guard.ts";
import { constantTimeEqual } from "./admin_token.ts";
import { addMembershipRoutes } from "./membership_routes.ts";
import { MemberConflictError } from "./membership.ts";

export { BadRequestError } from "./kv_operations.ts";

/** Options of {@link createAdminApp}. */
export interface AdminAppOptions {
  /** The local node. */
  host: NodeHost;
  /** The store over it. */
  store: RaftStore;
  /** Most concurrent SSE watch streams. Default 1000. */
  maxWatchStreams?: number;
  /** Most concurrent KV sessions (WebSockets). Default 1000. */
  maxKvSessions?: number;
  /** Aborting it ends every watch stream and KV session (so the server can shut down). */
  signal?: AbortSignal;
  /** Who may call: allowed hosts and origins, the admin token, inbound auth once wired. */
  guard: AdminGuardOptions;
  /** The gateway's own readiness (services still starting), when the node fronts one. */
  gatewayReadiness?: () => { ready: boolean; waitingFor: string[] };
}

/** Most forwarded requests in one call (the sender's batches are smaller). */
const MAX_FORWARD_BATCH = 1024;
/**
 * Most events in one watch message; a longer batch goes out in several, all
 * but the last marked `more: true` (resume after the last one without it).
 */
export const MAX_EVENTS_PER_MESSAGE = 1_000;
/** Interval of comment lines on an idle watch stream. */
const WATCH_KEEPALIVE_MS = 15_000;
/** Longest a forwarded request may ask to wait. */
const MAX_FORWARD_TIMEOUT_MS = 60_000;
/**
 * Largest forwarded batch body. Only a peer holding the cluster token gets to
 * send one (the token is checked before the body is read); the forwarder
 * batches by count, so this bounds the buffer rather than shaping traffic.
 */
const MAX_FORWARD_BODY_BYTES = 512 * 1024 * 1024;

function errorResponse(error: unknown): Response {
  if (error instanceof BodyTooLargeError) {
    return Response.json({ error: error.message }, { status: 413 });
  }
  if (error instanceof MemberConflictError) {
    return Response.json({ error: error.message, field: error.field }, { status: 409 });
  }
  const reply = errorReply(error);
  if (!reply) throw error;
  return Response.json(reply.body, { status: reply.status });
}

function jsonBody(c: Context, maxBytes = MAX_ADMIN_BODY_BYTES): Promise<Record<string, unknown>> {
  return readJsonObject(c.req.raw, maxBytes);
}

async function kvResponse(store: UserKv, operation: KvOperation): Promise<Response> {
  const reply = await runKvOperation(store, operation);
  return Response.json(reply.body, { status: reply.status });
}

/** Validates a forwarded request. */
function wireRequest(raw: unknown): WireRequest {
  if (typeof raw !== "object" || raw === null) {
    throw new BadRequestError("request", "expected an object");
  }
  const r = raw as Record<string, unknown>;
  if (r.kind === "command") {
    return { kind: "command", command: validateCommand(r.command) as Command };
  }
  if (r.kind === "read") {
    const query = validateCommand(r.query);
    if (query.op !== "get" && query.op !== "range") {
      throw new BadRequestError("request.query.op", `a read must be get or range, got ${query.op}`);
    }
    return {
      kind: "read",
      query: query as KvQuery,
      consistency: consistencyParam(r.consistency as string | undefined),
    };
  }
  throw new BadRequestError("request.kind", `expected "command" or "read"`);
}

/** Whether this node can serve: a leader is known and it has applied what it knows committed. */
export function readiness(
  host: NodeHost,
  gateway?: { ready: boolean; waitingFor: string[] },
): { ready: boolean; reason: string } {
  const s = host.status();
  if (s.leader === null) return { ready: false, reason: "no leader known" };
  if (s.appliedIndex < s.commitIndex) {
    return { ready: false, reason: `applied ${s.appliedIndex} of ${s.commitIndex} committed` };
  }
  if (gateway !== undefined && !gateway.ready) {
    return {
      ready: false,
      reason: `waiting for services to start: ${gateway.waitingFor.join(", ")}`,
    };
  }
  return { ready: true, reason: `leader ${s.leader}, applied ${s.appliedIndex}` };
}

/**
 * Builds the admin app.
 *
 * @example
 * ```ts ignore
 * const app = new Hono();
 * app.route("/", createAdminApp({ host, store }));
 * ```
 */
export function createAdminApp(options: AdminAppOptions): Hono {
  const { host, store } = options;
  // Users see their own key space only: the gateway's records are out of reach.
  const userKv = new UserKeySpace(store);
  const maxWatchStreams = options.maxWatchStreams ?? 1000;
  let watchStreams = 0;
  const maxKvSessions = options.maxKvSessions ?? 1000;
  let kvSessions = 0;
  const app = new Hono();

  app.onError((error, c) => {
    try {
      return errorResponse(error);
    } catch {
      return c.json({ error: error instanceof Error ? error.message : String(error) }, 500);
    }
  });

  app.use("/admin/*", adminGuard(options.guard));
  app.use("/cluster/*", clusterGuard(options.guard));

  app.get("/livez", (c) => c.json({ status: "alive", node: host.id }));

  app.get("/readyz", (c) => {
    const { ready, reason } = readiness(host, options.gatewayReadiness?.());
    return c.json({ ready, node: host.id, reason }, ready ? 200 : 503);
  });

  app.get("/admin/status", (c) => c.json(host.status()));

  app.get("/admin/kv/:key{.+}", (c) =>
    kvResponse(userKv, {
      op: "get",
      key: checkKey(c.req.param("key")),
      consistency: consistencyParam(c.req.query("consistency")),
    }));

  app.put("/admin/kv/:key{.+}", async (c) => {
    const key = checkKey(c.req.param("key"));
    return kvResponse(userKv, putOperation(key, await jsonBody(c)));
  });

  app.delete("/admin/kv/:key{.+}", (c) => {
    const key = checkKey(c.req.param("key"));
    return kvResponse(userKv, {
      op: "delete",
      key,
      prefix: booleanParam("prefix", c.req.query("prefix")),
      prevKv: booleanParam("prevKv", c.req.query("prevKv")),
    });
  });

  app.get("/admin/kv", (c) => {
    const after = c.req.query("after");
    return kvResponse(userKv, {
      op: "range",
      prefix: c.req.query("prefix") ?? "",
      limit: pageLimit(positiveIntParam("limit", c.req.query("limit"))),
      after: after === undefined ? undefined : checkKey(after, "after"),
      consistency: consistencyParam(c.req.query("consistency")),
    });
  });

  app.get("/admin/kv-session", (c) => {
    if (kvSessions >= maxKvSessions) {
      return c.json({ error: `too many KV sessions (limit ${maxKvSessions})` }, 429);
    }
    return serveKvSession(c.req.raw, userKv, {
      signal: options.signal,
      onOpen: () => kvSessions++,
      onClose: () => kvSessions--,
    });
  });

  app.get("/admin/watch", (c) => {
    const key = c.req.query("key");
    const prefix = c.req.query("prefix");
    if (key !== undefined && prefix !== undefined) {
      throw new BadRequestError("key", "give either key or prefix, not both");
    }
    const selector: WatchSelector = key !== undefined
      ? { key: checkKey(key) }
      : { prefix: prefix ?? "" };
    const startRevision = positiveIntParam("startRevision", c.req.query("startRevision"));
    if (watchStreams >= maxWatchStreams) {
      return c.json({ error: `too many watch streams (limit ${maxWatchStreams})` }, 429);
    }
    const encoder = new TextEncoder();
    let cancel: (() => Promise<void>) | undefined;
    let closed = false;
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    const stop = (controller?: ReadableStreamDefaultController<Uint8Array>) => {
      if (closed) return;
      closed = true;
      watchStreams--;
      clearInterval(keepAlive);
      cancel?.();
      try {
        controller?.close();
      } catch { /* the client already went away */ }
    };
    watchStreams++;
    const stream = new ReadableStream<Uint8Array>({
      start: async (controller) => {
        const send = (event: string, data: unknown) => {
          if (closed) return;
          controller.enqueue(encoder.encode(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
        };
        try {
          const handle = await userKv.watch(selector, (events: WatchEvent[]) => {
            // One prefix delete of many keys is one batch: split it so no
            // message grows with the keyspace.
            for (let i = 0; i < events.length; i += MAX_EVENTS_PER_MESSAGE) {
              const chunk = events.slice(i, i + MAX_EVENTS_PER_MESSAGE);
              const data: Record<string, unknown> = {
                revision: chunk[chunk.length - 1].revision,
                events: chunk,
              };
              if (i + MAX_EVENTS_PER_MESSAGE < events.length) data.more = true;
              send("events", data);
            }
          }, {
            startRevision,
            onEnd: (end) => {
              send("end", end);
              stop(controller);
            },
          });
          cancel = handle.cancel;
          // The client may have gone while the watch was being set up.
          if (closed) await handle.cancel();
          send("ready", { node: host.id, revision: host.store.revision });
          // A comment line now and then keeps idle streams open through proxies.
          if (!closed) {
            keepAlive = setInterval(() => {
              if (!closed) controller.enqueue(encoder.encode(": keep-alive\n\n"));
            }, WATCH_KEEPALIVE_MS);
          }
        } catch (error) {
          send("end", { reason: error instanceof Error ? error.message : String(error) });
          stop(controller);
        }
        options.signal?.addEventListener("abort", () => stop(controller));
        if (options.signal?.aborted) stop(controller);
      },
      cancel: () => stop(),
    });
    return new Response(stream, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
    });
  });

  const clusterAuthorized = async (c: Context): Promise<boolean> =>
    constantTimeEqual(c.req.header(CLUSTER_AUTH_HEADER) ?? "", await store.authToken());
  const unauthorizedPeer = (c: Context) => c.json({ error: "missing or wrong cluster token" }, 401);

  addMembershipRoutes(app, { host, store, clusterAuthorized, unauthorizedPeer });

  app.post("/cluster/v1/submit", async (c) => {
    if (!await clusterAuthorized(c)) return unauthorizedPeer(c);
    const body = await jsonBody(c, MAX_FORWARD_BODY_BYTES);
    if (!Array.isArray(body.requests) || body.requests.length > MAX_FORWARD_BATCH) {
      throw new BadRequestError("requests", `expected an array of at most ${MAX_FORWARD_BATCH}`);
    }
    const requests = body.requests.map(wireRequest);
    const timeoutMs = Math.min(
      positiveIntParam("timeoutMs", String(body.timeoutMs)) ?? store.requestTimeoutMs,
      MAX_FORWARD_TIMEOUT_MS,
    );
    const replies = await Promise.all(requests.map((r) => store.submitLocal(r, timeoutMs)));
    return c.json({ replies });
  });

  return app;
}
