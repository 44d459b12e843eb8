// The attacks of issue 11 on the gateway's reserved keys, through the state
// tools and the KV admin API of a cluster node: listing every session with
// the prefix "/gatewa", wiping sessions and services with a prefix delete,
// learning another client's session id, and planting a service record
// (a stdio command) with a raw KV write.
import assert from "node:assert/strict";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { startClusterNode } from "../cluster/cluster_node.ts";
import { adminFetcher } from "../cluster/testing/admin_client.ts";
import { mcpRpc, SESSION_PROTOCOL_VERSION } from "../cluster/testing/mcp_rpc.ts";
import { config } from "../testing/harness.ts";
import { SESSIONS_PREFIX } from "./session_directory.ts";
import { parseManagementConfig } from "./management_config.ts";
import { SERVICES_PREFIX } from "./service_directory.ts";

const SECRET = "reserved-keys-test-secret";
const adminFetch = adminFetcher(SECRET);

async function openSession(url: string): Promise<string> {
  const opened = await mcpRpc(url, {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: SESSION_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: "reserved-keys", version: "1" },
    },
  });
  assert.equal(opened.status, 200, opened.text);
  const sessionId = opened.sessionId!;
  await mcpRpc(url, { jsonrpc: "2.0", method: "notifications/initialized" }, sessionId);
  return sessionId;
}

Deno.test({
  name: "reserved keys: sessions and services are out of reach of the state tools and the KV API",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "reserved-keys-" });
    const node = await startClusterNode({
      nodeId: "n1",
      clusterId: "reserved-keys",
      secret: SECRET,
      dataDir: `${dir}/n1`,
      members: { n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` } },
      // The anonymous caller may use every tool here: what is tested is where the keys go.
      gatewayConfig: { ...config({}), management: parseManagementConfig({ anonymousAdmin: true }) },
      requestTimeoutMs: 2_000,
    });
    try {
      await waitFor("a leader", () => node.host.status().role === "leader", 5_000);
      const victim = await openSession(node.url);
      const attacker = await openSession(node.url);
      let nextId = 10;
      const call = async (name: string, args: Record<string, unknown>) => {
        const answer = await mcpRpc(node.url, {
          jsonrpc: "2.0",
          id: nextId++,
          method: "tools/call",
          params: { name, arguments: args },
        }, attacker);
        return answer;
      };
      const sessionRecords = async () =>
        (await node.store.range(SESSIONS_PREFIX, { limit: 100 })).kvs.map((kv) => kv.key);
      assert.ok((await sessionRecords()).includes(`${SESSIONS_PREFIX}${victim}`));

      await t.step("state_list over /gatewa and over everything shows no session", async () => {
        for (const prefix of ["/gatewa", "/gateway/", "", "/"]) {
          const answer = await call("safla__state_list", { prefix });
          assert.equal(answer.error, undefined, answer.text);
          assert.ok(!answer.text.includes(victim), `prefix ${prefix} shows the session id`);
          const kvs = (answer.result?.structuredContent as { kvs: unknown[] }).kvs;
          assert.deepEqual(kvs, [], `prefix ${JSON.stringify(prefix)}`);
        }
      });

      await t.step("the KV admin API lists and reads no session, by any spelling", async () => {
        for (
          const path of [
            "/admin/kv?prefix=",
            "/admin/kv?prefix=/gatewa",
            "/admin/kv?prefix=%2Fgateway%2Fsessions%2F",
          ]
        ) {
          const response = await adminFetch(`${node.url}${path}`);
          const text = await response.text();
          assert.equal(response.status, 200, text);
          assert.ok(!text.includes(victim), `${path} shows the session id`);
        }
        const direct = await adminFetch(
          `${node.url}/admin/kv/${encodeURIComponent(`${SESSIONS_PREFIX}${victim}`)}`,
        );
        assert.equal(direct.status, 404);
        await direct.body?.cancel();
      });

      await t.step("state_delete of /gatewa with prefix wipes no session", async () => {
        const answer = await call("safla__state_delete", { key: "/gatewa", prefix: true });
        assert.equal(answer.error, undefined, answer.text);
        assert.ok((await sessionRecords()).includes(`${SESSIONS_PREFIX}${victim}`));
        const still = await mcpRpc(
          node.url,
          { jsonrpc: "2.0", id: 99, method: "tools/list" },
          victim,
        );
        assert.equal(still.status, 200, still.text);
        assert.equal(still.error, undefined);
      });

      await t.step("a service record PUT through the KV API registers nothing", async () => {
        const record = { command: "/bin/sh", args: ["-c", "echo pwned"] };
        const response = await adminFetch(
          `${node.url}/admin/kv/${encodeURIComponent(`${SERVICES_PREFIX}planted`)}`,
          { method: "PUT", body: JSON.stringify({ value: JSON.stringify(record) }) },
        );
        assert.equal(response.status, 200, await response.text());
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.ok(!node.gateway!.gateway.serviceNames().includes("planted"));
        assert.equal(await node.store.get(`${SERVICES_PREFIX}planted`), undefined);
      });
    } finally {
      await node.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
