// A 2025 session taken over by another node keeps what its client set after
// initialize: the log level and the resource subscriptions. Two gateway nodes
// with their own backends share one session directory, as cluster nodes share
// the store.
import assert from "node:assert/strict";
import { config, stdioReplicas } from "./testing/harness.ts";
import { type GatewayNode, startGatewayNode } from "./node.ts";
import type { SessionDirectory, SessionRecord } from "./session_directory.ts";

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

const HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
  "mcp-protocol-version": "2025-11-25",
};

async function rpc(
  node: GatewayNode,
  body: Record<string, unknown>,
  sessionId?: string,
): Promise<{ status: number; type: string; text: string; sessionId: string | null }> {
  const response = await fetch(`${node.url}/mcp`, {
    method: "POST",
    headers: sessionId === undefined ? HEADERS : { ...HEADERS, "mcp-session-id": sessionId },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    type: response.headers.get("content-type") ?? "",
    text: await response.text(),
    sessionId: response.headers.get("mcp-session-id"),
  };
}

async function openSession(node: GatewayNode): Promise<string> {
  const opened = await rpc(node, {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-11-25",
      capabilities: {},
      clientInfo: { name: "takeover", version: "1" },
    },
  });
  assert.equal(opened.status, 200, opened.text);
  assert.ok(opened.sessionId);
  const initialized = await rpc(
    node,
    { jsonrpc: "2.0", method: "notifications/initialized" },
    opened.sessionId,
  );
  assert.equal(initialized.status, 202);
  return opened.sessionId;
}

function subscriptions(node: GatewayNode): Record<string, number> {
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
      startGatewayNode({
        config: config({ test: stdioReplicas("t1") }),
        port: 0,
        hostname: "127.0.0.1",
        seed: 7,
        sessionDirectory: directory,
      });
    const nodes: GatewayNode[] = [];
    try {
      const a = await start();
      nodes.push(a);
      const b = await start();
      nodes.push(b);
      const uri = "test://static-text";

      // Without a level, node b streams the tool's info logs before its result.
      const control = await openSession(b);
      const chatty = await rpc(b, { ...LOGGING_CALL, id: 2 }, control);
      assert.equal(chatty.status, 200);
      assert.match(chatty.type, /text\/event-stream/);
      assert.match(chatty.text, /Tool execution started/);

      const sessionId = await openSession(a);
      const level = await rpc(
        a,
        { jsonrpc: "2.0", id: 2, method: "logging/setLevel", params: { level: "error" } },
        sessionId,
      );
      assert.equal(level.status, 200, level.text);
      const subscribed = await rpc(
        a,
        { jsonrpc: "2.0", id: 3, method: "resources/subscribe", params: { uri } },
        sessionId,
      );
      assert.equal(subscribed.status, 200, subscribed.text);
      assert.deepEqual(subscriptions(a), { [uri]: 1 });
      const record = directory.records.get(sessionId);
      assert.equal(record?.logLevel, "error");
      assert.deepEqual(record?.subscriptions, [uri]);

      // Node b has never seen the session: it adopts it with its state.
      const quiet = await rpc(b, { ...LOGGING_CALL, id: 4 }, sessionId);
      assert.equal(quiet.status, 200, quiet.text);
      assert.doesNotMatch(quiet.text, /Tool execution started/, "info logs are below the level");
      assert.match(quiet.text, /executed successfully/);
      assert.deepEqual(subscriptions(b), { [uri]: 1 }, "the subscription was restored on b");
      assert.equal(b.http.sessionCount(), 2);

      // Changes made on b are saved for the next takeover.
      const unsubscribed = await rpc(
        b,
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
