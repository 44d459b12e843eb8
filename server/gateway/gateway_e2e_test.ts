// End-to-end: a gateway node on loopback in front of stdio and HTTP test
// backends, driven by real SDK clients of both lines (v2 in both eras, v1).
import assert from "node:assert/strict";
import {
  Client,
  SSEClientTransport,
  StreamableHTTPClientTransport,
} from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1StreamableHTTP } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { SSEClientTransport as V1SSE } from "@modelcontextprotocol/sdk/client/sse.js";
import { OUTCOME_UNKNOWN, SERVICE_UNAVAILABLE } from "./jsonrpc_codes.ts";
import {
  config,
  type HttpBackend,
  processAlive,
  spawnHttpBackend,
  startNode,
  stdioReplicas,
} from "../testing/harness.ts";
import type { GatewayInstance } from "../instance.ts";
import { waitFor } from "@safla/transports/host/testing";

type Era = "auto" | "legacy";

function v2Client(): Client {
  const client = new Client({ name: "e2e", version: "1" }, {
    capabilities: { sampling: {}, elicitation: { form: {} } },
  });
  client.setRequestHandler("sampling/createMessage", () => ({
    role: "assistant",
    content: { type: "text", text: "llm says hi" },
    model: "test-model",
  }));
  client.setRequestHandler("elicitation/create", () => ({
    action: "accept",
    content: { username: "bob" },
  }));
  return client;
}

async function connectV2(node: GatewayInstance, era: Era): Promise<Client> {
  const client = v2Client();
  client.setVersionNegotiation({ mode: era });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
  return client;
}

function textOf(result: unknown): string {
  const content = (result as { content: { type: string; text?: string }[] }).content;
  return content.map((c) => c.text ?? `[${c.type}]`).join("|");
}

async function expectCode(
  promise: Promise<unknown>,
  code: number,
  pattern?: RegExp,
): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.equal((error as { code?: number }).code, code, String(error));
    if (pattern) assert.match((error as Error).message, pattern);
    return error as Error;
  }
  assert.fail(`expected JSON-RPC error ${code}`);
}

interface ReplicaStatus {
  id: string;
  state: string;
  era?: string;
  pid?: number;
  restarts: number;
  tools: number;
}

function replicas(node: GatewayInstance, service: string): ReplicaStatus[] {
  const services = node.gateway.status().services as { name: string; replicas: ReplicaStatus[] }[];
  return services.find((s) => s.name === service)?.replicas ?? [];
}

Deno.test({
  name: "gateway end to end",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    let http: HttpBackend | undefined;
    let node: GatewayInstance | undefined;
    const clients: { close(): Promise<void> }[] = [];
    const pids = new Set<number>();
    try {
      http = await spawnHttpBackend("h1", { resourceUpdates: true });
      node = await startNode(config({
        alpha: { ...stdioReplicas("a1", "a2"), strategy: "round-robin", timeoutMs: 20_000 },
        beta: { url: http.url },
        ghost: { command: "/nonexistent/safla-no-such-binary" },
      }, { maxAttempts: 3 }));
      const n = node;
      for (const r of replicas(n, "alpha")) if (r.pid) pids.add(r.pid);

      await t.step("replicas of one service appear once; management tools are listed", async () => {
        const client = await connectV2(n, "auto");
        clients.push(client);
        const names = (await client.listTools()).tools.map((t) => t.name);
        assert.equal(names.filter((x) => x === "alpha__echo").length, 1);
        assert.ok(names.includes("beta__echo"));
        assert.ok(names.includes("safla__status"));
        assert.ok(!names.some((x) => x.startsWith("ghost")), "a dead service lists nothing");
      });

      for (const era of ["auto", "legacy"] as const) {
        await t.step(
          `v2 client (${era}): calls, progress, sampling, elicitation, reads`,
          async () => {
            const client = await connectV2(n, era);
            clients.push(client);
            assert.equal(client.getProtocolEra(), era === "auto" ? "modern" : "legacy");
            const served = new Set<string>();
            for (let i = 0; i < 4; i++) {
              served.add(textOf(await client.callTool({ name: "alpha__whoami", arguments: {} })));
            }
            assert.deepEqual([...served].sort(), ["a1", "a2"], "round robin reaches both replicas");

            const progress: number[] = [];
            const slow = await client.callTool(
              { name: "alpha__slow", arguments: { steps: 3, stepMs: 5 } },
              { onprogress: (p) => progress.push(p.progress) },
            );
            assert.match(textOf(slow), /done after 3 steps/);
            assert.deepEqual(progress, [1, 2, 3]);

            // alpha speaks 2026 and asks with input_required: for a 2025 client the
            // SDK lane turns that into a sampling request (the direct lane does not).
            assert.ok(replicas(n, "alpha").every((r) => r.era === "modern"));
            const sampled = await client.callTool({
              name: "alpha__test_sampling",
              arguments: { prompt: "hello" },
            });
            assert.equal(textOf(sampled), "LLM response: llm says hi");
            const elicited = await client.callTool({
              name: "beta__test_elicitation",
              arguments: { message: "who?" },
            });
            assert.match(textOf(elicited), /action=accept, content=\{"username":"bob"\}/);

            const read = await client.readResource({ uri: "test://template/42/data" });
            assert.match(JSON.stringify(read.contents), /Data for ID: 42/);
            if (era === "legacy") {
              assert.ok(!("ttlMs" in read), "no 2026 cache fields on 2025 wire");
            }
            const prompt = await client.getPrompt({
              name: "alpha__test_prompt_with_arguments",
              arguments: { arg1: "x", arg2: "y" },
            });
            assert.match(JSON.stringify(prompt.messages), /arg1='x', arg2='y'/);
            const completion = await client.complete({
              ref: { type: "ref/prompt", name: "alpha__test_prompt_with_arguments" },
              argument: { name: "arg1", value: "g" },
            });
            assert.deepEqual(completion.completion.values, ["gamma"]);
            const templates = await client.listResourceTemplates();
            assert.ok(
              templates.resourceTemplates.some((x) =>
                x.uriTemplate === "test://template/{id}/data"
              ),
            );

            await expectCode(client.callTool({ name: "nope", arguments: {} }), -32602, /nope/);
            // A backend's own JSON-RPC error keeps its code through the gateway.
            await expectCode(
              client.getPrompt({ name: "alpha__test_prompt_with_arguments", arguments: {} }),
              -32602,
            );
          },
        );
      }

      await t.step("v1 SDK client over Streamable HTTP and over the legacy SSE front", async () => {
        for (
          const transport of [
            new V1StreamableHTTP(new URL(`${n.url}/mcp`)),
            new V1SSE(new URL(`${n.url}/sse`)),
          ]
        ) {
          const client = new V1Client({ name: "v1", version: "1" });
          clients.push(client);
          await client.connect(transport);
          const tools = await client.listTools();
          assert.ok(tools.tools.some((x: { name: string }) => x.name === "beta__add"));
          const sum = await client.callTool({ name: "beta__add", arguments: { a: 2, b: 3 } });
          assert.deepEqual(sum.structuredContent, { sum: 5 });
          await client.close();
        }
      });

      await t.step("v2 client over the legacy SSE front", async () => {
        const client = v2Client();
        clients.push(client);
        await client.connect(new SSEClientTransport(new URL(`${n.url}/sse`)));
        assert.equal(
          textOf(await client.callTool({ name: "beta__echo", arguments: { message: "m" } })),
          "h1: m",
        );
        await client.close();
      });

      await t.step("cancellation reaches the upstream that runs the call, every time", async () => {
        // Ten in a row: a cancellation lost now and then (as when Deno's fetch
        // dropped the abort of a collected request, see abortable_fetch.ts)
        // shows up here, not only in the GC test of that module.
        const client = await connectV2(n, "legacy");
        clients.push(client);
        const cancelled = async () =>
          Number(
            textOf(await client.callTool({ name: "beta__count", arguments: { key: "cancelled" } })),
          );
        for (let round = 0; round < 10; round++) {
          const before = await cancelled();
          const controller = new AbortController();
          const call = client.callTool(
            { name: "beta__slow", arguments: { steps: 100, stepMs: 50 } },
            { signal: controller.signal, onprogress: () => controller.abort() },
          );
          await assert.rejects(call);
          await waitFor(
            `the backend to see cancellation ${round + 1}`,
            async () => (await cancelled()) === before + 1,
            4_000,
            25,
          );
        }
      });

      await t.step(
        "a replica killed mid-call: read-only fails over, a write reports unknown outcome",
        async () => {
          const client = await connectV2(n, "legacy");
          clients.push(client);
          n.gateway.setStrategy("round-robin", "alpha");
          const victimOf = async (): Promise<ReplicaStatus> => {
            // The next round-robin pick is the replica that did not serve the last call.
            const last = textOf(await client.callTool({ name: "alpha__whoami", arguments: {} }));
            const next = last === "a1" ? "alpha#1" : "alpha#0";
            return replicas(n, "alpha").find((r) => r.id === next)!;
          };

          let victim = await victimOf();
          const readOnly = client.callTool({
            name: "alpha__slow",
            arguments: { steps: 20, stepMs: 50 },
          });
          await new Promise((r) => setTimeout(r, 150));
          Deno.kill(victim.pid!, "SIGKILL");
          assert.match(
            textOf(await readOnly),
            /done after 20 steps/,
            "failed over to the survivor",
          );

          await waitFor(
            "restart",
            () => replicas(n, "alpha").every((r) => r.state === "ready"),
            15_000,
          );
          for (const r of replicas(n, "alpha")) if (r.pid) pids.add(r.pid);
          const restarted = replicas(n, "alpha").find((r) => r.id === victim.id)!;
          assert.ok(restarted.restarts >= 1);
          assert.notEqual(restarted.pid, victim.pid);
          assert.ok(restarted.tools > 0, "catalog re-discovered after restart");

          victim = await victimOf();
          const write = client.callTool({
            name: "alpha__increment",
            arguments: { key: "k", delayMs: 1_000 },
          });
          await new Promise((r) => setTimeout(r, 150));
          Deno.kill(victim.pid!, "SIGKILL");
          const error = await expectCode(write, OUTCOME_UNKNOWN, /may or may not have run/);
          assert.match(error.message, /alpha/);
          await waitFor(
            "restart",
            () => replicas(n, "alpha").every((r) => r.state === "ready"),
            15_000,
          );
          for (const r of replicas(n, "alpha")) if (r.pid) pids.add(r.pid);
        },
      );

      await t.step(
        "a dead service gives a clear error naming it; the rest keeps working",
        async () => {
          const health = await (await fetch(`${n.url}/healthz`)).json();
          assert.equal(health.status, "degraded");
          const ghost = replicas(n, "ghost")[0];
          assert.equal(ghost.state === "backoff" || ghost.state === "connecting", true);

          await http!.close();
          const client = await connectV2(n, "legacy");
          clients.push(client);
          const error = await expectCode(
            client.callTool({ name: "beta__echo", arguments: { message: "x" } }),
            SERVICE_UNAVAILABLE,
            /service "beta" is unavailable/,
          );
          assert.ok(error.message.length < 500, "the message is short enough to read");
          assert.equal(
            textOf(await client.callTool({ name: "alpha__echo", arguments: { message: "ok" } }))
              .endsWith("ok"),
            true,
          );
        },
      );
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      await node?.close();
      await http?.close();
    }
    for (const pid of pids) {
      await waitFor(`stdio child ${pid} to exit`, () => !processAlive(pid), 5_000);
    }
  },
});
