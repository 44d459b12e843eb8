// Issue 11, remote code execution through the registry: a stdio record that
// reaches the replicated store by any path (a register call on a laxer node,
// a raw write) runs on a node only if that node's own rules allow it.
import assert from "node:assert/strict";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { startClusterNode } from "../cluster/cluster_node.ts";
import { mcpRpc, SESSION_PROTOCOL_VERSION } from "../cluster/testing/mcp_rpc.ts";
import { config, stdioBackend } from "../testing/harness.ts";
import { INVALID_PARAMS } from "../gateway/jsonrpc_codes.ts";
import { parseManagementConfig } from "./management_config.ts";
import { SERVICES_PREFIX } from "./service_directory.ts";

Deno.test({
  name: "registration: a record not on this node's allow-list never runs here, whoever wrote it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "registration-" });
    const node = await startClusterNode({
      nodeId: "n1",
      clusterId: "registration",
      secret: "registration-test-secret",
      dataDir: `${dir}/n1`,
      members: { n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` } },
      gatewayConfig: {
        ...config({}),
        management: parseManagementConfig({
          anonymousAdmin: true,
          registration: { commands: [{ command: Deno.execPath(), args: ["run", "-A", "..."] }] },
        }),
      },
      requestTimeoutMs: 2_000,
    });
    const marker = `${dir}/pwned`;
    const planted = { command: "/bin/sh", args: ["-c", `touch ${marker}`] };
    try {
      await waitFor("a leader", () => node.host.status().role === "leader", 5_000);
      const gateway = node.gateway!.gateway;

      await t.step("a record written straight into the store does not run", async () => {
        await node.store.put(`${SERVICES_PREFIX}planted`, JSON.stringify(planted));
        const { command, args } = stdioBackend("allowed") as { command: string; args: string[] };
        await node.store.put(`${SERVICES_PREFIX}allowed`, JSON.stringify({ command, args }));
        // Records apply in order: once the allowed one is served, the planted one was judged.
        await waitFor(
          "the allowed record",
          () => gateway.serviceNames().includes("allowed"),
          20_000,
        );
        assert.ok(!gateway.serviceNames().includes("planted"));
        await assert.rejects(Deno.stat(marker), Deno.errors.NotFound);
      });

      const opened = await mcpRpc(node.url, {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: SESSION_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: "registration", version: "1" },
        },
      });
      const session = opened.sessionId!;
      let nextId = 2;
      const register = (server: Record<string, unknown>) =>
        mcpRpc(node.url, {
          jsonrpc: "2.0",
          id: nextId++,
          method: "tools/call",
          params: { name: "safla__register_server", arguments: { name: "tried", server } },
        }, session);

      await t.step("register_server says which setting refuses the command", async () => {
        const answer = await register(planted);
        assert.equal(answer.error?.code, INVALID_PARAMS, answer.text);
        assert.match(answer.error!.message, /management\.registration\.commands/);
        assert.equal(await node.store.get(`${SERVICES_PREFIX}tried`), undefined);
      });

      await t.step("register_server refuses a literal secret in env or headers", async () => {
        const { command, args } = stdioBackend("x") as { command: string; args: string[] };
        const env = await register({ command, args, env: { API_KEY: "sk-live-123" } });
        assert.equal(env.error?.code, INVALID_PARAMS, env.text);
        assert.match(env.error!.message, /literal value/);
        const headers = await register({
          url: "https://mcp.example.com/mcp",
          headers: { authorization: "Bearer sk-live-123" },
        });
        assert.equal(headers.error?.code, INVALID_PARAMS, headers.text);
        assert.equal(await node.store.get(`${SERVICES_PREFIX}tried`), undefined);
      });

      await t.step("HTTP registrations to metadata or private addresses are refused", async () => {
        for (const url of ["http://169.254.169.254/latest/", "http://127.0.0.1:1/mcp"]) {
          const answer = await register({ url });
          assert.equal(answer.error?.code, INVALID_PARAMS, answer.text);
        }
      });
    } finally {
      await node.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
