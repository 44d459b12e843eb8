// Hedging: a read-only call stuck on a slow replica is also sent to another
// one after `hedgeDelayMs`, and the first answer wins; a write never is.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { config, processAlive, startNode, stdioBackend } from "../testing/harness.ts";
import type { GatewayInstance } from "../instance.ts";

function replica(id: string, extra: string[] = []): { command: string; args: string[] } {
  const spec = stdioBackend(id, extra);
  if (spec.kind !== "stdio") throw new Error("stdio spec expected");
  return { command: spec.command, args: spec.args };
}

Deno.test({
  name: "hedging of repeat-safe calls",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let node: GatewayInstance | undefined;
    let client: Client | undefined;
    const pids: number[] = [];
    try {
      node = await startNode(config({
        svc: {
          replicas: [replica("slow", ["--latency-ms", "2000"]), replica("fast")],
          strategy: "round-robin",
        },
      }, { hedgeDelayMs: 100 }));
      const n = node;
      for (const s of n.gateway.status().services as { replicas: { pid?: number }[] }[]) {
        for (const r of s.replicas) if (r.pid) pids.push(r.pid);
      }
      client = new Client({ name: "hedge", version: "1" });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${n.url}/mcp`)));
      const c = client;

      // Round robin sends every other call to the slow replica first.
      for (let i = 0; i < 4; i++) {
        const startedMs = Date.now();
        const who = await c.callTool({ name: "svc__whoami", arguments: {} });
        assert.deepEqual(who.content, [{ type: "text", text: "fast" }]);
        assert.ok(Date.now() - startedMs < 1_500, "never waited for the slow replica");
      }
      const status = n.gateway.status() as { hedges: number };
      assert.ok(status.hedges >= 1, JSON.stringify(status));

      // A write is not repeat-safe: it waits for whichever replica it was sent to.
      const counts: string[] = [];
      for (let i = 0; i < 2; i++) {
        const r = await c.callTool({ name: "svc__increment", arguments: { key: "k" } });
        counts.push(JSON.stringify(r.content));
      }
      assert.equal((n.gateway.status() as { hedges: number }).hedges, status.hedges);
    } finally {
      await client?.close().catch(() => {});
      await node?.close();
    }
    for (const pid of pids) {
      const deadline = Date.now() + 5_000;
      while (processAlive(pid) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
      }
      assert.ok(!processAlive(pid));
    }
  },
});
