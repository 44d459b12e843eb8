// Every request carries its caller to the gateway, and a 2025 session serves
// only the caller that opened it: to anyone else its id is unknown (the same
// 404), on this node and on a node that would take it over.
import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import type { Principal } from "@safla/core/access";
import type { CallContext } from "../gateway/call_context.ts";
import type { SessionDirectory, SessionRecord } from "../control/session_directory.ts";
import { generateApiKey } from "./api_keys.ts";
import {
  type AuthedApp,
  callEcho,
  mcpPost,
  openSession,
  RESOURCE,
  startAuthedApp,
} from "./testing/authed_app.ts";

const alice = generateApiKey();
const bob = generateApiKey();
const AUTH = {
  apiKeys: [
    { hash: alice.hash, subject: "alice", scopes: ["mcp"] },
    { hash: bob.hash, subject: "bob", scopes: ["mcp"] },
  ],
};
const ALICE = `Bearer ${alice.key}`;
const BOB = `Bearer ${bob.key}`;

/** Records the principal of every tool call the gateway serves. */
function watchCalls(node: AuthedApp): Principal[] {
  const seen: Principal[] = [];
  const callTool = node.gateway.callTool.bind(node.gateway);
  node.gateway.callTool = (params, ctx: CallContext) => {
    seen.push(ctx.principal!);
    return callTool(params, ctx);
  };
  return seen;
}

function sessionRequest(method: "GET" | "DELETE", id: string, authorization: string): Request {
  return new Request(RESOURCE, {
    method,
    headers: {
      host: "localhost:8080",
      accept: "text/event-stream",
      authorization,
      "mcp-session-id": id,
      "mcp-protocol-version": "2025-11-25",
    },
  });
}

async function answer(response: Response): Promise<{ status: number; body: string }> {
  return { status: response.status, body: await response.text() };
}

Deno.test("2025 sessions are bound to the principal that opened them", async (t) => {
  const node = await startAuthedApp(AUTH);
  try {
    const id = await openSession(node.app, ALICE);
    const unknown = await answer(await callEcho(node.app, crypto.randomUUID(), BOB));
    assert.equal(unknown.status, 404);

    await t.step("another principal's POST, GET and DELETE get the unknown-id 404", async () => {
      assert.deepEqual(await answer(await callEcho(node.app, id, BOB)), unknown);
      assert.deepEqual(await answer(await node.app.fetch(sessionRequest("GET", id, BOB))), unknown);
      assert.deepEqual(
        await answer(await node.app.fetch(sessionRequest("DELETE", id, BOB))),
        unknown,
      );
      assert.equal(node.backend.received.length, 0);
    });
    await t.step("the owner's session survived and still serves it", async () => {
      const response = await callEcho(node.app, id, ALICE);
      assert.equal(response.status, 200);
      await response.body?.cancel();
      assert.equal(node.backend.received.length, 1);
    });
    await t.step("legacy SSE: another principal cannot post to the owner's stream", async () => {
      const stream = await node.app.fetch(
        new Request("http://localhost:8080/sse", {
          headers: { host: "localhost:8080", authorization: ALICE },
        }),
      );
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      const first = (await reader.read()).value!;
      const endpoint = first.match(/data: (\S+)/)![1];
      const message = (authorization: string) =>
        node.app.fetch(
          new Request(`http://localhost:8080${endpoint}`, {
            method: "POST",
            headers: { host: "localhost:8080", "content-type": "application/json", authorization },
            body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
          }),
        );
      const refused = await message(BOB);
      assert.equal(refused.status, 404);
      await refused.body?.cancel();
      const accepted = await message(ALICE);
      assert.equal(accepted.status, 202);
      await accepted.body?.cancel();
      await reader.cancel();
    });
  } finally {
    await node.close();
  }
});

Deno.test("a session taken over from the directory is bound to its owner too", async () => {
  const records = new Map<string, SessionRecord>();
  const directory: SessionDirectory = {
    save: (id, record) => Promise.resolve(void records.set(id, structuredClone(record))),
    load: (id) => Promise.resolve(records.get(id)),
    remove: (id) => Promise.resolve(void records.delete(id)),
  };
  const first = await startAuthedApp(AUTH, { sessionDirectory: directory });
  const second = await startAuthedApp(AUTH, { sessionDirectory: directory });
  try {
    const id = await openSession(first.app, ALICE);
    const unknown = await answer(await callEcho(second.app, crypto.randomUUID(), BOB));
    assert.deepEqual(await answer(await callEcho(second.app, id, BOB)), unknown);
    const adopted = await callEcho(second.app, id, ALICE);
    assert.equal(adopted.status, 200);
    await adopted.body?.cancel();
  } finally {
    await first.close();
    await second.close();
  }
});

Deno.test("the caller's principal reaches the gateway on every lane", async (t) => {
  const node = await startAuthedApp(AUTH);
  const seen = watchCalls(node);
  try {
    await t.step("2025 session, direct lane and SDK lane", async () => {
      const id = await openSession(node.app, ALICE);
      for (const direct of [true, false]) {
        node.app.setDirectLane(direct);
        const response = await callEcho(node.app, id, ALICE);
        assert.equal(response.status, 200);
        await response.body?.cancel();
      }
      assert.deepEqual(seen.map((p) => [p.subject, p.source]), [
        ["alice", "apiKey"],
        ["alice", "apiKey"],
      ]);
    });
    await t.step("2026-07-28 request (stateless)", async () => {
      seen.length = 0;
      const client = new Client({ name: "modern", version: "1" });
      client.setVersionNegotiation({ mode: "auto" });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(RESOURCE), {
          fetch: (url, init) => {
            const headers = new Headers(init?.headers);
            headers.set("host", "localhost:8080");
            return Promise.resolve(node.app.fetch(new Request(url, { ...init, headers })));
          },
          requestInit: { headers: { authorization: BOB } },
        }),
      );
      try {
        assert.equal(client.getProtocolEra(), "modern");
        await client.callTool({ name: "svc__echo", arguments: {} });
      } finally {
        await client.close();
      }
      assert.deepEqual(seen.map((p) => [p.subject, p.source]), [["bob", "apiKey"]]);
    });
  } finally {
    await node.close();
  }
});

Deno.test("without auth every caller is anonymous and needs no header", async () => {
  const node = await startAuthedApp(undefined);
  const seen = watchCalls(node);
  try {
    const id = await openSession(node.app);
    const response = await callEcho(node.app, id);
    assert.equal(response.status, 200);
    await response.body?.cancel();
    assert.deepEqual(seen.map((p) => p.source), ["anonymous"]);
    const prm = await node.app.fetch(
      new Request("http://localhost:8080/.well-known/oauth-protected-resource"),
    );
    assert.equal(prm.status, 404);
    await prm.body?.cancel();
    const unauthenticated = await node.app.fetch(mcpPost({ jsonrpc: "2.0", id: 1, method: "x" }));
    assert.notEqual(unauthenticated.status, 401);
    await unauthenticated.body?.cancel();
  } finally {
    await node.close();
  }
});
