// The HTTP front's edge rules, driven through the Hono app in-process (no
// backends, no sockets): DNS-rebinding checks, body limits, malformed JSON-RPC.
import assert from "node:assert/strict";
import { SeededRng } from "@safla/core";
import { parseConfig } from "../config.ts";
import { Gateway } from "../gateway/gateway.ts";
import { createResumeCodec } from "./front.ts";
import { createGatewayApp, type GatewayApp } from "./app.ts";

const MAX_BODY_BYTES = 2048;

function makeApp(
  sessionIdleMs?: number,
  maxSessions = 100,
): { app: GatewayApp; gateway: Gateway } {
  const gateway = new Gateway(parseConfig({ mcpServers: {} }), {
    nowMs: () => 0,
    rng: new SeededRng(1),
  });
  const codec = createResumeCodec("k".repeat(32));
  const app = createGatewayApp({
    gateway,
    codec,
    allowedHosts: ["gateway.internal"],
    allowedOrigins: ["app.example"],
    maxRequestBodyBytes: MAX_BODY_BYTES,
    maxSessions,
    sessionIdleMs,
  });
  return { app, gateway };
}

function post(body: string, headers: Record<string, string> = {}): Request {
  return new Request("http://localhost:8080/mcp", {
    method: "POST",
    headers: {
      host: "localhost:8080",
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...headers,
    },
    body,
  });
}

async function errorOf(response: Response): Promise<{ status: number; code: number }> {
  const json = await response.json();
  return { status: response.status, code: json.error?.code };
}

const INIT = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-11-25",
    capabilities: {},
    clientInfo: { name: "t", version: "1" },
  },
});

Deno.test("http front edge rules", async (t) => {
  const { app, gateway } = makeApp();
  const fetch = (req: Request) => Promise.resolve(app.fetch(req));
  try {
    await t.step("invalid JSON is a parse error with 400", async () => {
      assert.deepEqual(await errorOf(await fetch(post("{not json"))), {
        status: 400,
        code: -32700,
      });
    });
    await t.step("JSON that is not JSON-RPC is an invalid request with 400", async () => {
      assert.deepEqual(await errorOf(await fetch(post(`{"hello":1}`))), {
        status: 400,
        code: -32600,
      });
      assert.deepEqual(await errorOf(await fetch(post(`[]`))), { status: 400, code: -32600 });
    });
    await t.step("a non-JSON content type is refused with 415", async () => {
      const res = await fetch(post(INIT, { "content-type": "text/plain" }));
      assert.equal(res.status, 415);
      await res.body?.cancel();
    });
    await t.step("a body over the limit is refused with 413 before parsing", async () => {
      const big = JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "ping",
        params: { pad: "x".repeat(MAX_BODY_BYTES) },
      });
      assert.equal((await errorOf(await fetch(post(big)))).status, 413);
    });
    await t.step("a foreign Origin is refused with 403; an allowed one passes", async () => {
      assert.equal(
        (await errorOf(await fetch(post(INIT, { origin: "http://evil.example" })))).status,
        403,
      );
      const ok = await fetch(post(INIT, { origin: "https://app.example" }));
      assert.equal(ok.status, 200);
      await ok.body?.cancel();
    });
    await t.step("a foreign Host is refused with 403; a configured one passes", async () => {
      const evil = post(INIT, { host: "evil.example" });
      assert.equal((await errorOf(await fetch(evil))).status, 403);
      const internal = post(INIT, { host: "gateway.internal:443" });
      const ok = await fetch(internal);
      assert.equal(ok.status, 200);
      assert.ok(ok.headers.get("mcp-session-id"));
      await ok.body?.cancel();
    });
    await t.step("2025 sessions: missing, unknown and valid session ids", async () => {
      const ping = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" });
      const noSession = await errorOf(
        await fetch(post(ping, { "mcp-protocol-version": "2025-11-25" })),
      );
      assert.equal(noSession.status, 400);
      const unknown = await errorOf(await fetch(post(ping, { "mcp-session-id": "nope" })));
      assert.deepEqual(unknown, { status: 404, code: -32001 });
      assert.equal(
        (await fetch(new Request("http://localhost/mcp", { headers: { host: "localhost" } })))
          .status,
        405,
      );
      const opened = await fetch(post(INIT));
      const session = opened.headers.get("mcp-session-id")!;
      await opened.body?.cancel();
      assert.ok(app.sessionCount() >= 1);
      const closed = await fetch(
        new Request("http://localhost/mcp", {
          method: "DELETE",
          headers: { host: "localhost", "mcp-session-id": session },
        }),
      );
      assert.equal(closed.status, 200);
      await closed.body?.cancel();
    });
    await t.step(
      "an HTTP+SSE session's id is unknown to /mcp, and /messages needs it",
      async () => {
        const sse = await fetch(
          new Request("http://localhost/sse", { headers: { host: "localhost" } }),
        );
        assert.equal(sse.status, 200);
        const reader = sse.body!.getReader();
        const first = new TextDecoder().decode((await reader.read()).value);
        const id = first.match(/sessionId=([\w-]+)/)?.[1];
        assert.ok(id, first);
        const ping = JSON.stringify({ jsonrpc: "2.0", id: 3, method: "ping" });
        assert.deepEqual(await errorOf(await fetch(post(ping, { "mcp-session-id": id }))), {
          status: 404,
          code: -32001,
        });
        const toMessages = (sessionId: string) =>
          fetch(
            new Request(`http://localhost/messages?sessionId=${sessionId}`, {
              method: "POST",
              headers: { host: "localhost", "content-type": "application/json" },
              body: ping,
            }),
          );
        assert.deepEqual(await errorOf(await toMessages("nope")), { status: 404, code: -32001 });
        const accepted = await toMessages(id);
        assert.equal(accepted.status, 202);
        await accepted.body?.cancel();
        let answer = "";
        while (!answer.includes('"id":3')) {
          const next = await reader.read();
          if (next.done) break;
          answer += new TextDecoder().decode(next.value);
        }
        const data = answer.split("\n").find((line) => line.startsWith("data: "));
        assert.deepEqual(JSON.parse(data!.slice(6)), { jsonrpc: "2.0", id: 3, result: {} });
        await reader.cancel();
      },
    );
    await t.step("/healthz answers with the gateway state", async () => {
      const res = await fetch(new Request("http://localhost/healthz"));
      assert.equal(res.status, 200);
      const json = await res.json();
      assert.equal(json.status, "ok");
      assert.deepEqual(json.services, []);
    });
  } finally {
    await app.close();
    await gateway.close();
  }
});

Deno.test("idle 2025 sessions are closed", async () => {
  const { app, gateway } = makeApp(1_000);
  try {
    const opened = await app.app.fetch(post(INIT));
    await opened.body?.cancel();
    assert.equal(app.sessionCount(), 1);
    const deadline = Date.now() + 5_000;
    while (app.sessionCount() > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(app.sessionCount(), 0);
  } finally {
    await app.close();
    await gateway.close();
  }
});

Deno.test("the session limit comes from the options: with every session in use, one more initialize or SSE stream gets 503", async () => {
  const { app, gateway } = makeApp(undefined, 2);
  try {
    for (let i = 0; i < 2; i++) {
      const opened = await app.app.fetch(post(INIT));
      assert.equal(opened.status, 200);
      await opened.body?.cancel();
      const id = opened.headers.get("mcp-session-id")!;
      const ping = await app.app.fetch(post(`{"jsonrpc":"2.0","id":2,"method":"ping"}`, {
        "mcp-session-id": id,
      }));
      await ping.body?.cancel();
    }
    assert.deepEqual(await errorOf(await app.app.fetch(post(INIT))), { status: 503, code: -32600 });
    const sse = await app.app.fetch(
      new Request("http://localhost:8080/sse", { headers: { host: "localhost:8080" } }),
    );
    assert.equal(sse.status, 503);
    await sse.body?.cancel();
    assert.equal(app.sessionCount(), 2);
  } finally {
    await app.close();
    await gateway.close();
  }
});
