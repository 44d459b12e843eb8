/**
 * `/admin/policies` and `/admin/audit` on a cluster node's admin API, behind
 * its guard (admin token or a `safla:admin` principal, Host/Origin checks,
 * JSON bodies only):
 *
 * - `GET /admin/policies`: the policies in force and their revision;
 * - `PUT /admin/policies/:name`: creates or replaces one (400 with the `path`
 *   of the bad field);
 * - `DELETE /admin/policies/:name`: deletes a runtime one (404 when there is none);
 * - `GET /admin/audit?limit=`: the newest audit records of every node.
 *
 * Changes are audited as made by the admin API, and so are membership
 * changes ({@link auditAdminChanges} on `/admin/members`).
 *
 * @module
 */
import type { Hono, MiddlewareHandler } from "hono";
import { ADMIN_SCOPE, PolicyError, type Principal, principalKey } from "@safla/core/access";
import type { Gateway } from "../gateway/gateway.ts";
import { MAX_ADMIN_BODY_BYTES, readJsonObject } from "../cluster/admin/admin_guard.ts";
import { acceptPolicy, policyListing, type PolicyWriter } from "./policy_admin.ts";

/** Who a change made through the admin API is recorded as. */
const ADMIN_API: Principal = Object.freeze({
  subject: "admin-api",
  scopes: Object.freeze([ADMIN_SCOPE]) as readonly string[],
  claims: Object.freeze({}),
  source: "adminToken",
});

/** Most audit records one `GET /admin/audit` returns. */
const MAX_AUDIT_RECORDS = 1_000;

/** Adds the routes to `admin` (a Hono app whose `/admin/*` is guarded). */
export function addPolicyRoutes(admin: Hono, gateway: Gateway, writer: PolicyWriter): void {
  const access = gateway.access;
  const audit = (action: string, target: string) =>
    access.audit.record({
      principal: principalKey(ADMIN_API),
      action,
      target,
      decision: "changed",
      revision: access.policies.revision,
    });

  admin.get("/admin/policies", (c) => c.json(policyListing(access)));

  admin.put("/admin/policies/:name", async (c) => {
    const name = c.req.param("name");
    const body = await readJsonObject(c.req.raw, MAX_ADMIN_BODY_BYTES);
    if (body.name !== undefined && body.name !== name) {
      return c.json({
        error: `name: "${body.name}" differs from the URL's "${name}"`,
        path: "name",
      }, 400);
    }
    let policy;
    try {
      policy = acceptPolicy(access, { ...body, name }, "");
    } catch (error) {
      if (!(error instanceof PolicyError)) throw error;
      return c.json({ error: error.message, path: error.path }, 400);
    }
    const revision = await writer.put(policy);
    audit("PUT /admin/policies", policy.name);
    return c.json({ put: policy.name, revision });
  });

  admin.delete("/admin/policies/:name", async (c) => {
    const name = c.req.param("name");
    const { deleted, revision } = await writer.delete(name);
    if (!deleted) return c.json({ error: `no runtime policy "${name}"` }, 404);
    audit("DELETE /admin/policies", name);
    return c.json({ deleted: name, revision });
  });

  admin.get("/admin/audit", async (c) => {
    const raw = c.req.query("limit");
    const limit = raw === undefined ? 100 : Number(raw);
    if (!Number.isInteger(limit) || limit < 1) {
      return c.json({ error: "limit: must be a positive integer", path: "limit" }, 400);
    }
    const listed = await access.audit.list(Math.min(limit, MAX_AUDIT_RECORDS));
    return c.json({ ...listed, stats: access.audit.stats });
  });
}

/**
 * Middleware that audits every successful change (not a GET) a route under it
 * makes, as the admin API: method and path, e.g. `DELETE /admin/members/n3`.
 */
export function auditAdminChanges(gateway: Gateway): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.req.method === "GET" || c.req.method === "HEAD" || c.res.status >= 300) return;
    gateway.access.audit.record({
      principal: principalKey(ADMIN_API),
      action: `${c.req.method} ${c.req.path}`,
      target: c.req.path,
      decision: "changed",
      revision: gateway.access.policies.revision,
    });
  };
}
