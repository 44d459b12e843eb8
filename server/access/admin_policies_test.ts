// /admin/policies and /admin/audit on a one-node cluster: guarded by the admin
// token, validation errors with the field's path, changes in force and audited.
import assert from "node:assert/strict";
import { waitFor } from "@safla/transports/host/testing";
import { type RunningClusterNode, startClusterNode } from "../cluster/cluster_node.ts";
import { freeMembers } from "../cluster/local_cluster.ts";
import { config } from "../testing/harness.ts";

Deno.test({
  name:
    "/admin/policies: put, list, delete with the admin token; 400 names the field; policy and membership changes audited",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "admin-policies-" });
    const members = freeMembers(1);
    let node: RunningClusterNode | undefined;
    try {
      node = await startClusterNode({
        nodeId: "n1",
        clusterId: "admin-policies",
        secret: "admin-policies-secret",
        dataDir: `${dir}/n1`,
        members,
        gatewayConfig: config({}),
      });
      await waitFor("a leader", () => node!.host.status().role === "leader", 10_000);
      const base = members.n1.url;
      const call = (method: string, path: string, body?: unknown, token = node!.adminToken) =>
        fetch(`${base}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { "content-type": "application/json" }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      const policy = { service: "fs", rules: [{ effect: "allow", subjects: ["alice"] }] };

      const unauthorized = await call("PUT", "/admin/policies/p1", policy, "wrong");
      assert.equal(unauthorized.status, 401);
      await unauthorized.body?.cancel();

      const bad = await call("PUT", "/admin/policies/p1", { ...policy, rules: [{ effect: "x" }] });
      assert.equal(bad.status, 400);
      assert.equal((await bad.json()).path, "rules[0].effect");

      const put = await call("PUT", "/admin/policies/p1", policy);
      assert.equal(put.status, 200);
      const { revision } = await put.json();
      assert.ok(node.gateway!.gateway.access.policies.revision >= revision);
      assert.ok(node.gateway!.gateway.access.policies.governs("fs"));

      const listed = await (await call("GET", "/admin/policies")).json();
      assert.deepEqual(
        listed.policies.map((p: { name: string; source: string }) => [p.name, p.source]),
        [
          ["p1", "runtime"],
        ],
      );

      const deleted = await call("DELETE", "/admin/policies/p1");
      assert.equal(deleted.status, 200);
      await deleted.body?.cancel();
      const again = await call("DELETE", "/admin/policies/p1");
      assert.equal(again.status, 404);
      await again.body?.cancel();
      assert.ok(!node.gateway!.gateway.access.policies.governs("fs"));

      // Membership changes through the admin API are audited too; a refused one is not.
      const refused = await call("POST", "/admin/members", { id: "bad id!" });
      assert.equal(refused.status, 400);
      await refused.body?.cancel();
      const added = await call("POST", "/admin/members", {
        id: "n9",
        peer: "127.0.0.1:1",
        url: "http://127.0.0.1:1",
        learner: true,
      });
      assert.ok(added.status === 200 || added.status === 202, String(added.status));
      await added.body?.cancel();
      const removed = await call("DELETE", "/admin/members/n9");
      assert.equal(removed.status, 200);
      await removed.body?.cancel();

      await node.gateway!.gateway.access.audit.flush();
      const audit = await (await call("GET", "/admin/audit?limit=10")).json();
      assert.deepEqual(
        audit.records.map((r: { action: string; target: string }) => `${r.action} ${r.target}`)
          .sort(),
        [
          "DELETE /admin/members/n9 /admin/members/n9",
          "DELETE /admin/policies p1",
          "POST /admin/members /admin/members",
          "PUT /admin/policies p1",
        ],
      );
    } finally {
      await node?.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
