import assert from "node:assert/strict";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { config } from "../testing/harness.ts";
import { startClusterNode } from "./cluster_node.ts";
import { adminFetcher } from "./testing/admin_client.ts";

const SECRET = "cluster-node-test-secret";
const adminFetch = adminFetcher(SECRET);

Deno.test("a cluster node serves the gateway's /healthz and its own /livez", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cluster-node-" });
  const node = await startClusterNode({
    nodeId: "n1",
    clusterId: "cluster-node-test",
    secret: SECRET,
    dataDir: `${dir}/n1`,
    members: { n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` } },
    gatewayConfig: config({}),
    requestTimeoutMs: 2_000,
  });
  try {
    await waitFor("a leader", () => node.host.status().role === "leader", 5_000);
    // The admin routes come first on a node's port; a liveness probe of their own
    // there once shadowed the gateway's backend health.
    const health = await adminFetch(`${node.url}/healthz`);
    assert.equal(health.status, 200);
    const body = await health.json() as Record<string, unknown>;
    assert.equal(body.status, "ok");
    assert.deepEqual(body.services, []);
    const live = await adminFetch(`${node.url}/livez`);
    assert.deepEqual(await live.json(), { status: "alive", node: "n1" });
  } finally {
    await node.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a cluster node's /admin/registry lists its tools a page at a time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cluster-node-" });
  const node = await startClusterNode({
    nodeId: "n1",
    clusterId: "cluster-node-test",
    secret: SECRET,
    dataDir: `${dir}/n1`,
    members: { n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` } },
    gatewayConfig: config({}),
    requestTimeoutMs: 2_000,
  });
  try {
    await waitFor("a leader", () => node.host.status().role === "leader", 5_000);
    const expected = node.gateway!.gateway.listTools().map((tool) => tool.name).sort();
    assert.ok(expected.length > 3, `${expected.length} management tools`);
    const names: string[] = [];
    let after: string | undefined;
    for (let page = 0;; page++) {
      assert.ok(page < 20, "paging ends");
      const query = `limit=3${after === undefined ? "" : `&after=${encodeURIComponent(after)}`}`;
      const body = await (await adminFetch(`${node.url}/admin/registry?${query}`)).json();
      assert.ok(body.tools.length <= 3);
      names.push(...body.tools);
      after = body.toolsNext;
      if (after === undefined) break;
    }
    assert.deepEqual(names, expected, "every tool once, in name order");
    const bad = await adminFetch(`${node.url}/admin/registry?limit=0`);
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).field, "limit");
  } finally {
    await node.close();
    await Deno.remove(dir, { recursive: true });
  }
});
