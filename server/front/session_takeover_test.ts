// A 2025 session taken over by another node keeps what its client set after
// initialize: the log level and the resource subscriptions. Two gateway nodes
// with their own backends share one session directory, as cluster nodes share
// the store.
import assert from "node:assert/strict";
import { config, stdioReplicas } from "../testing/harness.ts";
import { type GatewayInstance, startGatewayInstance } from "../instance.ts";
import type { SessionDirectory, SessionRecord } from "../control/session_directory.ts";
import { mcpRpc, SESSION_PROTOCOL_VERSION } from "../cluster/testing/mcp_rpc.ts";

/** A session directory in memory, shared by the nodes of the test. */
class MemoryDirectory implements SessionDirectory {
  records = new Map<string, SessionRecord>();
  save(id: string, record: SessionRecord): Promise<void> {
    this.records.set(id, structuredClone(record));
    return Promise.resolve();
  }
  load(id: string): Promise<SessionRecord | undefined> {
    const record = this.records.get(id);
    return Promise.resolve(record === undefined ? undefined : structuredClone(record));
  }
  remove(id: string): Promise<void> {
    this.records.delete(id);
    return Promise.resolve();
  }
}

/** The HTTP base URL of a node started with a port. */
function urlOf(node: GatewayInstance): string {
  assert.ok(node.url, "the node serves HTTP");
  return node.url;
}

async function openSession(node: GatewayInstance): Promise<string> {
  const opened = await mcpRpc(urlOf(node), {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: SESSION_PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: "takeover", version: "1" },
    },
  });
  assert.equal(opened.status, 200, opened.text);
  assert.ok(opened.sessionId);
  const initialized = await mcpRpc(
    urlOf(node),
    { jsonrpc: "2.0", method: "notifications/initialized" },
    opened.sessionId,
  );
  assert.equal(initialized.status, 202);
  return opened.sessionId;
}

function subscriptions(node: GatewayInstance): Record<string, number> {
  return node.gateway.status().subscriptions as Record<string, number>;
}

const LOGGING_CALL = {
  jsonrpc: "2.0",
  method: "tools/call",
  params: { name: "test__test_tool_with_logging", arguments: {} },
};

Deno.test({
  name: "a 2025 session taken over by another node keeps its log level and subscriptions",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const directory = new MemoryDirectory();
    const start = () =>
      startGatewayInstance({
        config: config({ test: stdioReplicas("t1") }),
        port: 0,
        hostname: "127.0.0.1",
        seed: 7,
        sessionDirectory: directory,
      });
    const nodes: GatewayInstance[] = [];
    try {
      const a = await start();
      nodes.push(a);
      const b = await start();
      nodes.push(b);
      const uri = "test://static-text";

      // Without a level, node b streams the tool's info logs before its result.
      const control = await openSession(b);
      const chatty = await mcpRpc(urlOf(b), { ...LOGGING_CALL, id: 2 }, control);
      assert.equal(chatty.status, 200);
      assert.match(chatty.contentType, /text\/event-stream/);
      assert.match(chatty.text, /Tool execution started/);

      const sessionId = await openSession(a);
      const level = await mcpRpc(
        urlOf(a),
        { jsonrpc: "2.0", id: 2, method: "logging/setLevel", params: { level: "error" } },
        sessionId,
      );
      assert.equal(level.status, 200, level.text);
      const subscribed = await mcpRpc(
        urlOf(a),
        { jsonrpc: "2.0", id: 3, method: "resources/subscribe", params: { uri } },
        sessionId,
      );
      assert.equal(subscribed.status, 200, subscribed.text);
      assert.deepEqual(subscriptions(a), { [uri]: 1 });
      const record = directory.records.get(sessionId);
      assert.equal(record?.logLevel, "error");
      assert.deepEqual(record?.subscriptions, [uri]);

      // Node b has never seen the session: it adopts it with its state.
      const quiet = await mcpRpc(urlOf(b), { ...LOGGING_CALL, id: 4 }, sessionId);
      assert.equal(quiet.status, 200, quiet.text);
      assert.doesNotMatch(quiet.text, /Tool execution started/, "info logs are below the level");
      assert.match(quiet.text, /executed successfully/);
      assert.deepEqual(subscriptions(b), { [uri]: 1 }, "the subscription was restored on b");
      assert.equal(b.http.sessionCount(), 2);

      // Changes made on b are saved for the next takeover.
      const unsubscribed = await mcpRpc(
        urlOf(b),
        { jsonrpc: "2.0", id: 5, method: "resources/unsubscribe", params: { uri } },
        sessionId,
      );
      assert.equal(unsubscribed.status, 200, unsubscribed.text);
      assert.deepEqual(subscriptions(b), {});
      assert.deepEqual(directory.records.get(sessionId)?.subscriptions, []);
      assert.equal(directory.records.get(sessionId)?.logLevel, "error");
    } finally {
      for (const node of nodes) await node.close();
    }
  },
});
