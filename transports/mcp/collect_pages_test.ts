// Reading a backend's catalog is bounded: a nextCursor that never runs out,
// that loops, or a list too long fails discovery with an error naming the
// backend and the list.
import assert from "node:assert/strict";
import { SdkError, SdkErrorCode } from "@modelcontextprotocol/client";
import { collectPages, LIST_PAGE_LIMIT, MAX_LIST_ITEMS, McpBackend } from "./backend.ts";

type Page = { items: number[]; nextCursor?: string };

Deno.test("collectPages", async (t) => {
  await t.step("follows nextCursor to the end", async () => {
    const pages: Record<string, Page> = {
      start: { items: [1, 2], nextCursor: "b" },
      b: { items: [3], nextCursor: "c" },
      c: { items: [4] },
    };
    const all = await collectPages(
      "x",
      (c) => Promise.resolve(pages[c ?? "start"]),
      (r) => r.items,
    );
    assert.deepEqual(all, [1, 2, 3, 4]);
  });

  await t.step("a cursor seen before is a loop", async () => {
    let calls = 0;
    const looping = (cursor: string | undefined) => {
      calls++;
      return Promise.resolve({ items: [1], nextCursor: cursor === "a" ? "b" : "a" });
    };
    await assert.rejects(
      collectPages("b1: tools/list", looping, (r) => r.items),
      /b1: tools\/list: nextCursor repeats a cursor \(a loop\)/,
    );
    assert.equal(calls, 3);
  });

  await t.step("pages that never end stop at the page bound", async () => {
    let calls = 0;
    const endless = () => Promise.resolve({ items: [1], nextCursor: `c${calls++}` });
    await assert.rejects(
      collectPages("b1: prompts/list", endless, (r) => r.items),
      new RegExp(`b1: prompts/list: more than ${LIST_PAGE_LIMIT} pages`),
    );
    assert.equal(calls, LIST_PAGE_LIMIT);
  });

  await t.step("the SDK's own page bound gets the same clear error", async () => {
    const sdk = () =>
      Promise.reject(new SdkError(SdkErrorCode.ListPaginationExceeded, "exceeded listMaxPages"));
    await assert.rejects(
      collectPages("b1: tools/list", sdk, (r: Page) => r.items),
      /b1: tools\/list: more than 100 pages/,
    );
  });

  await t.step("too many items are refused", async () => {
    const huge = () => Promise.resolve({ items: new Array(MAX_LIST_ITEMS + 1).fill(0) });
    await assert.rejects(
      collectPages("b1: resources/list", huge, (r) => r.items),
      new RegExp(`more than ${MAX_LIST_ITEMS} items`),
    );
  });
});

/** A 2025 MCP server over plain JSON responses whose tools/list never stops paging. */
function endlessServer(): { url: string; listCalls: () => number; close: () => Promise<void> } {
  let listCalls = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    if (req.method !== "POST") return new Response(null, { status: 405 });
    const message = await req.json();
    if (message.id === undefined) return new Response(null, { status: 202 });
    const reply = (result: unknown) => Response.json({ jsonrpc: "2.0", id: message.id, result });
    switch (message.method) {
      case "initialize":
        return reply({
          protocolVersion: "2025-06-18",
          capabilities: { tools: {} },
          serverInfo: { name: "endless", version: "1" },
        });
      case "tools/list": {
        const n = listCalls++;
        return reply({
          tools: [{ name: `t${n}`, inputSchema: { type: "object" } }],
          nextCursor: `page-${n + 1}`,
        });
      }
      default:
        return Response.json({
          jsonrpc: "2.0",
          id: message.id,
          error: { code: -32601, message: "method not found" },
        });
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/mcp`,
    listCalls: () => listCalls,
    close: () => server.shutdown(),
  };
}

Deno.test({
  name: "McpBackend: a backend whose tools/list never stops paging fails to connect, bounded",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const server = endlessServer();
    const backend = new McpBackend({
      label: "endless#0",
      spec: { kind: "streamable-http", url: server.url },
      requestTimeoutMs: 2_000,
      connectTimeoutMs: 5_000,
      initialBackoffMs: 60_000,
      maxBackoffMs: 60_000,
      eraCache: new Map(),
    });
    try {
      await backend.start();
      assert.equal(backend.state, "backoff");
      assert.ok(
        server.listCalls() <= LIST_PAGE_LIMIT,
        `${server.listCalls()} pages read, bound ${LIST_PAGE_LIMIT}`,
      );
      assert.match(
        String(backend.lastError?.message),
        /endless#0: tools\/list: more than 100 pages/,
      );
    } finally {
      await backend.close();
      await server.close();
    }
  },
});
