// Issue 11: 5,000 `initialize` calls filled a node's session slots for 30
// minutes (each also a Raft write). Sessions never used beyond their handshake
// now give way to newcomers, the active ones never do, and a burst of session
// writes shares a few store transactions.
import assert from "node:assert/strict";
import { SeededRng } from "@safla/core";
import type { StateStore, TxnReply } from "../store/types.ts";
import { parseConfig } from "../config.ts";
import { Gateway } from "../gateway/gateway.ts";
import { StoreSessionDirectory } from "../control/session_directory.ts";
import { createResumeCodec } from "./front.ts";
import { createGatewayApp } from "./app.ts";

const INIT = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "t", version: "1" },
  },
};

function post(body: unknown, sessionId?: string): Request {
  return new Request("http://localhost:8080/mcp", {
    method: "POST",
    headers: {
      host: "localhost:8080",
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(sessionId === undefined ? {} : { "mcp-session-id": sessionId }),
    },
    body: JSON.stringify(body),
  });
}

/** A store that only counts its transactions, each taking `delayMs` (a consensus round). */
function countingStore(delayMs: number): StateStore & { txns: number; ops: number } {
  const store = {
    txns: 0,
    ops: 0,
    async txn(_compare: unknown[], success: unknown[]): Promise<TxnReply> {
      store.txns++;
      store.ops += success.length;
      await new Promise((r) => setTimeout(r, delayMs));
      return { succeeded: true, revision: store.txns, reads: [] };
    },
    async put(): Promise<{ revision: number; prev: [] }> {
      await store.txn([], [{}]);
      return { revision: store.txns, prev: [] };
    },
    get: () => Promise.resolve(undefined),
  };
  return store as unknown as StateStore & { txns: number; ops: number };
}

function makeApp(maxSessions: number, store?: StateStore) {
  const gateway = new Gateway(parseConfig({ mcpServers: {} }), {
    nowMs: () => 0,
    rng: new SeededRng(1),
  });
  const app = createGatewayApp({
    gateway,
    codec: createResumeCodec("k".repeat(32)),
    allowedHosts: [],
    allowedOrigins: [],
    maxRequestBodyBytes: 65536,
    maxSessions,
    sessionDirectory: store === undefined ? undefined : new StoreSessionDirectory(store),
  });
  return { app, gateway };
}

async function open(fetch: (r: Request) => Promise<Response>): Promise<Response> {
  const res = await fetch(post(INIT));
  await res.body?.cancel();
  return res;
}

Deno.test("5,000 initialize calls neither lock other clients out nor evict a client in use", async () => {
  const { app, gateway } = makeApp(50);
  const fetch = (r: Request) => Promise.resolve(app.fetch(r));
  try {
    const victim = (await open(fetch)).headers.get("mcp-session-id")!;
    assert.ok(victim);
    assert.equal(
      (await fetch(post({ jsonrpc: "2.0", method: "notifications/initialized" }, victim))).status,
      202,
    );
    const ping = async (id: number) => {
      const res = await fetch(post({ jsonrpc: "2.0", id, method: "ping" }, victim));
      await res.body?.cancel();
      return res.status;
    };
    assert.equal(await ping(2), 200);

    const statuses = new Map<number, number>();
    for (let wave = 0; wave < 50; wave++) {
      // The victim keeps using its session while the flood goes on.
      assert.equal(await ping(10 + wave), 200);
      const wave_ = await Promise.all(Array.from({ length: 100 }, () => open(fetch)));
      for (const r of wave_) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
    // Newcomers displace never-used sessions; a wave larger than the node's
    // slots finds some still opening (not evictable) and is told to retry.
    assert.deepEqual([...statuses.keys()].sort(), [200, 503]);
    assert.ok(statuses.get(200)! >= 2_000, JSON.stringify([...statuses]));
    assert.equal(app.sessionCount(), 50);
    assert.equal(await ping(3), 200, "the session in use survived the flood");
    const newcomer = await open(fetch);
    assert.equal(newcomer.status, 200, "another client can still open a session");
  } finally {
    await app.close();
    await gateway.close();
  }
});

Deno.test("when every session is active a newcomer gets 503 with Retry-After, not a hang", async () => {
  const { app, gateway } = makeApp(2);
  const fetch = (r: Request) => Promise.resolve(app.fetch(r));
  try {
    for (let i = 0; i < 2; i++) {
      const id = (await open(fetch)).headers.get("mcp-session-id")!;
      const res = await fetch(post({ jsonrpc: "2.0", id: 2, method: "ping" }, id));
      await res.body?.cancel();
    }
    const refused = await fetch(post(INIT));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "5");
    const body = await refused.json();
    assert.equal(body.error.code, -32600);
    assert.match(body.error.message, /Too many sessions: all 2 sessions of this node are active/);
  } finally {
    await app.close();
    await gateway.close();
  }
});

Deno.test("a burst of 1,000 initialize calls shares a few store writes, each awaited before its answer", async () => {
  const store = countingStore(5);
  const { app, gateway } = makeApp(2_000, store);
  const fetch = (r: Request) => Promise.resolve(app.fetch(r));
  try {
    const opened = await Promise.all(Array.from({ length: 1_000 }, () => open(fetch)));
    assert.ok(opened.every((r) => r.status === 200));
    assert.equal(store.ops, 1_000, "every session is written");
    assert.ok(store.txns <= 30, `${store.txns} store transactions for 1,000 sessions`);
  } finally {
    await app.close();
    await gateway.close();
  }
});
