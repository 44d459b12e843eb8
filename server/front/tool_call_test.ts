// The shared core of both tools/call lanes: the CallContext every lane hands
// the gateway, and the result a 2025 client gets.
import assert from "node:assert/strict";
import { callContext, toLegacyToolResult } from "./tool_call.ts";

const signal = new AbortController().signal;

Deno.test("callContext: logs below the client's level are dropped, the rest reach the wire", async () => {
  const sent: string[] = [];
  const ctx = callContext({ logLevel: "warning" }, {
    signal,
    meta: { progressToken: 4, other: true },
    notify: (n) => (sent.push(`${n.method}:${n.params?.level ?? ""}`), Promise.resolve()),
  });
  assert.equal(ctx.progressToken, 4);
  assert.deepEqual(ctx.meta, { progressToken: 4, other: true });
  for (const level of ["info", "warning", "error"]) {
    await ctx.notify({ method: "notifications/message", params: { level, data: "x" } });
  }
  await ctx.notify({ method: "notifications/progress", params: { progress: 1 } });
  assert.deepEqual(sent, [
    "notifications/message:warning",
    "notifications/message:error",
    "notifications/progress:",
  ]);
});

Deno.test("callContext: questions reach only a client that declared a pushed capability", async () => {
  const asked: string[] = [];
  const channel = {
    signal,
    notify: () => Promise.resolve(),
    ask: (request: { method: string }) => {
      asked.push(request.method);
      return Promise.resolve({ ok: true });
    },
  };
  const plain = callContext({ clientCapabilities: {} }, channel);
  await assert.rejects(
    plain.sendRequest!({ method: "sampling/createMessage" }),
    (e: { code?: number }) => e.code === -32601,
  );
  assert.deepEqual(asked, [], "a client that declared nothing is not asked");
  // One that declared any capability answers every question itself.
  const capable = callContext({ clientCapabilities: { sampling: {} } }, channel);
  assert.deepEqual(await capable.sendRequest!({ method: "elicitation/create" }), { ok: true });
  assert.deepEqual(asked, ["elicitation/create"]);
  const noWire = callContext({ clientCapabilities: { sampling: {} } }, {
    signal,
    notify: channel.notify,
  });
  assert.equal(noWire.sendRequest, undefined, "a wire that cannot ask offers no sendRequest");
});

Deno.test("toLegacyToolResult: what a 2025 client gets", () => {
  assert.deepEqual(
    toLegacyToolResult({ content: [{ type: "text", text: "a" }], ttlMs: 5, cacheScope: "x" }),
    { content: [{ type: "text", text: "a" }] },
    "2026 cache hints are dropped",
  );
  assert.deepEqual(toLegacyToolResult({ structuredContent: { n: 1 } }), {
    structuredContent: { n: 1 },
    content: [],
  });
  const task = { task: { taskId: "t" } };
  assert.equal(toLegacyToolResult(task), task, "another result family is the lane's to judge");
  assert.deepEqual(
    toLegacyToolResult({ resultType: "input_required", requestState: "s", ttlMs: 1 }),
    { resultType: "input_required", requestState: "s" },
  );
  assert.throws(
    () => toLegacyToolResult({ content: "text" }),
    (e: { code?: number }) => e.code === -32602,
  );
});
