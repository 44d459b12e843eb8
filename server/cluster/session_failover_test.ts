/**
 * A 2025-era MCP session survives the death of the node that opened it: the
 * session lives in the replicated store, so after kill -9 of that node (the
 * Raft leader, the hardest case) the client goes on with the same
 * `Mcp-Session-Id` at another node.
 */
import assert from "node:assert/strict";
import { generateSecret } from "./cluster_args.ts";
import { LocalCluster } from "./local_cluster.ts";
import { mcpRpc, SESSION_PROTOCOL_VERSION } from "./testing/mcp_rpc.ts";

Deno.test("a 2025 session opened on the leader continues on another node after kill -9", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "session-failover-" });
  const cluster = await LocalCluster.start({
    nodes: 3,
    basePort: 0,
    dataDir,
    secret: generateSecret(),
    clusterId: "sessions",
    demo: true,
  });
  try {
    const leader = await cluster.waitForLeader(30_000);
    await cluster.waitForReady(20_000);
    const opened = await mcpRpc(cluster.url(leader), {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: SESSION_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: "failover-test", version: "1" },
      },
    });
    assert.equal(opened.status, 200);
    const sessionId = opened.sessionId;
    assert.ok(sessionId, "initialize returned no Mcp-Session-Id");
    const initialized = await mcpRpc(
      cluster.url(leader),
      { jsonrpc: "2.0", method: "notifications/initialized" },
      sessionId,
    );
    assert.equal(initialized.status, 202);

    const echo = {
      jsonrpc: "2.0",
      id: 2,
      method: "tools/call",
      params: { name: "demo__echo", arguments: { message: "before" } },
    };
    const before = await mcpRpc(cluster.url(leader), echo, sessionId);
    assert.equal(before.status, 200, JSON.stringify(before.body));
    assert.match(JSON.stringify(before.body), /r1: before/);

    await cluster.kill(leader, "SIGKILL");
    const survivor = cluster.ids.find((id) => id !== leader)!;
    await cluster.waitForLeader(10_000, [leader]);
    const after = await mcpRpc(
      cluster.url(survivor),
      { ...echo, id: 3, params: { name: "demo__echo", arguments: { message: "after" } } },
      sessionId,
    );
    assert.equal(after.status, 200, JSON.stringify(after.body));
    assert.match(JSON.stringify(after.body), /r1: after/);

    const unknown = await mcpRpc(
      cluster.url(survivor),
      { jsonrpc: "2.0", id: 4, method: "tools/list" },
      "00000000-0000-4000-8000-000000000000",
    );
    assert.equal(unknown.status, 404, "an unknown session id must not be adopted");
  } finally {
    await cluster.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
