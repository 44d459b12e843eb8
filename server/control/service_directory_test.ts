// Runtime registration shared by two gateway nodes through a one-node Raft
// cluster's state store, and the state-store management tools.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { type RunningClusterNode, startClusterNode } from "../cluster/cluster_node.ts";
import { freeMembers } from "../cluster/local_cluster.ts";
import { type GatewayInstance, startGatewayInstance } from "../instance.ts";
import { config, processAlive, stdioBackend, stdioReplicas } from "../testing/harness.ts";
import { waitFor } from "@safla/transports/host/testing";
import { parseManagementConfig } from "./management_config.ts";

/** Anonymous callers manage these nodes (no auth) and may register the test backend. */
const TEST_MANAGEMENT = parseManagementConfig({
  anonymousAdmin: true,
  registration: { commands: [{ command: Deno.execPath(), args: ["..."] }] },
});

function structured(result: unknown): Record<string, unknown> {
  return (result as { structuredContent: Record<string, unknown> }).structuredContent;
}

async function connect(node: GatewayInstance): Promise<Client> {
  const client = new Client({ name: "dir", version: "1" }, {
    versionNegotiation: { mode: "auto" },
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
  return client;
}

Deno.test({
  name: "service directory: register_node on one node serves the service on every node",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const dir = await Deno.makeTempDir({ prefix: "service-directory-" });
    let raft: RunningClusterNode | undefined;
    const nodes: GatewayInstance[] = [];
    const clients: Client[] = [];
    const pids = new Set<number>();
    try {
      raft = await startClusterNode({
        nodeId: "n1",
        clusterId: "directory",
        secret: "service-directory-secret",
        dataDir: `${dir}/n1`,
        members: freeMembers(1),
      });
      await waitFor("a leader", () => raft!.host.status().role === "leader", 10_000);
      for (let i = 0; i < 2; i++) {
        nodes.push(
          await startGatewayInstance({
            config: { ...config({ alpha: stdioReplicas(`a${i}`) }), management: TEST_MANAGEMENT },
            port: 0,
            hostname: "127.0.0.1",
            store: raft.store,
          }),
        );
      }
      const [a, b] = nodes;
      const clientA = await connect(a);
      const clientB = await connect(b);
      clients.push(clientA, clientB);
      const services = (n: GatewayInstance) => n.gateway.serviceNames();

      await t.step("a service registered through node A appears on node B", async () => {
        const spec = stdioBackend("shared");
        const server = spec.kind === "stdio" ? { command: spec.command, args: spec.args } : {};
        await clientA.callTool({
          name: "safla__register_server",
          arguments: { name: "beta", server },
        });
        assert.ok(services(a).includes("beta"), "applied on the node that wrote it");
        await waitFor(
          "node B to apply the registration",
          () => services(b).includes("beta"),
          15_000,
        );
        await waitFor(
          "beta ready on B",
          () =>
            (b.gateway.status().services as { name: string; replicas: { state: string }[] }[])
              .find((s) => s.name === "beta")?.replicas[0].state === "ready",
          15_000,
        );
        const who = await clientB.callTool({ name: "beta__whoami", arguments: {} });
        assert.deepEqual(who.content, [{ type: "text", text: "shared" }]);
        for (const n of nodes) {
          for (const s of n.gateway.status().services as { replicas: { pid?: number }[] }[]) {
            for (const r of s.replicas) if (r.pid) pids.add(r.pid);
          }
        }
      });

      await t.step(
        "state tools: set on A, get and watch on B; gateway keys are off limits",
        async () => {
          const set = structured(
            await clientA.callTool({
              name: "safla__state_set",
              arguments: { key: "/app/x", value: "1" },
            }),
          );
          const got = structured(
            await clientB.callTool({ name: "safla__state_get", arguments: { key: "/app/x" } }),
          );
          assert.equal(got.value, "1");
          const watch = clientB.callTool({
            name: "safla__state_watch",
            arguments: {
              prefix: "/app/",
              fromRevision: (set.revision as number) + 1,
              timeoutMs: 5_000,
            },
          });
          await new Promise((r) => setTimeout(r, 200));
          await clientA.callTool({
            name: "safla__state_set",
            arguments: { key: "/app/y", value: "2" },
          });
          const events = structured(await watch).events as { key: string; value: string }[];
          assert.deepEqual(events.map((e) => [e.key, e.value]), [["/app/y", "2"]]);
          const listed = structured(
            await clientA.callTool({ name: "safla__state_list", arguments: { prefix: "/app/" } }),
          );
          assert.deepEqual((listed.kvs as { key: string }[]).map((k) => k.key), [
            "/app/x",
            "/app/y",
          ]);
          const first = structured(
            await clientA.callTool({
              name: "safla__state_list",
              arguments: { prefix: "/app/", limit: 1 },
            }),
          );
          assert.deepEqual([first.more, first.next], [true, "/app/x"]);
          const second = structured(
            await clientA.callTool({
              name: "safla__state_list",
              arguments: { prefix: "/app/", limit: 1, after: first.next },
            }),
          );
          assert.deepEqual((second.kvs as { key: string }[]).map((k) => k.key), ["/app/y"]);
          assert.equal(second.more, false);
          const badLimit = await clientA.callTool({
            name: "safla__state_list",
            arguments: { prefix: "/app/", limit: 0 },
          }).catch((e: Error) => e);
          assert.ok(
            badLimit instanceof Error && /limit must be a positive integer/.test(badLimit.message),
            String(badLimit),
          );
          // A gateway key spelled as a user key lands in the user space, not in the registry.
          await clientA.callTool({
            name: "safla__state_set",
            arguments: { key: "/gateway/services/evil", value: "{}" },
          });
          assert.equal(await raft!.store.get("/gateway/services/evil"), undefined);
          assert.ok(!a.gateway.serviceNames().includes("evil"));
        },
      );

      await t.step("a 2025 session opened on node A is served by node B", async () => {
        const post = async (node: GatewayInstance, body: unknown, session?: string) => {
          const response = await fetch(`${node.url}/mcp`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              accept: "application/json, text/event-stream",
              "mcp-protocol-version": "2025-11-25",
              ...(session === undefined ? {} : { "mcp-session-id": session }),
            },
            body: JSON.stringify(body),
          });
          const text = await response.text();
          const data = text.split("\n").find((l) => l.startsWith("data: "))?.slice(6) ?? text;
          return {
            status: response.status,
            session: response.headers.get("mcp-session-id"),
            json: data.length > 0 ? JSON.parse(data) : undefined,
          };
        };
        const init = await post(a, {
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: {
            protocolVersion: "2025-11-25",
            capabilities: {},
            clientInfo: { name: "raw", version: "1" },
          },
        });
        assert.equal(init.status, 200);
        const session = init.session!;
        await post(a, { jsonrpc: "2.0", method: "notifications/initialized" }, session);
        const onB = await post(b, { jsonrpc: "2.0", id: 2, method: "tools/list" }, session);
        assert.equal(onB.status, 200, JSON.stringify(onB));
        assert.ok(
          (onB.json.result.tools as { name: string }[]).some((x) => x.name === "alpha__echo"),
        );
        const unknown = await post(
          b,
          { jsonrpc: "2.0", id: 3, method: "tools/list" },
          "00000000-0000-0000-0000-000000000000",
        );
        assert.equal(unknown.status, 404);
      });

      await t.step("unregistering through node B removes the service from node A", async () => {
        await clientB.callTool({ name: "safla__unregister_server", arguments: { name: "beta" } });
        assert.ok(!services(b).includes("beta"));
        await waitFor("node A to apply the removal", () => !services(a).includes("beta"), 15_000);
      });
    } finally {
      for (const c of clients) await c.close().catch(() => {});
      for (const n of nodes) await n.close();
      await raft?.close();
      await Deno.remove(dir, { recursive: true });
    }
    for (const pid of pids) {
      await waitFor(`backend ${pid} to exit`, () => !processAlive(pid), 5_000);
    }
  },
});
