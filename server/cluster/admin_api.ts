/**
 * The admin REST API of a cluster node, as a Hono sub-app:
 *
 * - `GET /healthz`: the process is alive.
 * - `GET /readyz`: 200 when a leader is known and this node has applied all it knows committed.
 * - `GET /admin/status`: leader, term, members, commit/applied indices, peer link counters.
 * - `GET|PUT|DELETE /admin/kv/:key`, `GET /admin/kv?prefix=&limit=`: the replicated KV.
 * - `GET /admin/watch?prefix=&startRevision=`: changes as server-sent events.
 * - `POST /admin/members`, `DELETE /admin/members/:id`: membership changes.
 * - `POST /cluster/v1/submit`: requests forwarded by followers (cluster token required).
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
import {
  type Command,
  CommandError,
  CompactedRevisionError,
  validateCommand,
  type WatchEvent,
  WatchRequestError,
} from "@safla/core/state";
import {
  MemberAddressError,
  MembershipChangeError,
  type NodeHost,
  RequestTimeoutError,
  validateMemberAddress,
} from "../../transports/host/mod.ts";
import type { KvQuery } from "@safla/core/node";
import { CLUSTER_AUTH_HEADER, type RaftStore, type WireRequest } from "./raft_store.ts";
import {
  NoQuorumError,
  OutcomeUnknownError,
  OverloadedError,
  StoreCommandError,
} from "./errors.ts";
import type { ReadConsistency, WatchSelector } from "../store/types.ts";

/** A request field is missing or wrong. */
export class BadRequestError extends Error {
  /** Names the field and the problem. */
  constructor(readonly field: string, detail: string) {
    super(`invalid "${field}": ${detail}`);
    this.name = "BadRequestError";
  }
}

/** Options of {@link createAdminApp}. */
export interface AdminAppOptions {
  /** The local node. */
  host: NodeHost;
  /** The store over it. */
  store: RaftStore;
  /** Most concurrent SSE watch streams. Default 1000. */
  maxWatchStreams?: number;
  /** Aborting it ends every watch stream (so the server can shut down). */
  signal?: AbortSignal;
}

const NODE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
/** Most forwarded requests in one call (the sender's batches are smaller). */
const MAX_FORWARD_BATCH = 1024;
/** Interval of comment lines on an idle watch stream. */
const WATCH_KEEPALIVE_MS = 15_000;
/** Longest a forwarded request may ask to wait. */
const MAX_FORWARD_TIMEOUT_MS = 60_000;

function errorResponse(c: Context, error: unknown): Response {
  if (error instanceof CommandError) {
    return c.json({ error: error.message, field: error.field, code: error.code }, 400);
  }
  if (
    error instanceof BadRequestError || error instanceof WatchRequestError ||
    error instanceof MemberAddressError
  ) {
    return c.json({ error: error.message, field: error.field }, 400);
  }
  if (error instanceof CompactedRevisionError) {
    return c.json({
      error: error.message,
      field: "startRevision",
      compactRevision: error.compactRevision,
    }, 400);
  }
  if (error instanceof NoQuorumError) return c.json({ error: error.message, retryable: true }, 503);
  if (error instanceof OutcomeUnknownError || error instanceof RequestTimeoutError) {
    return c.json({ error: error.message, outcomeUnknown: true }, 504);
  }
  if (error instanceof OverloadedError) return c.json({ error: error.message }, 429);
  if (error instanceof MembershipChangeError) {
    const busy = error.error.code === "ProposalDropped";
    return c.json({ error: error.message, code: error.error.code }, busy ? 409 : 503);
  }
  if (error instanceof StoreCommandError) {
    return c.json({ error: error.message, code: error.code }, 409);
  }
  throw error;
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new BadRequestError("body", "expected a JSON object");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new BadRequestError("body", "expected a JSON object");
  }
  return body as Record<string, unknown>;
}

function consistencyParam(raw: string | undefined): ReadConsistency {
  if (raw === undefined || raw === "linearizable") return "linearizable";
  if (raw === "serializable") return "serializable";
  throw new BadRequestError(
    "consistency",
    `expected "linearizable" or "serializable", got "${raw}"`,
  );
}

function positiveIntParam(field: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1) {
    throw new BadRequestError(field, `expected a positive integer, got "${raw}"`);
  }
  return value;
}

function checkKey(key: string): string {
  if (key.length === 0) throw new BadRequestError("key", "must not be empty");
  return key;
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
export function readiness(host: NodeHost): { ready: boolean; reason: string } {
  const s = host.status();
  if (s.leader === null) return { ready: false, reason: "no leader known" };
  if (s.appliedIndex < s.commitIndex) {
    return { ready: false, reason: `applied ${s.appliedIndex} of ${s.commitIndex} committed` };
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
  const maxWatchStreams = options.maxWatchStreams ?? 1000;
  let watchStreams = 0;
  const app = new Hono();

  app.onError((error, c) => {
    try {
      return errorResponse(c, error);
    } catch {
      return c.json({ error: error instanceof Error ? error.message : String(error) }, 500);
    }
  });

  app.get("/healthz", (c) => c.json({ status: "alive", node: host.id }));

  app.get("/readyz", (c) => {
    const { ready, reason } = readiness(host);
    return c.json({ ready, node: host.id, reason }, ready ? 200 : 503);
  });

  app.get("/admin/status", (c) => c.json(host.status()));

  app.get("/admin/kv/:key{.+}", async (c) => {
    const key = checkKey(c.req.param("key"));
    const kv = await store.get(key, consistencyParam(c.req.query("consistency")));
    if (!kv) return c.json({ error: `key "${key}" not found`, key }, 404);
    return c.json({ kv });
  });

  app.put("/admin/kv/:key{.+}", async (c) => {
    const key = checkKey(c.req.param("key"));
    const body = await jsonBody(c);
    if (typeof body.value !== "string") throw new BadRequestError("value", "expected a string");
    if (
      body.leaseId !== undefined &&
      (!Number.isSafeInteger(body.leaseId) || (body.leaseId as number) < 0)
    ) {
      throw new BadRequestError("leaseId", "expected a non-negative integer");
    }
    for (const field of Object.keys(body)) {
      if (field !== "value" && field !== "leaseId") {
        throw new BadRequestError(field, "unknown field");
      }
    }
    const reply = await store.put(key, body.value, { leaseId: body.leaseId as number | undefined });
    return c.json(reply);
  });

  app.delete("/admin/kv/:key{.+}", async (c) => {
    const key = checkKey(c.req.param("key"));
    const prefix = c.req.query("prefix");
    if (prefix !== undefined && prefix !== "true" && prefix !== "false") {
      throw new BadRequestError("prefix", `expected "true" or "false", got "${prefix}"`);
    }
    const reply = await store.delete(key, { prefix: prefix === "true" });
    return c.json({ revision: reply.revision, deleted: reply.prev.length, prev: reply.prev });
  });

  app.get("/admin/kv", async (c) => {
    const prefix = c.req.query("prefix") ?? "";
    const limit = positiveIntParam("limit", c.req.query("limit"));
    const reply = await store.range(prefix, {
      limit,
      consistency: consistencyParam(c.req.query("consistency")),
    });
    return c.json(reply);
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
          const handle = await store.watch(selector, (events: WatchEvent[]) => {
            send("events", { revision: events[events.length - 1].revision, events });
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

  const forwardMembership = async (
    c: Context,
    init: RequestInit,
  ): Promise<Response | undefined> => {
    const status = host.status();
    if (status.role === "leader") return undefined;
    const leader = status.leader === null ? undefined : host.memberAddress(status.leader);
    if (!leader) {
      throw new NoQuorumError(host.id, 0, "membership changes need a leader");
    }
    const response = await fetch(`${leader.url}${new URL(c.req.url).pathname}`, init);
    return new Response(response.body, { status: response.status, headers: response.headers });
  };

  app.post("/admin/members", async (c) => {
    const body = await jsonBody(c);
    const id = body.id;
    if (typeof id !== "string" || !NODE_ID.test(id)) {
      throw new BadRequestError("id", "expected 1-64 characters of letters, digits, '_', '.', '-'");
    }
    if (body.learner !== undefined && typeof body.learner !== "boolean") {
      throw new BadRequestError("learner", "expected a boolean");
    }
    const address = validateMemberAddress("body", { peer: body.peer, url: body.url });
    const forwarded = await forwardMembership(c, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (forwarded) return forwarded;
    const members = await host.changeMembership(
      { type: body.learner ? "addLearner" : "addNode", nodeId: id },
      address,
      store.requestTimeoutMs,
    );
    return c.json({ members });
  });

  app.delete("/admin/members/:id", async (c) => {
    const id = c.req.param("id");
    if (!NODE_ID.test(id)) throw new BadRequestError("id", "not a valid node id");
    const forwarded = await forwardMembership(c, { method: "DELETE" });
    if (forwarded) return forwarded;
    const members = await host.changeMembership(
      { type: "removeNode", nodeId: id },
      undefined,
      store.requestTimeoutMs,
    );
    return c.json({ members });
  });

  app.post("/cluster/v1/submit", async (c) => {
    if (c.req.header(CLUSTER_AUTH_HEADER) !== await store.authToken()) {
      return c.json({ error: "missing or wrong cluster token" }, 401);
    }
    const body = await jsonBody(c);
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
