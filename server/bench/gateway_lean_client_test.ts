// The lean load-generator client against a real SDK server (McpServer behind
// the SDK's Streamable HTTP transport, served by Deno.serve): plain JSON and
// SSE replies, notifications interleaved before the reply, JSON-RPC errors
// and a dead session counted as failed calls with their reason, and calls in
// flight that really are concurrent HTTP requests.
import assert from "node:assert/strict";
import {
  McpServer,
  ProtocolError,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import * as z from "zod";
import { LeanCallError, LeanHttpSession } from "./gateway_lean_client.ts";
import { connectClient, runEchoPhase } from "./gateway_load.ts";

interface TestServer {
  url: string;
  /** Most echo calls the server saw running at once. */
  maxInFlight: () => number;
  close(): Promise<void>;
}

/**
 * Serves `echo` (held until `holdFor` calls run at once, or 2 s), `chatty`
 * (logs twice, then echoes) and `broken` (throws a protocol error).
 */
function startServer(options: { json: boolean; holdFor?: number }): TestServer {
  let inFlight = 0;
  let maxInFlight = 0;
  let release: (() => void)[] = [];
  const holdFor = options.holdFor ?? 1;
  const createServer = () => {
    const server = new McpServer(
      { name: "lean-client-test", version: "1" },
      { capabilities: { logging: {} } },
    );
    server.registerTool("echo", { inputSchema: z.object({ message: z.string() }) }, async (
      { message },
    ) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (inFlight >= holdFor) {
        for (const go of release) go();
        release = [];
      } else {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2_000);
          release.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      inFlight--;
      return { content: [{ type: "text", text: `Echo: ${message}` }] };
    });
    server.registerTool("chatty", { inputSchema: z.object({ message: z.string() }) }, async (
      { message },
      ctx,
    ) => {
      await ctx.mcpReq.log("info", "first");
      await ctx.mcpReq.log("info", "second");
      return { content: [{ type: "text", text: `Echo: ${message}` }] };
    });
    server.registerTool("broken", { inputSchema: z.object({ message: z.string() }) }, () => {
      throw new ProtocolError(-32042, "deliberately broken");
    });
    return server;
  };
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const servers: McpServer[] = [];
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const id = req.headers.get("mcp-session-id");
    if (id !== null) {
      // An unknown id goes to some session's transport, which rejects it as the SDK does.
      const transport = sessions.get(id) ?? sessions.values().next().value;
      if (transport === undefined) return new Response("no sessions", { status: 404 });
      return await transport.handleRequest(req);
    }
    const transport: WebStandardStreamableHTTPServerTransport =
      new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        enableJsonResponse: options.json,
        onsessioninitialized: (sid) => void sessions.set(sid, transport),
      });
    const server = createServer();
    servers.push(server);
    await server.connect(transport);
    return await transport.handleRequest(req);
  });
  return {
    url: `http://127.0.0.1:${http.addr.port}/mcp`,
    maxInFlight: () => maxInFlight,
    close: async () => {
      for (const server of servers) await server.close().catch(() => {});
      await http.shutdown();
    },
  };
}

const PHASE = { calls: 40, concurrency: 4, maxPhaseMs: 10_000 };

for (const json of [true, false]) {
  Deno.test(`lean client, ${json ? "plain JSON" : "SSE"} replies`, async (t) => {
    const server = startServer({ json });
    try {
      const session = await LeanHttpSession.connect(server.url);
      assert.equal(typeof session.sessionId, "string");
      assert.equal(session.protocolVersion, "2025-06-18");
      await t.step("a reply carries the result", async () => {
        const result = await session.request("tools/call", {
          name: "echo",
          arguments: { message: "hi" },
        });
        assert.deepEqual(result, { content: [{ type: "text", text: "Echo: hi" }] });
      });
      await t.step("every echo of a phase counts as ok", async () => {
        const client = await connectClient({ kind: "http", url: server.url }, "lean", 5_000);
        const stats = await runEchoPhase(client, "echo", PHASE);
        await client.close();
        assert.equal(stats.okCalls, 40);
        assert.equal(stats.failedCalls, 0);
        assert.equal(stats.failureReasons, undefined);
      });
      await t.step("a JSON-RPC error counts as failed, with its code and message", async () => {
        await assert.rejects(
          session.request("tools/call", { name: "broken", arguments: { message: "x" } }),
          (e) => e instanceof LeanCallError && /-32042: deliberately broken/.test(e.reason),
        );
        const client = await connectClient({ kind: "http", url: server.url }, "lean", 5_000);
        const stats = await runEchoPhase(client, "broken", PHASE);
        await client.close();
        assert.equal(stats.okCalls, 0);
        assert.equal(stats.failedCalls, 40);
        assert.deepEqual(Object.keys(stats.failureReasons ?? {}), [
          "JSON-RPC error -32042: deliberately broken",
        ]);
      });
      await t.step("an ended session's id fails every call with the HTTP status", async () => {
        const client = await connectClient({ kind: "http", url: server.url }, "lean", 5_000);
        await client.close(); // DELETE: the server forgets the session
        const stats = await runEchoPhase(client, "echo", PHASE);
        assert.equal(stats.okCalls, 0);
        assert.equal(stats.failedCalls, 40);
        const reasons = Object.keys(stats.failureReasons ?? {});
        assert.equal(reasons.length, 1);
        assert.match(reasons[0], /^HTTP 404: .*Session not found/);
      });
      await session.close();
    } finally {
      await server.close();
    }
  });
}

Deno.test("lean client: notifications interleaved in an SSE reply are skipped", async () => {
  const server = startServer({ json: false });
  try {
    const session = await LeanHttpSession.connect(server.url);
    // The fixture really interleaves: the raw stream carries log messages before the result.
    const raw = await fetch(server.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": session.sessionId!,
        "mcp-protocol-version": session.protocolVersion!,
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: "raw",
        method: "tools/call",
        params: { name: "chatty", arguments: { message: "raw" } },
      }),
    });
    assert.match(raw.headers.get("content-type") ?? "", /^text\/event-stream/);
    const body = await raw.text();
    const logAt = body.indexOf("notifications/message");
    assert.ok(logAt >= 0 && logAt < body.indexOf("Echo: raw"), body);
    const result = await session.request("tools/call", {
      name: "chatty",
      arguments: { message: "lean" },
    });
    assert.deepEqual(result, { content: [{ type: "text", text: "Echo: lean" }] });
    await session.close();
  } finally {
    await server.close();
  }
});

Deno.test("lean client: 16 calls in flight reach the server as 16 concurrent requests", async () => {
  // Each echo is held until 16 run at once: fewer concurrent requests would stall 2 s each.
  const server = startServer({ json: true, holdFor: 16 });
  try {
    const client = await connectClient({ kind: "http", url: server.url }, "lean", 5_000);
    const startMs = performance.now();
    const stats = await runEchoPhase(client, "echo", {
      calls: 64,
      concurrency: 16,
      maxPhaseMs: 10_000,
    });
    const elapsedMs = performance.now() - startMs;
    await client.close();
    assert.equal(stats.okCalls, 64);
    assert.equal(server.maxInFlight(), 16);
    assert.ok(elapsedMs < 2_000, `calls were held: ${elapsedMs} ms`);
  } finally {
    await server.close();
  }
});

Deno.test("the SDK client judges a phase the same way", async () => {
  const server = startServer({ json: false });
  try {
    const client = await connectClient({ kind: "http", url: server.url }, "sdk", 5_000);
    const ok = await runEchoPhase(client, "echo", PHASE);
    const broken = await runEchoPhase(client, "broken", PHASE);
    await client.close();
    assert.equal(ok.okCalls, 40);
    assert.equal(ok.failedCalls, 0);
    assert.equal(broken.okCalls, 0);
    assert.equal(broken.failedCalls, 40);
    assert.match(Object.keys(broken.failureReasons ?? {}).join(), /deliberately broken/);
  } finally {
    await server.close();
  }
});

Deno.test("lean client: SSE framing — CRLF, comments, multi-line data, other ids", async (t) => {
  // A hand-written server, for framings the SDK server does not produce.
  let sse = "";
  const http = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const message = await req.json();
    if (message.method === "initialize") {
      return Response.json(
        { jsonrpc: "2.0", id: message.id, result: { protocolVersion: "2025-03-26" } },
        { headers: { "mcp-session-id": "s1" } },
      );
    }
    if (message.id === undefined) return new Response(null, { status: 202 });
    assert.equal(req.headers.get("mcp-session-id"), "s1");
    assert.equal(req.headers.get("mcp-protocol-version"), "2025-03-26", "the negotiated version");
    return new Response(sse.replaceAll("ID", String(message.id)), {
      headers: { "content-type": "text/event-stream" },
    });
  });
  try {
    const session = await LeanHttpSession.connect(`http://127.0.0.1:${http.addr.port}/mcp`);
    assert.equal(session.protocolVersion, "2025-03-26");
    await t.step(
      "the reply after a comment, a notification and a reply to another id",
      async () => {
        sse = ": keep-alive\r\n\r\n" +
          'event: message\r\ndata: {"jsonrpc":"2.0","method":"notifications/message"}\r\n\r\n' +
          'data: {"jsonrpc":"2.0","id":-1,"result":{"wrong":true}}\r\n\r\n' +
          'id: 7\r\ndata: {"jsonrpc":"2.0",\r\ndata: "id":ID,"result":{"ok":1}}\r\n\r\n';
        assert.deepEqual(await session.request("tools/call", {}), { ok: 1 });
      },
    );
    await t.step("a stream that ends without the reply fails", async () => {
      sse = 'data: {"jsonrpc":"2.0","method":"notifications/message"}\n\n' +
        'data: {"jsonrpc":"2.0","id":ID,"result":{}}'; // cut off before its blank line
      await assert.rejects(session.request("tools/call", {}), /ended without the reply/);
    });
    await t.step("malformed data fails with the data shown", async () => {
      sse = "data: {not json\n\n";
      await assert.rejects(session.request("tools/call", {}), /malformed SSE data: \{not json/);
    });
    await t.step("a reply without jsonrpc fails", async () => {
      sse = 'data: {"id":ID,"result":{}}\n\n';
      await assert.rejects(session.request("tools/call", {}), /no jsonrpc/);
    });
  } finally {
    await http.shutdown();
  }
});
