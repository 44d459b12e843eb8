/**
 * The membership routes of the admin API:
 *
 * - `POST /admin/members` `{id, peer, url, learner?, catchUpTimeoutMs?}`: adds
 *   a member as a learner and promotes it once it has caught up (200 with
 *   `promoted: true`), or leaves it a learner and says why (202). 409 when the
 *   id or an address is taken.
 * - `POST /admin/members/:id/promote` `{catchUpTimeoutMs?}`: promotes a learner
 *   once it has caught up (200), or says why not yet (202).
 * - `DELETE /admin/members/:id`: removes a member.
 *
 * A follower forwards each to the leader over `/cluster/v1/members...`, which
 * the cluster token authenticates: the leader may be on another machine,
 * where the admin token (loopback only) would not be accepted.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import type { NodeId } from "@safla/core";
import { type NodeHost, validateMemberAddress } from "@safla/transports/host";
import { CLUSTER_AUTH_HEADER, type RaftStore } from "../../store/raft/raft_store.ts";
import { NoQuorumError } from "../../store/raft/errors.ts";
import { MAX_ADMIN_BODY_BYTES, readJsonObject } from "./admin_guard.ts";
import { BadRequestError, positiveIntParam } from "./kv_operations.ts";
import {
  addMember,
  DEFAULT_CATCH_UP_TIMEOUT_MS,
  MAX_CATCH_UP_TIMEOUT_MS,
  type MemberChange,
  promoteMember,
} from "./membership.ts";

const NODE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/** What the membership routes need from the admin app. */
export interface MembershipRouteOptions {
  host: NodeHost;
  store: RaftStore;
  clusterAuthorized(c: Context): Promise<boolean>;
  unauthorizedPeer(c: Context): Response;
}

function nodeId(raw: unknown, field = "id"): NodeId {
  if (typeof raw !== "string" || !NODE_ID.test(raw)) {
    throw new BadRequestError(field, "expected 1-64 characters of letters, digits, '_', '.', '-'");
  }
  return raw;
}

function catchUpTimeout(body: Record<string, unknown>): number {
  const raw = body.catchUpTimeoutMs;
  if (raw === undefined) return DEFAULT_CATCH_UP_TIMEOUT_MS;
  const ms = positiveIntParam("catchUpTimeoutMs", String(raw))!;
  if (ms > MAX_CATCH_UP_TIMEOUT_MS) {
    throw new BadRequestError("catchUpTimeoutMs", `at most ${MAX_CATCH_UP_TIMEOUT_MS}`);
  }
  return ms;
}

function changeResponse(c: Context, change: MemberChange): Response {
  return c.json(change, change.promoted ? 200 : 202);
}

/** Adds the membership routes to `app`. */
export function addMembershipRoutes(app: Hono, options: MembershipRouteOptions): void {
  const { host, store } = options;

  /** Sends the request to the leader when this node is not it; undefined when it is. */
  const forward = async (path: string, init: RequestInit): Promise<Response | undefined> => {
    const status = host.status();
    if (status.role === "leader") return undefined;
    const leader = status.leader === null ? undefined : host.memberAddress(status.leader);
    if (!leader) throw new NoQuorumError(host.id, 0, "membership changes need a leader");
    const headers = new Headers(init.headers);
    headers.set(CLUSTER_AUTH_HEADER, await store.authToken());
    const response = await fetch(`${leader.url}${path}`, { ...init, headers });
    return new Response(response.body, { status: response.status, headers: response.headers });
  };
  const forwardJson = (path: string, body: Record<string, unknown>) =>
    forward(path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  const add = async (c: Context): Promise<Response> => {
    const body = await readJsonObject(c.req.raw, MAX_ADMIN_BODY_BYTES);
    const id = nodeId(body.id);
    if (body.learner !== undefined && typeof body.learner !== "boolean") {
      throw new BadRequestError("learner", "expected a boolean");
    }
    const address = validateMemberAddress("body", { peer: body.peer, url: body.url });
    const timeoutMs = catchUpTimeout(body);
    const forwarded = await forwardJson("/cluster/v1/members", body);
    if (forwarded) return forwarded;
    return changeResponse(
      c,
      await addMember(host, id, address, {
        learnerOnly: body.learner === true,
        catchUpTimeoutMs: timeoutMs,
        requestTimeoutMs: store.requestTimeoutMs,
      }),
    );
  };

  const promote = async (c: Context): Promise<Response> => {
    const id = nodeId(c.req.param("id"));
    const body = await readJsonObject(c.req.raw, MAX_ADMIN_BODY_BYTES);
    const timeoutMs = catchUpTimeout(body);
    const forwarded = await forwardJson(`/cluster/v1/members/${id}/promote`, body);
    if (forwarded) return forwarded;
    return changeResponse(c, await promoteMember(host, id, timeoutMs, store.requestTimeoutMs));
  };

  const remove = async (c: Context): Promise<Response> => {
    const id = nodeId(c.req.param("id"));
    const forwarded = await forward(`/cluster/v1/members/${id}`, { method: "DELETE" });
    if (forwarded) return forwarded;
    const members = await host.changeMembership(
      { type: "removeNode", nodeId: id },
      undefined,
      store.requestTimeoutMs,
    );
    return c.json({ members });
  };

  const fromPeer = (handler: (c: Context) => Promise<Response>) => async (c: Context) =>
    await options.clusterAuthorized(c) ? await handler(c) : options.unauthorizedPeer(c);

  app.post("/admin/members", add);
  app.post("/admin/members/:id/promote", promote);
  app.delete("/admin/members/:id", remove);
  app.post("/cluster/v1/members", fromPeer(add));
  app.post("/cluster/v1/members/:id/promote", fromPeer(promote));
  app.delete("/cluster/v1/members/:id", fromPeer(remove));
}
