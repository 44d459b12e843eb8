// Three real nodes (Raft, HTTP, stdio backends): when every local replica of
// a service on one node is down, its calls are served by the other nodes'
// replicas at once, writes included (they never ran locally), and the call
// crosses at most once.
import assert from "node:assert/strict";
import { freePort, waitFor } from "@safla/transports/host/testing";
import { config } from "../testing/harness.ts";
import { type RunningClusterNode, startClusterNode } from "../cluster/cluster_node.ts";
import { FORWARDED_CALL_PATH } from "./remote_calls.ts";

const BACKEND_MAIN = new URL("../testing/backend_main.ts", import.meta.url).pathname;
const ctx = { notify: () => Promise.resolve() };

function text(result: Record<string, unknown>): string {
  return (result.content as { text: string }[])[0].text;
}

Deno.test({
  name: "a node whose local replicas are all down serves calls through the other nodes",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "remote-calls-" });
    const ids = ["n1", "n2", "n3"];
    const members = Object.fromEntries(ids.map((id) => [id, {
      peer: `127.0.0.1:${freePort()}`,
      url: `http://127.0.0.1:${freePort()}`,
    }]));
    // Each node's replica stays down once its flag file exists.
    const service = (id: string) => ({
      command: "sh",
      args: [
        "-c",
        `test -e '${dir}/${id}-down' && exit 1; exec '${Deno.execPath()}' run -A '${BACKEND_MAIN}' --replica ${id}`,
      ],
    });
    const nodes: RunningClusterNode[] = [];
    try {
      // Started together: each node's start waits for a quorum.
      const started = await Promise.allSettled(ids.map((id) =>
        startClusterNode({
          nodeId: id,
          clusterId: "remote-calls-test",
          secret: "remote-calls-test-secret",
          dataDir: `${dir}/${id}`,
          members,
          gatewayConfig: config({ svc: service(id) }, { maxBackoffMs: 200 }),
          requestTimeoutMs: 10_000,
        })
      ));
      for (const s of started) if (s.status === "fulfilled") nodes.push(s.value);
      for (const s of started) if (s.status === "rejected") throw s.reason;
      const [n1] = nodes;
      await waitFor("a leader", () => nodes.some((n) => n.host.status().role === "leader"), 10_000);
      for (const n of nodes) {
        await waitFor("replica ready", () => n.gateway!.gateway.healthy(), 20_000);
      }
      assert.equal(text(await n1.gateway!.gateway.callTool({ name: "svc__whoami" }, ctx)), "n1");

      await Deno.writeTextFile(`${dir}/n1-down`, "");
      const status = n1.gateway!.gateway.status() as {
        services: { replicas: { pid: number }[] }[];
      };
      Deno.kill(status.services[0].replicas[0].pid, "SIGKILL");
      await waitFor("n1's replica down", () => !n1.gateway!.gateway.healthy(), 5_000);

      // n1's replica cannot come back (the marker file), so only another node can answer.
      const who = text(await n1.gateway!.gateway.callTool({ name: "svc__whoami" }, ctx));
      assert.ok(who === "n2" || who === "n3", who);
      // A write never ran locally, so it is forwarded too.
      const counted = await n1.gateway!.gateway.callTool({
        name: "svc__increment",
        arguments: { key: "k" },
      }, ctx);
      assert.match(text(counted), /1/);

      // Another node never forwards again a call that was forwarded to it.
      const n2 = nodes[1];
      await Deno.writeTextFile(`${dir}/n2-down`, "");
      const n2Status = n2.gateway!.gateway.status() as typeof status;
      Deno.kill(n2Status.services[0].replicas[0].pid, "SIGKILL");
      await waitFor("n2's replica down", () => !n2.gateway!.gateway.healthy(), 5_000);
      const token = await n2.store.authToken();
      const direct = await fetch(`${n2.url}${FORWARDED_CALL_PATH}`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-safla-cluster-auth": token },
        body: JSON.stringify({ service: "svc", method: "tools/call", params: { name: "whoami" } }),
      });
      const answer = await direct.json();
      assert.equal(answer.executed, false, JSON.stringify(answer));
      const refused = await fetch(`${n2.url}${FORWARDED_CALL_PATH}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      assert.equal(refused.status, 401);
      await refused.body?.cancel();
      // n3 still has its replica: n1's calls reach it past n2.
      for (let i = 0; i < 3; i++) {
        assert.equal(text(await n1.gateway!.gateway.callTool({ name: "svc__whoami" }, ctx)), "n3");
      }
    } finally {
      for (const n of nodes) await n.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
