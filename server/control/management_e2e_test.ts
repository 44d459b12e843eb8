// Management tools, list_changed propagation, supervision of a backend that
// restarts empty, naming passthrough, and the stdio front of the CLI.
import assert from "node:assert/strict";
import { RATE_LIMITED } from "../gateway/jsonrpc_codes.ts";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import {
  config,
  processAlive,
  startNode,
  stdioBackend,
  stdioReplicas,
} from "../testing/harness.ts";
import type { GatewayInstance } from "../instance.ts";
import { waitFor } from "@safla/transports/host/testing";
import { parseManagementConfig } from "./management_config.ts";

const TEST_MANAGEMENT = parseManagementConfig({
  anonymousAdmin: true,
  registration: { commands: [{ command: Deno.execPath(), args: ["..."] }] },
});

function structured(result: unknown): Record<string, unknown> {
  return (result as { structuredContent: Record<string, unknown> }).structuredContent;
}

Deno.test({
  name: "management tools and list_changed",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir();
    let node: GatewayInstance | undefined;
    const clients: Client[] = [];
    try {
      // This node lets its anonymous callers manage it (it has no auth), and
      // run the test backend when they register it.
      node = await startNode({
        ...config({ alpha: stdioReplicas("a1") }, { naming: "passthrough" }),
        management: TEST_MANAGEMENT,
      });
      const n = node;
      const client = new Client({ name: "m", version: "1" }, {
        versionNegotiation: { mode: "legacy" },
      });
      clients.push(client);
      let toolListChanges = 0;
      client.setNotificationHandler("notifications/tools/list_changed", () => {
        toolListChanges++;
      });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${n.url}/mcp`)));
      // Notifications outside a request travel on the GET stream, which the client
      // opens on its own schedule after initializing.
      await waitFor("the client's GET stream", () => n.http.listeningCount() === 1, 15_000);

      await t.step("passthrough keeps unique names bare", async () => {
        const names = (await client.listTools()).tools.map((x) => x.name);
        assert.ok(names.includes("echo"));
        assert.ok(!names.includes("alpha__echo"));
      });

      await t.step("register_server adds a service; clients hear list_changed once", async () => {
        const spec = stdioBackend("b1", ["--empty-after-restart", `${dir}/beta.marker`]);
        const result = await client.callTool({
          name: "safla__register_server",
          arguments: {
            name: "beta",
            server: {
              command: spec.kind === "stdio" ? spec.command : "",
              args: spec.kind === "stdio" ? spec.args : [],
            },
          },
        });
        assert.equal(structured(result).registered, "beta");
        await waitFor("tools/list_changed", () => toolListChanges >= 1, 15_000);
        const names = (await client.listTools()).tools.map((x) => x.name);
        // Both services now offer `echo`, so passthrough qualifies it.
        assert.ok(names.includes("alpha__echo") && names.includes("beta__echo"), names.join(","));
        assert.ok(names.includes("whoami") === false);
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(toolListChanges, 1, "one change, one notification");
      });

      await t.step("discover_servers, status and set_strategy", async () => {
        const discovered = structured(
          await client.callTool({
            name: "safla__discover_servers",
            arguments: { tool: "whoami", healthyOnly: true },
          }),
        );
        assert.deepEqual((discovered.servers as { name: string }[]).map((x) => x.name), [
          "alpha",
          "beta",
        ]);
        const set = structured(
          await client.callTool({
            name: "safla__set_strategy",
            arguments: { strategy: "least-outstanding", service: "beta" },
          }),
        );
        assert.equal(set.strategy, "least-outstanding");
        const status = structured(await client.callTool({ name: "safla__status", arguments: {} }));
        const beta = (status.services as { name: string; strategy: string }[]).find((s) =>
          s.name === "beta"
        );
        assert.equal(beta?.strategy, "least-outstanding");
        const bad = await client.callTool({
          name: "safla__set_strategy",
          arguments: { strategy: "random" },
        }).catch((e: Error) => e);
        assert.ok(bad instanceof Error && /unknown strategy/.test(bad.message));
      });

      await t.step("the seed's *_node(s) names still answer, unlisted", async () => {
        const names = (await client.listTools()).tools.map((x) => x.name);
        assert.ok(names.includes("safla__list_servers"), names.join(","));
        assert.ok(!names.some((x) => /^safla__\w*_nodes?$/.test(x)), names.join(","));
        const listed = structured(
          await client.callTool({ name: "safla__list_nodes", arguments: {} }),
        );
        assert.deepEqual((listed.servers as { name: string }[]).map((x) => x.name), [
          "alpha",
          "beta",
        ]);
        const discovered = structured(
          await client.callTool({ name: "safla__discover_nodes", arguments: { tool: "whoami" } }),
        );
        assert.equal((discovered.servers as unknown[]).length, 2);
        const refused = await client.callTool({
          name: "safla__register_node",
          arguments: { name: "safla", server: { command: "x" } },
        }).catch((e: Error) => e);
        assert.ok(refused instanceof Error && /reserved/.test(refused.message));
      });

      await t.step("a backend that restarts with zero tools is not healthy", async () => {
        const replicas = () =>
          (n.gateway.status().services as {
            name: string;
            replicas: { state: string; pid?: number; restarts: number; tools: number }[];
          }[])
            .find((s) => s.name === "beta")!.replicas;
        assert.ok(replicas()[0].tools > 0);
        await client.callTool({ name: "arm_empty_restart", arguments: {} });
        const pid = replicas()[0].pid!;
        Deno.kill(pid, "SIGKILL");
        await waitFor(
          "restart",
          () =>
            replicas()[0].restarts >= 1 && replicas()[0].state !== "backoff" &&
            replicas()[0].state !== "connecting",
          15_000,
        );
        assert.equal(replicas()[0].state, "unhealthy", JSON.stringify(n.gateway.status()));
        const health = await (await fetch(`${n.url}/healthz`)).json();
        assert.equal(health.status, "degraded");
        assert.ok(!processAlive(pid));
      });

      await t.step(
        "unregister_node (the old name) removes the service and stops its process",
        async () => {
          const pid =
            (n.gateway.status().services as { name: string; replicas: { pid?: number }[] }[])
              .find((s) => s.name === "beta")!.replicas[0].pid!;
          await client.callTool({ name: "safla__unregister_node", arguments: { name: "beta" } });
          const names = (await client.listTools()).tools.map((x) => x.name);
          assert.ok(names.includes("echo") && !names.some((x) => x.startsWith("beta")));
          await waitFor("beta's process to exit", () => !processAlive(pid), 5_000);
        },
      );
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      await node?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "stdio front: `main.ts stdio --config FILE` serves a desktop client and leaks no process",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const file = `${dir}/gateway.json`;
    const spec = stdioBackend("s1");
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        mcpServers: {
          alpha: spec.kind === "stdio" ? { command: spec.command, args: spec.args } : {},
        },
        // The stdio front applies quotas as the HTTP fronts do.
        gateway: { quotas: [{ service: "alpha", tool: "add", ratePerSec: 0.01, burst: 1 }] },
      }),
    );
    const transport = new StdioClientTransport({
      command: Deno.execPath(),
      args: [
        "run",
        "-A",
        new URL("../main.ts", import.meta.url).pathname,
        "stdio",
        "--config",
        file,
      ],
      // The SDK passes only HOME, PATH and a few more: the child must find the
      // same Deno cache as this test (DENO_DIR), or a cold one downloads for minutes.
      env: Deno.env.toObject(),
      stderr: "inherit",
    });
    const client = new Client({ name: "desktop", version: "1" });
    let backendPid: number | undefined;
    try {
      await client.connect(transport);
      const result = await client.callTool({ name: "alpha__echo", arguments: { message: "hi" } });
      assert.deepEqual(result.content, [{ type: "text", text: "s1: hi" }]);
      await client.callTool({ name: "alpha__add", arguments: { a: 1, b: 2 } });
      await assert.rejects(
        client.callTool({ name: "alpha__add", arguments: { a: 1, b: 2 } }),
        (e) => (e as { code?: number }).code === RATE_LIMITED,
      );
      const status = structured(await client.callTool({ name: "safla__status", arguments: {} }));
      backendPid = (status.services as { replicas: { pid: number }[] }[])[0].replicas[0].pid;
      assert.ok(backendPid !== undefined && processAlive(backendPid));
    } finally {
      await client.close();
      await Deno.remove(dir, { recursive: true });
    }
    await waitFor("the gateway's backend to exit", () => !processAlive(backendPid!), 10_000);
  },
});
