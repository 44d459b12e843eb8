// /readyz of a node that fronts backends: not ready while a configured service
// is still in its first start, ready once its tools are served; a start longer
// than the connect timeout is waited out, not killed.
import assert from "node:assert/strict";
import { freePort } from "@safla/transports/host/testing";
import { config } from "../testing/harness.ts";
import { mcpRpc } from "../cluster/testing/mcp_rpc.ts";
import { startClusterNode } from "../cluster/cluster_node.ts";
import { gatewayReadiness } from "./readiness.ts";

const BACKEND_MAIN = new URL("../testing/backend_main.ts", import.meta.url).pathname;

Deno.test("gatewayReadiness: a service is loaded once ready, or once every first start failed", () => {
  const starting = { everReady: false, firstAttemptEnded: false, ready: false };
  const failed = { everReady: false, firstAttemptEnded: true, ready: false };
  const ready = { everReady: true, firstAttemptEnded: true, ready: true };
  const wentDown = { everReady: true, firstAttemptEnded: true, ready: false };
  const service = (name: string, replicas: typeof ready[], required = false) => ({
    name,
    required,
    replicas,
  });
  assert.deepEqual(
    gatewayReadiness([service("a", [ready, starting]), service("b", [failed])]),
    { ready: true, waitingFor: [] },
  );
  assert.deepEqual(
    gatewayReadiness([service("a", [failed, starting]), service("b", [ready])]),
    { ready: false, waitingFor: ["a (starting)"] },
  );
  // A backend that is down never makes the node unready, unless it is required.
  assert.deepEqual(gatewayReadiness([service("a", [wentDown]), service("b", [failed])]), {
    ready: true,
    waitingFor: [],
  });
  assert.deepEqual(
    gatewayReadiness([service("a", [wentDown], true), service("b", [failed], true)]),
    { ready: false, waitingFor: ["a (required, down)", "b (required, down)"] },
  );
  assert.deepEqual(gatewayReadiness([]), { ready: true, waitingFor: [] });
});

Deno.test({
  name: "readyz: 503 naming the service while its backend starts, 200 once its tool answers",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "readyz-" });
    const log = `${dir}/starts`;
    // A backend that takes 2.5 s to start (as `npx` does while installing),
    // five times the connect timeout.
    const slow = {
      command: "sh",
      args: [
        "-c",
        `echo start >> '${log}'; sleep 2.5; exec '${Deno.execPath()}' run -A '${BACKEND_MAIN}'`,
      ],
    };
    const node = await startClusterNode({
      nodeId: "n1",
      clusterId: "readyz-test",
      secret: "readyz-test-secret-0123",
      dataDir: `${dir}/n1`,
      members: { n1: { peer: `127.0.0.1:${freePort()}`, url: `http://127.0.0.1:${freePort()}` } },
      gatewayConfig: config({ slow }, { connectTimeoutMs: 500, startTimeoutMs: 30_000 }),
      requestTimeoutMs: 2_000,
    });
    try {
      const deadline = Date.now() + 30_000;
      let sawWaiting = false;
      let status = 0;
      while (Date.now() < deadline) {
        const reply = await fetch(`${node.url}/readyz`);
        const body = await reply.json();
        status = reply.status;
        if (status === 200) break;
        if (String(body.reason).includes("slow")) sawWaiting = true;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 200, "ready within 30 s");
      assert.ok(sawWaiting, "the 503 body named the service it waited for");
      // Ready means served: the first call after readiness reaches the backend.
      const init = await mcpRpc(node.url, {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "readyz-test", version: "1" },
        },
      });
      assert.ok(init.sessionId, JSON.stringify(init.body));
      const call = await mcpRpc(node.url, {
        jsonrpc: "2.0",
        id: 2,
        method: "tools/call",
        params: { name: "slow__echo", arguments: { message: "hi" } },
      }, init.sessionId!);
      assert.equal(call.error, undefined, JSON.stringify(call.error));
      assert.match(JSON.stringify(call.result), /hi/);
      const starts = (await Deno.readTextFile(log)).trim().split("\n").length;
      assert.equal(starts, 1, "the slow start was waited out, not killed and respawned");
    } finally {
      await node.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
