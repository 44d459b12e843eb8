// With inbound auth configured, the admin API and the management tools take
// the node's own callers: `safla:admin` administers, other callers are refused.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { ADMIN_SCOPE } from "@safla/core/access";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { startClusterNode } from "../cluster_node.ts";
import { parseConfig } from "../../config.ts";
import { generateApiKey } from "../../auth/api_keys.ts";
import { FORBIDDEN } from "../../gateway/jsonrpc_codes.ts";

const ops = generateApiKey();
const alice = generateApiKey();

Deno.test({
  name: "with auth on, safla:admin callers administer the node; other callers are refused",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "admin-auth-" });
    const node = await startClusterNode({
      nodeId: "n1",
      clusterId: "admin-auth",
      secret: "admin-auth-test-secret",
      dataDir: `${dir}/n1`,
      members: { n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` } },
      gatewayConfig: parseConfig({
        mcpServers: {},
        auth: {
          apiKeys: [
            { hash: ops.hash, subject: "ops", scopes: [ADMIN_SCOPE] },
            { hash: alice.hash, subject: "alice", scopes: ["mcp"] },
          ],
        },
      }),
      requestTimeoutMs: 2_000,
    });
    const clients: Client[] = [];
    try {
      await waitFor("a leader", () => node.host.status().role === "leader", 5_000);

      await t.step("the admin API: admin scope 200, other caller 403, nobody 401", async () => {
        const as = (key?: string) =>
          fetch(`${node.url}/admin/status`, {
            headers: key ? { authorization: `Bearer ${key}` } : {},
          });
        for (const [key, status] of [[ops.key, 200], [alice.key, 403], [undefined, 401]] as const) {
          const r = await as(key);
          assert.equal(r.status, status, String(key));
          await r.body?.cancel();
        }
      });

      const connect = async (key: string) => {
        const client = new Client({ name: "admin-auth", version: "1" }, {
          versionNegotiation: { mode: "legacy" },
        });
        clients.push(client);
        await client.connect(
          new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`), {
            requestInit: { headers: { authorization: `Bearer ${key}` } },
          }),
        );
        return client;
      };

      await t.step(
        "management tools: the admin may change the gateway, alice may not",
        async () => {
          const args = { name: "safla__set_strategy", arguments: { strategy: "round-robin" } };
          const refused = await (await connect(alice.key)).callTool(args).catch((e) => e);
          assert.equal((refused as { code?: number }).code, FORBIDDEN, String(refused));
          const done = await (await connect(ops.key)).callTool(args);
          assert.equal(done.isError, undefined, JSON.stringify(done));
        },
      );
    } finally {
      for (const client of clients) await client.close().catch(() => {});
      await node.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
