// Listen streams of a 2026-07-28 backend. That era has no
// `resources/subscribe`: the gateway names the subscribed resources on a
// `subscriptions/listen` stream and hands the updates to the 2025 sessions
// that subscribed. List changes come on such a stream too. A backend that
// restarts ends its streams; the gateway opens them again and re-reads the
// catalog, whose changes it did not hear meanwhile.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { config, type HttpBackend, spawnHttpBackend, startNode } from "../testing/harness.ts";
import type { GatewayInstance } from "../instance.ts";

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

Deno.test({
  name: "resource updates of a 2026 backend reach the session that subscribed",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let http: HttpBackend | undefined;
    let node: GatewayInstance | undefined;
    const clients: Client[] = [];
    try {
      http = await spawnHttpBackend("w1", { resourceUpdates: true });
      node = await startNode(config({ web: { url: http.url } }));
      const replica = (node.gateway.status().services as {
        replicas: { era?: string }[];
      }[])[0].replicas[0];
      assert.equal(replica.era, "modern");

      const updates = { subscriber: [] as string[], other: [] as string[] };
      const subscriber = new Client({ name: "subscriber", version: "1" });
      subscriber.setNotificationHandler("notifications/resources/updated", (n) => {
        updates.subscriber.push(n.params.uri);
      });
      const other = new Client({ name: "other", version: "1" });
      other.setNotificationHandler("notifications/resources/updated", (n) => {
        updates.other.push(n.params.uri);
      });
      for (const client of [subscriber, other]) {
        await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
        clients.push(client);
      }
      const n = node;
      await until("both GET streams", () => n.http.listeningCount() === 2);

      const uri = "test://static-text";
      await subscriber.subscribeResource({ uri });
      assert.deepEqual(n.gateway.status().subscriptions, { [uri]: 1 });
      const touch = (target: string) =>
        subscriber.callTool({ name: "web__test_touch_resource", arguments: { uri: target } });
      await touch(uri);
      await until("the update", () => updates.subscriber.includes(uri));
      assert.deepEqual(updates.other, [], "a session that did not subscribe hears nothing");

      // The backend restarts on its port: the gateway reconnects and opens the
      // stream again, naming the same resources.
      const port = Number(new URL(http.url).port);
      await http.close();
      http = await spawnHttpBackend("w1", { resourceUpdates: true, port });
      const heard = updates.subscriber.length;
      const deadline = Date.now() + 15_000;
      while (updates.subscriber.length === heard) {
        if (Date.now() > deadline) throw new Error("no update after the backend restarted");
        await touch(uri).catch(() => {}); // refused while the backend restarts
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(updates.subscriber.at(-1), uri);
      assert.deepEqual(updates.other, []);
      const reopened = (n.gateway.status().services as {
        replicas: { listenStreamsReopened: number }[];
      }[])[0].replicas[0].listenStreamsReopened;
      assert.ok(reopened >= 1, `listen streams re-opened: ${reopened}`);
      updates.subscriber.length = 1;

      // Updates of resources nobody subscribed to are not reported by the backend.
      await touch("test://other");
      await subscriber.unsubscribeResource({ uri });
      assert.deepEqual(n.gateway.status().subscriptions, {});
      await touch(uri);
      // Give a stray update time to arrive before checking there was none.
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(updates.subscriber, [uri]);
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      await node?.close();
      await http?.close();
    }
  },
});

Deno.test({
  name:
    "a 2026 backend that restarts with more tools: the gateway re-reads its catalog and tells clients",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let http: HttpBackend | undefined;
    let node: GatewayInstance | undefined;
    let client: Client | undefined;
    try {
      http = await spawnHttpBackend("r1");
      node = await startNode(config({ web: { url: http.url } }));
      let listChanged = 0;
      client = new Client({ name: "watcher", version: "1" });
      client.setNotificationHandler("notifications/tools/list_changed", () => {
        listChanged++;
      });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
      const c = client;
      const n = node;
      await until("the GET stream", () => n.http.listeningCount() === 1);
      const names = async () => (await c.listTools()).tools.map((t) => t.name);
      assert.ok(!(await names()).includes("web__extra_0"));

      const port = Number(new URL(http.url).port);
      await http.close();
      http = await spawnHttpBackend("r1", { port, extraTools: 2 });
      await until("tools/list_changed", () => listChanged > 0, 15_000);
      const after = await names();
      assert.ok(after.includes("web__extra_0") && after.includes("web__extra_1"), after.join(","));
    } finally {
      await client?.close().catch(() => {});
      await node?.close();
      await http?.close();
    }
  },
});
