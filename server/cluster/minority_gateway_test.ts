/**
 * A gateway node cut off from the quorum, end to end on a real 3-process
 * cluster whose Raft links run through a cutting relay: the isolated node
 * refuses a side-effecting tool call with a minority-partition error before it
 * reaches the backend, still answers read-only calls and `tools/list` from what
 * it holds, and takes side-effecting calls again once the partition heals.
 */
import assert from "node:assert/strict";
import { waitFor } from "@safla/transports/host/testing";
import { ProtocolError } from "@modelcontextprotocol/server";
import { type NodeId, SeededRng } from "@safla/core";
import { Gateway } from "../gateway/gateway.ts";
import { MINORITY_PARTITION } from "../gateway/jsonrpc_codes.ts";
import { config, stdioReplicas } from "../testing/harness.ts";
import { roleHasQuorum } from "./cluster_node.ts";
import { startRelayedCluster } from "./testing/partition_relay.ts";
import type { LocalCluster } from "./local_cluster.ts";
import { mcpRpc, type RpcAnswer, SESSION_PROTOCOL_VERSION } from "./testing/mcp_rpc.ts";

const RPC_TIMEOUT_MS = 10_000;

const rpc = (url: string, message: Record<string, unknown>, sessionId?: string) =>
  mcpRpc(url, message, sessionId, RPC_TIMEOUT_MS);

/** The text of a tool result's first content block. */
function resultText(answer: RpcAnswer): string {
  assert.equal(answer.error, undefined, JSON.stringify(answer.error));
  const content = answer.result?.content as { type: string; text: string }[] | undefined;
  assert.ok(content?.[0]?.type === "text", JSON.stringify(answer.result));
  return content[0].text;
}

/** Whether the node's gateway currently believes it reaches the quorum. */
async function nodeQuorum(cluster: LocalCluster, id: NodeId): Promise<boolean | undefined> {
  const response = await cluster.adminFetch(id, "/admin/registry", {
    signal: AbortSignal.timeout(1_000),
  });
  const body = await response.json() as { quorum?: boolean };
  return body.quorum;
}

Deno.test("roleHasQuorum: a leader, or a follower that knows its leader", () => {
  assert.equal(roleHasQuorum("leader", "n1"), true);
  assert.equal(roleHasQuorum("follower", "n2"), true);
  assert.equal(roleHasQuorum("follower", null), false);
  assert.equal(roleHasQuorum("preCandidate", null), false);
  assert.equal(roleHasQuorum("candidate", null), false);
});

Deno.test("Gateway.setQuorum reaches every service, also one registered while cut off", async () => {
  const gateway = new Gateway(config({ a: stdioReplicas("ra") }), {
    nowMs: () => performance.now(),
    rng: new SeededRng(7),
  });
  const ctx = { notify: () => Promise.resolve() };
  const text = async (name: string, args: Record<string, unknown>): Promise<string> => {
    const result = await gateway.callTool({ name, arguments: args }, ctx);
    return (result.content as { text: string }[])[0].text;
  };
  const refusal = async (name: string, args: Record<string, unknown>): Promise<ProtocolError> => {
    const error = await gateway.callTool({ name, arguments: args }, ctx).then(
      (result) => assert.fail(`expected a refusal, got ${JSON.stringify(result)}`),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ProtocolError, String(error));
    return error;
  };
  try {
    await gateway.start();
    assert.equal(gateway.hasQuorum, true);
    gateway.setQuorum(false, "n9");
    assert.equal(gateway.hasQuorum, false);
    await gateway.registerService(config({ b: stdioReplicas("rb") }).services[0]);
    for (const service of ["a", "b"]) {
      const error = await refusal(`${service}__increment`, { key: "k" });
      assert.equal(error.code, MINORITY_PARTITION);
      assert.match(error.message, /gateway node "n9" is in a minority partition/);
      assert.match(error.message, /Nothing was executed/);
      assert.equal(await text(`${service}__count`, { key: "k" }), "0");
    }
    gateway.setQuorum(true);
    assert.equal(await text("b__increment", { key: "k" }), "1");
    assert.equal(await text("a__increment", { key: "k" }), "1");
  } finally {
    await gateway.close();
  }
});

Deno.test("an isolated gateway node refuses side effects, serves reads and catalogs, and recovers", async (t) => {
  const dataDir = await Deno.makeTempDir({ prefix: "minority-gateway-" });
  const { cluster, relay, ids } = await startRelayedCluster({
    clusterId: "minority-gateway",
    dataDir,
    demo: true,
  });
  /** Opens a 2025 session on `url`; returns a caller of its tools and of `tools/list`. */
  const openSession = async (url: string) => {
    const opened = await rpc(url, {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: SESSION_PROTOCOL_VERSION,
        capabilities: {},
        clientInfo: { name: "minority-test", version: "1" },
      },
    });
    assert.equal(opened.status, 200, JSON.stringify(opened));
    const sessionId = opened.sessionId;
    assert.ok(sessionId, "initialize returned no Mcp-Session-Id");
    const initialized = await rpc(
      url,
      { jsonrpc: "2.0", method: "notifications/initialized" },
      sessionId,
    );
    assert.equal(initialized.status, 202);
    let nextId = 2;
    return {
      callTool: (name: string, args: Record<string, unknown>): Promise<RpcAnswer> =>
        rpc(url, {
          jsonrpc: "2.0",
          id: nextId++,
          method: "tools/call",
          params: { name, arguments: args },
        }, sessionId),
      listTools: (): Promise<RpcAnswer> =>
        rpc(url, { jsonrpc: "2.0", id: nextId++, method: "tools/list" }, sessionId),
    };
  };

  /** Cuts `isolated` off, checks what it refuses and serves, heals and checks it recovers. */
  const isolateAndRecover = async (t: Deno.TestContext, isolated: NodeId, role: string) => {
    const url = cluster.url(isolated);
    const key = `k-${role}`;
    await waitFor("the gateway to see the quorum", () => nodeQuorum(cluster, isolated), 10_000, 50);
    const session = await openSession(url);
    await waitFor(
      "the demo backend's tools",
      async () => (await session.callTool("demo__count", { key })).error === undefined,
      10_000,
      100,
    );
    assert.equal(resultText(await session.callTool("demo__count", { key })), "0");

    await t.step(`a cut-off ${role} refuses a side-effecting call without running it`, async () => {
      relay.isolate(isolated);
      await waitFor(
        "the isolated node to know it lost the quorum",
        async () => (await nodeQuorum(cluster, isolated)) === false,
        10_000,
        50,
      );
      const refused = await session.callTool("demo__increment", { key });
      assert.equal(refused.status, 200);
      assert.ok(refused.error, `expected an error, got ${JSON.stringify(refused.result)}`);
      assert.equal(refused.error.code, MINORITY_PARTITION);
      assert.match(refused.error.message, new RegExp(`gateway node "${isolated}"`));
      assert.match(refused.error.message, /minority partition/);
      assert.match(refused.error.message, /tools\/call "increment"/);
      assert.match(refused.error.message, /Nothing was executed/);
      assert.equal(refused.error.data?.executed, false);
      assert.equal(refused.error.data?.node, isolated);
      // The backend behind the node never saw it: its counter is unchanged.
      assert.equal(resultText(await session.callTool("demo__count", { key })), "0");
    });

    await t.step(`a cut-off ${role} serves read-only calls and its cached catalog`, async () => {
      assert.equal(await nodeQuorum(cluster, isolated), false);
      const echoed = await session.callTool("demo__echo", { message: "alone" });
      assert.equal(resultText(echoed), "r1: alone");
      const listed = await session.listTools();
      assert.equal(listed.error, undefined, JSON.stringify(listed.error));
      const names = (listed.result?.tools as { name: string }[]).map((tool) => tool.name);
      assert.ok(names.includes("demo__increment"), names.join(", "));
      assert.ok(names.includes("demo__count"), names.join(", "));
    });

    await t.step(`a healed ${role} runs side-effecting calls again`, async () => {
      relay.healAll();
      await waitFor(
        "the node to rejoin the quorum",
        () => nodeQuorum(cluster, isolated),
        15_000,
        50,
      );
      assert.equal(resultText(await session.callTool("demo__increment", { key })), "1");
      assert.equal(resultText(await session.callTool("demo__count", { key })), "1");
    });
  };

  try {
    const leader = await cluster.waitForLeader(30_000);
    await cluster.waitForReady(20_000);
    // A leader learns it is cut off through CheckQuorum stepping it down.
    await isolateAndRecover(t, leader, "leader");
    // A follower learns it when its election timeout passes without the leader.
    const next = await cluster.waitForLeader(10_000);
    await isolateAndRecover(t, ids.find((id) => id !== next)!, "follower");
  } finally {
    await cluster.stop();
    await relay.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
