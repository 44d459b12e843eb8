import assert from "node:assert/strict";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { decodeCursor, encodeCursor, type ListMethodKind, listPage } from "./list_pages.ts";
import { config, type HttpBackend, spawnHttpBackend, startNode } from "../testing/harness.ts";
import type { GatewayInstance } from "../instance.ts";

const tools = (names: string[]) => names.map((name) => ({ name }));

/** Follows nextCursor from the start; every page is checked against the size bound. */
function followAll<T extends Record<string, unknown>>(
  kind: ListMethodKind,
  list: () => readonly T[],
  pageSize: number,
  betweenPages: (page: number) => void = () => {},
): T[] {
  const seen: T[] = [];
  let cursor: string | undefined;
  for (let page = 0;; page++) {
    assert.ok(page <= 100, "paging ends");
    const result = listPage(kind, list(), cursor, pageSize);
    assert.ok(result.items.length <= pageSize);
    seen.push(...result.items);
    if (result.nextCursor === undefined) return seen;
    cursor = result.nextCursor;
    betweenPages(page);
  }
}

Deno.test("listPage", async (t) => {
  await t.step("a list of one page goes out whole, in its own order, without a cursor", () => {
    const list = tools(["z", "a", "m"]);
    const page = listPage("tools", list, undefined, 3);
    assert.deepEqual(page.items.map((i) => i.name), ["z", "a", "m"]);
    assert.equal(page.nextCursor, undefined);
  });

  await t.step("a long list pages in key order; following nextCursor gets each once", () => {
    const names = Array.from({ length: 23 }, (_, i) => `t${String((i * 7) % 23).padStart(2, "0")}`);
    const all = followAll("tools", () => tools(names), 5);
    assert.deepEqual(all.map((i) => i.name), [...names].sort());
  });

  await t.step("items removed or added between pages: no repeat, no crash", () => {
    let list = tools(["a", "b", "c", "d", "e", "f", "g"]);
    const seen = followAll("tools", () => list, 2, (page) => {
      // After "a", "b": "c" goes away, "bb" (behind the cursor's next key) and "h" appear.
      if (page === 0) list = tools(["a", "b", "bb", "d", "e", "f", "g", "h"]);
    });
    const names = seen.map((i) => i.name);
    assert.deepEqual(names, ["a", "b", "bb", "d", "e", "f", "g", "h"]);
    assert.equal(new Set(names).size, names.length);
    let shrinking = tools(["a", "b", "c", "d"]);
    const cut = followAll("tools", () => shrinking, 2, () => shrinking = tools(["a"]));
    assert.deepEqual(cut.map((i) => i.name), ["a", "b"], "a list emptied behind the cursor ends");
  });

  await t.step("resources and templates page by URI; twin templates both show", () => {
    const resources = Array.from({ length: 5 }, (_, i) => ({ uri: `file:///r${i}` }));
    assert.equal(followAll("resources", () => resources, 2).length, 5);
    const templates = [
      { uriTemplate: "x://{id}", name: "one" },
      { uriTemplate: "x://{id}", name: "two" },
      { uriTemplate: "a://{id}", name: "three" },
    ];
    const pages = followAll("resourceTemplates", () => templates, 1);
    assert.deepEqual(pages.map((p) => p.name), ["three", "one", "two"]);
  });

  await t.step("a cursor not made by us, or for another list, is invalid params", () => {
    const bad: unknown[] = ["", "not-base64!", btoa("{}"), "x".repeat(20_000), 42];
    for (const cursor of bad) {
      assert.throws(
        () => listPage("tools", tools(["a"]), cursor, 1),
        (e: Error & { code?: number }) => e.code === -32602 && /invalid cursor/.test(e.message),
        String(cursor).slice(0, 20),
      );
    }
    assert.throws(
      () => decodeCursor("tools", encodeCursor("prompts", "a")),
      /belongs to prompts/,
    );
    assert.equal(decodeCursor("tools", encodeCursor("tools", "naïve/ü")), "naïve/ü");
  });
});

Deno.test({
  name: "the gateway pages tools/list for clients of both eras",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    let backend: HttpBackend | undefined;
    let node: GatewayInstance | undefined;
    const clients: Client[] = [];
    try {
      backend = await spawnHttpBackend("p1", { extraTools: 12 });
      node = await startNode(config({ pages: { url: backend.url } }, { listPageSize: 4 }));
      const gateway = node.gateway;
      const expected = await (async () => {
        for (let i = 0; i < 200 && gateway.listTools().length < 12; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        return gateway.listTools().map((t) => t.name).sort();
      })();
      assert.ok(expected.length > 12, `backend tools listed: ${expected.length}`);
      for (const era of ["auto", "legacy"] as const) {
        const client = new Client({ name: "pages", version: "1" });
        client.setVersionNegotiation({ mode: era });
        clients.push(client);
        await client.connect(new StreamableHTTPClientTransport(new URL(`${node.url}/mcp`)));
        assert.equal(client.getProtocolEra(), era === "auto" ? "modern" : "legacy");
        const names: string[] = [];
        let cursor: string | undefined;
        for (let page = 0;; page++) {
          assert.ok(page < 50, "paging ends");
          const result = await client.request({
            method: "tools/list",
            params: cursor === undefined ? {} : { cursor },
          }) as { tools: { name: string }[]; nextCursor?: string };
          assert.ok(result.tools.length <= 4, `${era}: page of ${result.tools.length}`);
          names.push(...result.tools.map((t) => t.name));
          cursor = result.nextCursor;
          if (cursor === undefined) break;
        }
        assert.deepEqual(names, expected, `${era}: every tool once, in name order`);
        const aggregated = (await client.listTools()).tools.map((t) => t.name);
        assert.deepEqual(aggregated, expected, `${era}: the SDK client follows nextCursor`);
        await assert.rejects(
          client.listTools({ cursor: "forged" }),
          (e: Error & { code?: number }) => e.code === -32602,
          era,
        );
      }
    } finally {
      for (const client of clients) await client.close().catch(() => {});
      await node?.close();
      await backend?.close();
    }
  },
});
