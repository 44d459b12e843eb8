import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { config, startNode, stdioReplicas } from "../testing/harness.ts";
import type { GatewayInstance } from "../instance.ts";
import { startLoneNode } from "../cluster/testing/lone_node.ts";
import { waitFor } from "@safla/transports/host/testing";
import { MAX_TOOLS_PER_SERVICE, METRICS_SCOPE, NodeMetrics } from "./metrics.ts";
import { generateApiKey } from "../auth/api_keys.ts";
import { parseConfig } from "../config.ts";
import { ADMIN_SCOPE } from "@safla/core/access";

/** The value of the one sample whose name and labels are given (in exposition order). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The status line and headers of a GET sent with a Host header of our choosing (fetch sets its own). */
async function rawGet(url: string, path: string, host: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  try {
    const request = `GET ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`;
    await conn.write(new TextEncoder().encode(request));
    const buffer = new Uint8Array(4096);
    const n = await conn.read(buffer);
    return new TextDecoder().decode(buffer.subarray(0, n ?? 0));
  } finally {
    conn.close();
  }
}

async function scrape(url: string): Promise<string> {
  const reply = await fetch(`${url}/metrics`);
  assert.equal(reply.status, 200);
  assert.match(reply.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  return await reply.text();
}

Deno.test({
  name: "/metrics counts a gateway's calls, attempts and replica states as they happen",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let node: GatewayInstance | undefined;
    let client: Client | undefined;
    try {
      node = await startNode(config({ svc: stdioReplicas("r1") }, { maxAttempts: 1 }));
      client = new Client({ name: "metrics", version: "1" });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
      const before = await scrape(node.url!);
      assert.equal(
        sample(before, 'safla_replica_state{service="svc",replica="svc#0",state="ready"}'),
        1,
        before,
      );
      assert.equal(sample(before, 'safla_sessions{era="2025"}'), 1);
      for (let i = 0; i < 3; i++) {
        await client.callTool({ name: "svc__echo", arguments: { message: `hi ${i}` } });
      }
      // The SDK answers bad arguments with a result marked isError.
      await client.callTool({ name: "svc__echo", arguments: { text: "no message" } });
      await assert.rejects(client.callTool({ name: "svc__crash", arguments: {} }));
      const after = await scrape(node.url!);
      const calls = (tool: string, outcome: string) =>
        sample(after, `safla_calls_total{service="svc",tool="${tool}",outcome="${outcome}"}`);
      assert.equal(calls("echo", "ok"), 3, after);
      assert.equal(calls("echo", "tool_error"), 1, after);
      // The replica died mid-call: the reply was lost, a write is not sent again.
      assert.equal(calls("crash", "outcome_unknown"), 1, after);
      assert.equal(
        sample(after, 'safla_call_duration_seconds_count{service="svc",tool="echo"}'),
        4,
      );
      assert.equal(
        sample(after, 'safla_attempts_total{service="svc",replica="svc#0",kind="first"}'),
        5,
      );
      assert.equal(
        sample(after, 'safla_attempt_results_total{service="svc",replica="svc#0",outcome="ok"}'),
        4,
      );
      assert.equal(
        sample(
          after,
          'safla_attempt_results_total{service="svc",replica="svc#0",outcome="unknown"}',
        ),
        1,
      );
      assert.ok(
        (sample(
          after,
          'safla_replica_state_changes_total{service="svc",replica="svc#0",' +
            'state="ready"}',
        ) ?? 0) >= 1,
      );
      // A DNS-rebinding page names another host: it gets nothing.
      assert.match(await rawGet(node.url!, "/metrics", "evil.example"), /^HTTP\/1\.1 403 /);
    } finally {
      await client?.close().catch(() => {});
      await node?.close();
    }
  },
});

Deno.test("tool names a backend chooses get at most MAX_TOOLS_PER_SERVICE series", async () => {
  const metrics = new NodeMetrics();
  for (let i = 0; i < MAX_TOOLS_PER_SERVICE + 50; i++) {
    metrics.callEnded("svc", `tool_${i}`, "ok", 1);
  }
  const { body } = await metrics.render();
  const series = body.split("\n").filter((l) => l.startsWith("safla_calls_total{"));
  assert.equal(series.length, MAX_TOOLS_PER_SERVICE + 1);
  assert.equal(sample(body, 'safla_calls_total{service="svc",tool="_other",outcome="ok"}'), 50);
});

Deno.test({
  name: "a cluster node's /metrics reports Raft, the WAL and the KV store",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { node, close } = await startLoneNode("metrics-test", config({}));
    try {
      await node.store.put("/metrics-test/a", "1");
      // A stranger on the peer port who sends no hello is refused and counted.
      const peer = node.host.status().addresses.n1.peer;
      const stranger = await Deno.connect({
        hostname: "127.0.0.1",
        port: Number(peer.slice(peer.lastIndexOf(":") + 1)),
      });
      await stranger.write(new Uint8Array([5, 0, 0, 0, 99, 0, 0, 0, 0]));
      await waitFor("the refusal", () => node.host.status().peerInbound.rejected === 1, 5_000);
      stranger.close();
      const text = await scrape(node.url);
      assert.equal(sample(text, 'safla_peer_connections_rejected_total{node="n1"}'), 1, text);
      assert.equal(sample(text, 'safla_peer_handshakes_in_progress{node="n1"}'), 0);
      const status = node.host.status();
      assert.equal(sample(text, 'safla_raft_is_leader{node="n1"}'), 1, text);
      assert.equal(sample(text, 'safla_raft_term{node="n1"}'), status.term);
      assert.ok((sample(text, 'safla_raft_commit_index{node="n1"}') ?? 0) >= 2);
      assert.ok((sample(text, 'safla_raft_leader_changes_total{node="n1"}') ?? 0) >= 1);
      assert.ok((sample(text, 'safla_raft_wal_entries_total{node="n1"}') ?? 0) >= 2);
      assert.ok(
        (sample(text, 'safla_raft_wal_write_duration_seconds_count{node="n1",synced="true"}') ??
          0) >= 1,
        text,
      );
      assert.ok((sample(text, 'safla_kv_revision{node="n1"}') ?? 0) >= 1);
      assert.ok((sample(text, 'safla_kv_keys{node="n1"}') ?? 0) >= 1);
      for (const line of text.split("\n").filter((l) => l.startsWith("# TYPE "))) {
        const [, , name, type] = line.split(" ");
        if (type === "counter") assert.match(name, /_total$/, line);
      }
    } finally {
      await close();
    }
  },
});

Deno.test({
  name: "with auth on, /metrics and the admin API take API keys by scope",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const scraper = generateApiKey();
    const admin = generateApiKey();
    const user = generateApiKey();
    const { node, close } = await startLoneNode(
      "metrics-auth-test",
      parseConfig({
        mcpServers: {},
        auth: {
          apiKeys: [
            { hash: scraper.hash, subject: "prometheus", scopes: [METRICS_SCOPE] },
            { hash: admin.hash, subject: "operator", scopes: [ADMIN_SCOPE] },
            { hash: user.hash, subject: "someone", scopes: [] },
          ],
        },
      }),
    );
    const get = async (path: string, key?: string) => {
      const reply = await fetch(`${node.url}${path}`, {
        headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
      });
      await reply.body?.cancel();
      return reply.status;
    };
    try {
      assert.equal(await get("/metrics"), 401);
      assert.equal(await get("/metrics", user.key), 403);
      assert.equal(await get("/metrics", scraper.key), 200);
      assert.equal(await get("/metrics", admin.key), 200);
      assert.equal(await get("/admin/status", scraper.key), 403);
      assert.equal(await get("/admin/status", admin.key), 200);
      assert.equal(await get("/admin/status", node.adminToken), 200);
    } finally {
      await close();
    }
  },
});
