// `DELETE /mcp` on one node of a cluster ends the session on the node that
// holds it, through the replicated session record, within a second (it used
// to keep serving it until its idle expiry).
import assert from "node:assert/strict";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { config } from "../testing/harness.ts";
import { type RunningClusterNode, startClusterNode } from "../cluster/cluster_node.ts";
import { mcpRpc, SESSION_PROTOCOL_VERSION } from "../cluster/testing/mcp_rpc.ts";

Deno.test({
  name: "DELETE /mcp on another node ends the session on the node that holds it within 1 s",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "session-removal-" });
    const ids = ["n1", "n2", "n3"];
    const members = Object.fromEntries(ids.map((id) => [id, {
      peer: `127.0.0.1:${freePort()}`,
      url: `http://127.0.0.1:${freePort()}`,
    }]));
    const nodes: RunningClusterNode[] = [];
    try {
      const started = await Promise.allSettled(ids.map((id) =>
        startClusterNode({
          nodeId: id,
          clusterId: "session-removal-test",
          secret: "session-removal-test-secret",
          dataDir: `${dir}/${id}`,
          members,
          gatewayConfig: config({}),
          requestTimeoutMs: 10_000,
        })
      ));
      for (const s of started) if (s.status === "fulfilled") nodes.push(s.value);
      for (const s of started) if (s.status === "rejected") throw s.reason;
      await waitFor("a leader", () => nodes.every((n) => n.host.status().leader !== null), 10_000);
      const [n1, n2] = nodes;
      const opened = await mcpRpc(n1.url, {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: SESSION_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: "removal", version: "1" },
        },
      });
      const sessionId = opened.sessionId!;
      assert.ok(sessionId, opened.text);
      await mcpRpc(n1.url, { jsonrpc: "2.0", method: "notifications/initialized" }, sessionId);
      const ping = () => mcpRpc(n1.url, { jsonrpc: "2.0", id: 2, method: "ping" }, sessionId);
      assert.equal((await ping()).status, 200);

      const deleted = await fetch(`${n2.url}/mcp`, {
        method: "DELETE",
        headers: { "mcp-session-id": sessionId, "mcp-protocol-version": SESSION_PROTOCOL_VERSION },
      });
      await deleted.body?.cancel();
      assert.equal(deleted.status, 200);
      const deletedAtMs = performance.now();
      let status = 200;
      while (performance.now() - deletedAtMs < 3_000) {
        status = (await ping()).status;
        if (status === 404) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const tookMs = Math.round(performance.now() - deletedAtMs);
      assert.equal(status, 404, `n1 still serves the session ${tookMs} ms after its DELETE`);
      assert.ok(tookMs <= 1_000, `n1 ended the session ${tookMs} ms after its DELETE`);
    } finally {
      for (const n of nodes) await n.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
