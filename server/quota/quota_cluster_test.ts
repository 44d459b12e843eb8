// A quota on a real 3-node cluster: calls spread over every node, each node
// admitting from slices of the one replicated bucket. The total admitted
// stays within burst + rate x elapsed; the rest get RATE_LIMITED with a hint.
import assert from "node:assert/strict";
import { generateSecret } from "../cluster/cluster_args.ts";
import { LocalCluster } from "../cluster/local_cluster.ts";
import { mcpRpc, SESSION_PROTOCOL_VERSION } from "../cluster/testing/mcp_rpc.ts";
import { stdioBackend } from "../testing/harness.ts";
import { RATE_LIMITED } from "../gateway/jsonrpc_codes.ts";

const RATE_PER_SEC = 5;
const BURST = 10;
const CALLS_PER_NODE = 60;

Deno.test("a quota holds across a 3-node cluster: calls admitted <= burst + rate x elapsed", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "quota-cluster-" });
  const backend = stdioBackend("r1") as { command: string; args: string[] };
  const configFile = `${dataDir}/config.json`;
  await Deno.writeTextFile(
    configFile,
    JSON.stringify({
      mcpServers: { svc: { command: backend.command, args: backend.args } },
      gateway: { quotas: [{ service: "svc", ratePerSec: RATE_PER_SEC, burst: BURST }] },
    }),
  );
  const cluster = await LocalCluster.start({
    nodes: 3,
    basePort: 0,
    dataDir,
    secret: generateSecret(),
    clusterId: "quota",
    configFile,
  });
  try {
    await cluster.waitForLeader(30_000);
    await cluster.waitForReady(20_000);
    const sessions: Array<{ url: string; id: string }> = [];
    for (const node of cluster.ids) {
      const url = cluster.url(node);
      const opened = await mcpRpc(url, {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: SESSION_PROTOCOL_VERSION,
          capabilities: {},
          clientInfo: { name: "quota-test", version: "1" },
        },
      });
      assert.equal(opened.status, 200);
      await mcpRpc(url, { jsonrpc: "2.0", method: "notifications/initialized" }, opened.sessionId!);
      sessions.push({ url, id: opened.sessionId! });
    }
    // The backend may still be starting on some node: wait until each lists its tools.
    for (const s of sessions) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const list = await mcpRpc(s.url, { jsonrpc: "2.0", id: 2, method: "tools/list" }, s.id);
        if (JSON.stringify(list.body).includes("svc__echo")) break;
        assert.ok(Date.now() < deadline, `no svc tools at ${s.url}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }

    const started = performance.now();
    let admitted = 0;
    let limited = 0;
    let id = 10;
    // Every node's client calls every 30 ms (~100 calls/s in all, against 5/s), so that
    // refill and slices after the first matter.
    await Promise.all(sessions.map(async (s) => {
      for (let i = 0; i < CALLS_PER_NODE; i++) {
        await new Promise((r) => setTimeout(r, 30));
        const answer = await mcpRpc(s.url, {
          jsonrpc: "2.0",
          id: id++,
          method: "tools/call",
          params: { name: "svc__echo", arguments: { message: "hi" } },
        }, s.id);
        const error = answer.body?.error as
          | { code: number; message: string; data?: { retryAfterMs?: number } }
          | undefined;
        if (error === undefined) admitted++;
        else {
          assert.equal(error.code, RATE_LIMITED, JSON.stringify(error));
          assert.match(error.message, /rate limited/);
          assert.ok((error.data?.retryAfterMs ?? 0) >= 1);
          limited++;
        }
      }
    }));
    const elapsedSec = (performance.now() - started) / 1000;
    const bound = BURST + RATE_PER_SEC * elapsedSec + 1;
    console.log(
      `${admitted} admitted, ${limited} rate limited over ${elapsedSec.toFixed(1)} s ` +
        `(bound ${bound.toFixed(1)})`,
    );
    assert.ok(admitted <= bound, `${admitted} admitted > ${bound.toFixed(1)}`);
    assert.ok(admitted >= BURST, `only ${admitted} admitted`);
    assert.ok(limited > 0);
  } finally {
    await cluster.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
});
