// End-to-end with the reference server `server-everything` (a 2025-era server
// on the v1 SDK) as a stdio and a Streamable HTTP backend: the 2025 push path
// for sampling and elicitation, progress from a long operation, and calls.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { config, startNode } from "../testing/harness.ts";
import type { GatewayInstance } from "../instance.ts";

const EVERYTHING = "@modelcontextprotocol/server-everything@2026.8.31";

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function spawnEverythingHttp(): Promise<{ url: string; close(): Promise<void> }> {
  const port = freePort();
  // setsid puts npx and the node server it starts in a process group of their
  // own, so the whole group can be ended without leaking the grandchild.
  const child = new Deno.Command("setsid", {
    args: ["npx", "-y", EVERYTHING, "streamableHttp"],
    env: { PORT: String(port) },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const close = async () => {
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch { /* already gone */ }
    await child.status;
  };
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 60_000;
  while (!seen.includes("listening on port")) {
    if (Date.now() > deadline) {
      await close();
      throw new Error(`server-everything did not start: ${seen}`);
    }
    const { value, done } = await reader.read();
    if (done) throw new Error(`server-everything exited: ${seen}`);
    seen += value;
  }
  void (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  return { url: `http://127.0.0.1:${port}/mcp`, close };
}

Deno.test({
  name: "gateway in front of server-everything (stdio and HTTP)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    let http: Awaited<ReturnType<typeof spawnEverythingHttp>> | undefined;
    let node: GatewayInstance | undefined;
    let client: Client | undefined;
    try {
      http = await spawnEverythingHttp();
      node = await startNode(config({
        every: { command: "npx", args: ["-y", EVERYTHING, "stdio"], timeoutMs: 30_000 },
        everyhttp: { url: http.url },
      }, { connectTimeoutMs: 60_000 }));
      const n = node;
      const status = n.gateway.status().services as {
        replicas: { state: string; era?: string }[];
      }[];
      assert.deepEqual(status.map((s) => s.replicas[0].state), ["ready", "ready"]);
      assert.equal(
        status[0].replicas[0].era,
        "legacy",
        "server-everything speaks the 2025 protocol",
      );

      client = new Client({ name: "e2e", version: "1" }, {
        capabilities: { sampling: {}, elicitation: { form: {} } },
      });
      client.setRequestHandler("sampling/createMessage", (req) => ({
        role: "assistant",
        content: { type: "text", text: `sampled ${req.params.messages.length} message(s)` },
        model: "test-model",
      }));
      client.setRequestHandler("elicitation/create", () => ({
        action: "accept",
        content: { name: "bob" },
      }));
      await client.connect(new StreamableHTTPClientTransport(new URL(`${n.url}/mcp`)));
      const c = client;

      await t.step("tools of both backends, calls over stdio and HTTP", async () => {
        const names = (await c.listTools()).tools.map((x) => x.name);
        assert.ok(names.includes("every__echo"));
        assert.ok(names.includes("everyhttp__get-sum"));
        const echo = await c.callTool({ name: "every__echo", arguments: { message: "hi" } });
        assert.match(JSON.stringify(echo.content), /hi/);
        const sum = await c.callTool({ name: "everyhttp__get-sum", arguments: { a: 2, b: 40 } });
        assert.match(JSON.stringify(sum.content), /42/);
      });

      await t.step("sampling pushed by a 2025 backend reaches the calling client", async () => {
        const names = (await c.listTools()).tools.map((x) => x.name);
        assert.ok(names.includes("every__trigger-sampling-request"), names.join(","));
        const result = await c.callTool({
          name: "every__trigger-sampling-request",
          arguments: { prompt: "hello", maxTokens: 10 },
        });
        assert.match(JSON.stringify(result.content), /sampled 1 message/);
      });

      await t.step(
        "the roots/list a backend sends on connect is answered with no roots",
        async () => {
          // server-everything asks for roots 350 ms after initialization, caused by
          // no call: the gateway answers it instead of handing it to a call in flight.
          const deadline = Date.now() + 10_000;
          while ((n.gateway.status().rootsAnswered as number) < 1 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 25));
          }
          assert.ok((n.gateway.status().rootsAnswered as number) >= 1, "roots/list was answered");
        },
      );

      await t.step(
        "a 2026 client gets a 2025 backend's pushed requests as input rounds",
        async () => {
          const modern = new Client({ name: "e2e-modern", version: "1" }, {
            capabilities: { sampling: {}, elicitation: { form: {} } },
            versionNegotiation: { mode: "auto" },
          });
          let sampled = 0;
          modern.setRequestHandler("sampling/createMessage", () => {
            sampled++;
            return {
              role: "assistant",
              content: { type: "text", text: "modern says hi" },
              model: "m",
            };
          });
          modern.setRequestHandler("elicitation/create", () => ({
            action: "accept",
            content: { name: "eve" },
          }));
          try {
            await modern.connect(new StreamableHTTPClientTransport(new URL(`${n.url}/mcp`)));
            assert.equal(modern.getProtocolEra(), "modern");
            const result = await modern.callTool({
              name: "every__trigger-sampling-request",
              arguments: { prompt: "hello", maxTokens: 10 },
            });
            assert.match(JSON.stringify(result.content), /modern says hi/);
            assert.equal(sampled, 1);
            const names = (await modern.listTools()).tools.map((x) => x.name);
            if (names.includes("every__trigger-elicitation-request")) {
              const elicited = await modern.callTool({
                name: "every__trigger-elicitation-request",
                arguments: {},
              });
              assert.match(JSON.stringify(elicited.content), /eve/);
            }
          } finally {
            await modern.close();
          }
        },
      );

      await t.step("resource updates reach only the session that subscribed", async () => {
        const other = new Client({ name: "e2e-other", version: "1" });
        const updates = { subscriber: [] as string[], other: [] as string[] };
        c.setNotificationHandler("notifications/resources/updated", (n) => {
          updates.subscriber.push(n.params.uri);
        });
        other.setNotificationHandler("notifications/resources/updated", (n) => {
          updates.other.push(n.params.uri);
        });
        try {
          await other.connect(new StreamableHTTPClientTransport(new URL(`${n.url}/mcp`)));
          const deadline = Date.now() + 10_000;
          while (n.http.listeningCount() < 2 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 25));
          }
          assert.equal(n.http.listeningCount(), 2, "both clients hold their GET streams");
          const uri = (await c.listResources()).resources
            .map((r) => r.uri)
            .find((u) => u.startsWith("demo://resource/static/"));
          assert.ok(uri !== undefined);
          // Both subscribe, then `other` leaves: the backend must stay subscribed for `c`.
          await c.subscribeResource({ uri });
          await other.subscribeResource({ uri });
          await other.unsubscribeResource({ uri });
          await c.callTool({ name: "every__toggle-subscriber-updates", arguments: {} });
          try {
            const until = Date.now() + 10_000;
            while (updates.subscriber.length === 0 && Date.now() < until) {
              await new Promise((r) => setTimeout(r, 25));
            }
            assert.ok(updates.subscriber.includes(uri), JSON.stringify(updates));
            assert.deepEqual(updates.other, []);
          } finally {
            await c.callTool({ name: "every__toggle-subscriber-updates", arguments: {} });
          }
        } finally {
          await other.close();
        }
      });

      await t.step("progress of a long operation is forwarded", async () => {
        const progress: number[] = [];
        await c.callTool(
          { name: "every__trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
          { onprogress: (p) => progress.push(p.progress) },
        );
        assert.equal(progress.length, 3);
      });
    } finally {
      await client?.close().catch(() => {});
      await node?.close();
      await http?.close();
    }
  },
});
