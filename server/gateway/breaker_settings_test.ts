// The circuit breaker of each replica is tuned from the config's gateway
// settings: here it opens after two timed-out calls (the default is three).
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { config, startNode, stdioReplicas } from "../testing/harness.ts";
import type { GatewayInstance } from "../instance.ts";

function breakerOf(node: GatewayInstance): string {
  const [service] = node.gateway.status().services as {
    replicas: { routing: { breaker: string } }[];
  }[];
  return service.replicas[0].routing.breaker;
}

Deno.test({
  name: "breakerConsecutiveFailures and breakerOpenDurationMs come from the config",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let node: GatewayInstance | undefined;
    let client: Client | undefined;
    try {
      node = await startNode(config({ svc: stdioReplicas("r1") }, {
        requestTimeoutMs: 300,
        maxAttempts: 1,
        breakerConsecutiveFailures: 2,
        breakerOpenDurationMs: 600_000,
      }));
      const n = node;
      client = new Client({ name: "breaker", version: "1" });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${n.url}/mcp`)));
      const slow = { name: "svc__slow", arguments: { steps: 1, stepMs: 3_000 } };
      await assert.rejects(client.callTool(slow));
      assert.equal(breakerOf(n), "closed", "one failure is below the configured threshold");
      await assert.rejects(client.callTool(slow));
      assert.equal(breakerOf(n), "open", "the second failure in a row opens it");
    } finally {
      await client?.close().catch(() => {});
      await node?.close();
    }
  },
});
