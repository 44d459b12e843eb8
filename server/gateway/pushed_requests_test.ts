// Requests a 2025 stdio backend (server-everything) pushes, sampling here,
// while several calls run on it. That wire does not say which call a pushed request belongs to: calls
// of one client make one owner; calls of two clients are ambiguous, and the
// pushed request is refused rather than sent to a client that did not cause it.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { config, startNode, stdioReplicas } from "../testing/harness.ts";

const EVERYTHING = "@modelcontextprotocol/server-everything@2026.8.31";
import type { GatewayInstance } from "../instance.ts";

/** A 2025 client that answers sampling requests through `answer`. */
async function samplingClient(
  node: GatewayInstance,
  name: string,
  answer: (prompt: string) => Promise<string>,
): Promise<Client> {
  const client = new Client({ name, version: "1" }, { capabilities: { sampling: {} } });
  client.setVersionNegotiation({ mode: "legacy" });
  client.setRequestHandler("sampling/createMessage", async (request) => {
    const first = request.params.messages[0].content as { type: string; text?: string };
    return {
      role: "assistant",
      content: { type: "text", text: await answer(first.text ?? "") },
      model: "test-model",
    };
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
  return client;
}

const sample = (client: Client, prompt: string) =>
  client.callTool({
    name: "every__trigger-sampling-request",
    arguments: { prompt, maxTokens: 10 },
  });

Deno.test({
  name: "pushed requests of a 2025 stdio backend with several calls in flight",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    let node: GatewayInstance | undefined;
    const clients: Client[] = [];
    try {
      node = await startNode(config({
        every: { command: "npx", args: ["-y", EVERYTHING, "stdio"], timeoutMs: 30_000 },
      }));
      const n = node;
      const replica = (n.gateway.status().services as { replicas: { era?: string }[] }[])[0]
        .replicas[0];
      assert.equal(replica.era, "legacy", "server-everything speaks the 2025 protocol");

      await t.step("calls of one client: each sampling request reaches that client", async () => {
        const client = await samplingClient(n, "one", (prompt) => Promise.resolve(`re: ${prompt}`));
        clients.push(client);
        const results = await Promise.all(
          ["a", "b", "c", "d"].map((p) => sample(client, p)),
        );
        for (const [i, p] of ["a", "b", "c", "d"].entries()) {
          assert.match(JSON.stringify(results[i].content), new RegExp(`re: [^"]*${p}`));
        }
      });

      await t.step(
        "calls of two clients: the ambiguous request is refused, the other answered",
        async () => {
          const asked = Promise.withResolvers<void>();
          const release = Promise.withResolvers<void>();
          const first = await samplingClient(n, "first", async (prompt) => {
            asked.resolve();
            await release.promise; // first's call stays in flight while second calls
            return `first: ${prompt}`;
          });
          const second = await samplingClient(n, "second", (p) => Promise.resolve(`second: ${p}`));
          clients.push(first, second);
          const firstCall = sample(first, "x");
          await asked.promise;
          const secondCall = await sample(second, "y").then(
            (result) => ({ ok: true as const, result }),
            (error: Error) => ({ ok: false as const, error }),
          );
          release.resolve();
          assert.match(JSON.stringify((await firstCall).content), /first: [^"]*x/);
          // The backend reports the failed sampling request as its tool's error.
          const refusal = secondCall.ok
            ? JSON.stringify(secondCall.result)
            : secondCall.error.message;
          assert.match(refusal, /2 clients have calls in flight; cannot tell which one asked/);
        },
      );
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      await node?.close();
    }
  },
});

Deno.test({
  name: "log lines of a backend while several calls of one client run reach that client",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let node: GatewayInstance | undefined;
    let client: Client | undefined;
    try {
      node = await startNode(config({ solo: stdioReplicas("s1") }));
      client = new Client({ name: "logs", version: "1" });
      client.setVersionNegotiation({ mode: "legacy" });
      const logs: string[] = [];
      client.setNotificationHandler("notifications/message", (n) => {
        logs.push(String(n.params.data));
      });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
      const c = client;
      await Promise.all(
        [1, 2, 3, 4].map(() => c.callTool({ name: "solo__test_tool_with_logging", arguments: {} })),
      );
      // Every line of every call, none dropped as "could be another client's".
      assert.equal(logs.filter((l) => l === "Tool execution completed").length, 4, logs.join("|"));
      assert.equal(logs.length, 12, logs.join("|"));
      assert.equal(node.gateway.status().logsDropped, 0);
    } finally {
      await client?.close().catch(() => {});
      await node?.close();
    }
  },
});
