// A cluster node with inbound auth lets a caller whose credential carries
// safla:admin use the admin API (the admin token stays the other way in);
// a credential without the scope, or none, is refused.
import assert from "node:assert/strict";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { ADMIN_SCOPE } from "@safla/core/access";
import { startClusterNode } from "../cluster/cluster_node.ts";
import { parseConfig } from "../config.ts";
import { generateApiKey } from "./api_keys.ts";

Deno.test({
  name: "admin API: an API key with safla:admin is an admin credential, one without is not",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const admin = generateApiKey();
    const user = generateApiKey();
    const dir = await Deno.makeTempDir({ prefix: "admin-auth-" });
    const node = await startClusterNode({
      nodeId: "n1",
      clusterId: "admin-auth",
      secret: "admin-auth-test-secret",
      dataDir: `${dir}/n1`,
      members: { n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` } },
      requestTimeoutMs: 2_000,
      gatewayConfig: parseConfig({
        mcpServers: {},
        auth: {
          apiKeys: [
            { hash: admin.hash, subject: "ops", scopes: [ADMIN_SCOPE] },
            { hash: user.hash, subject: "alice", scopes: [] },
          ],
        },
      }),
    });
    try {
      await waitFor("a leader", () => node.host.status().role === "leader", 5_000);
      const status = async (authorization?: string) => {
        const response = await fetch(`${node.url}/admin/status`, {
          headers: authorization === undefined ? {} : { authorization },
        });
        await response.body?.cancel();
        return response.status;
      };
      assert.equal(await status(`Bearer ${admin.key}`), 200);
      assert.equal(await status(`Bearer ${user.key}`), 401);
      assert.equal(await status(), 401);
    } finally {
      await node.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
