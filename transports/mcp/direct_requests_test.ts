import assert from "node:assert/strict";
import { ProtocolError, SdkError, SdkErrorCode } from "@modelcontextprotocol/client";
import type { JSONRPCMessage } from "@modelcontextprotocol/server";
import { DIRECT_ID_PREFIX, DirectRequests, TIMEOUT_TICK_MS } from "./direct_requests.ts";

function wire(): { sent: Record<string, unknown>[]; requests: DirectRequests } {
  const sent: Record<string, unknown>[] = [];
  const requests = new DirectRequests((message: JSONRPCMessage) => {
    sent.push(message as Record<string, unknown>);
    return Promise.resolve();
  });
  return { sent, requests };
}

const options = { timeoutMs: 60_000, timeoutError: () => new Error("timed out") };

Deno.test("DirectRequests", async (t) => {
  await t.step("answers are matched by id, in any order, and ids are ours", async () => {
    const { sent, requests } = wire();
    const a = requests.request("tools/call", { name: "a" }, options);
    const b = requests.request("tools/call", { name: "b" }, options);
    assert.equal(sent.length, 2);
    const [ida, idb] = sent.map((m) => m.id as string);
    assert.ok(ida.startsWith(DIRECT_ID_PREFIX) && idb.startsWith(DIRECT_ID_PREFIX));
    assert.notEqual(ida, idb);
    assert.deepEqual(sent[0], {
      jsonrpc: "2.0",
      id: ida,
      method: "tools/call",
      params: { name: "a" },
    });
    assert.equal(requests.deliver({ jsonrpc: "2.0", id: idb, result: { n: "b" } }), true);
    assert.equal(requests.deliver({ jsonrpc: "2.0", id: ida, result: { n: "a" } }), true);
    assert.deepEqual(await a.result, { n: "a" });
    assert.deepEqual(await b.result, { n: "b" });
    assert.equal(requests.pendingCount, 0);
  });

  await t.step("messages that are not our answers are left to the SDK", () => {
    const { requests } = wire();
    assert.equal(requests.deliver({ jsonrpc: "2.0", id: 3, result: {} }), false);
    assert.equal(
      requests.deliver({ jsonrpc: "2.0", id: `${DIRECT_ID_PREFIX}9`, result: {} }),
      false,
    );
    assert.equal(
      requests.deliver({ jsonrpc: "2.0", id: "x", method: "roots/list" } as JSONRPCMessage),
      false,
    );
  });

  await t.step("a JSON-RPC error keeps code, message and data", async () => {
    const { sent, requests } = wire();
    const call = requests.request("tools/call", { name: "a" }, options);
    requests.deliver({
      jsonrpc: "2.0",
      id: sent[0].id as string,
      error: { code: -32099, message: "nope", data: { why: 1 } },
    });
    const error = await call.result.then(() => undefined, (e) => e);
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.code, -32099);
    assert.equal(error.message, "nope");
    assert.deepEqual(error.data, { why: 1 });
  });

  await t.step("a result must be an object; a 2026 discriminator is dropped", async () => {
    const { sent, requests } = wire();
    const bad = requests.request("tools/call", {}, options);
    const good = requests.request("tools/call", {}, options);
    requests.deliver({ jsonrpc: "2.0", id: sent[0].id as string, result: [1] as never });
    requests.deliver({
      jsonrpc: "2.0",
      id: sent[1].id as string,
      result: { resultType: "complete", content: [] },
    });
    const error = await bad.result.then(() => undefined, (e) => e);
    assert.ok(error instanceof SdkError && error.code === SdkErrorCode.InvalidResult);
    assert.deepEqual(await good.result, { content: [] });
  });

  await t.step("an abort tells the backend and rejects with the reason", async () => {
    const { sent, requests } = wire();
    const abort = new AbortController();
    const call = requests.request("tools/call", {}, { ...options, signal: abort.signal });
    const reason = new Error("client gave up");
    abort.abort(reason);
    await assert.rejects(call.result, (e) => e === reason);
    assert.deepEqual(sent[1], {
      jsonrpc: "2.0",
      method: "notifications/cancelled",
      params: { requestId: sent[0].id, reason: String(reason) },
    });
    // A late answer finds nobody waiting and is not ours any more.
    assert.equal(requests.deliver({ jsonrpc: "2.0", id: sent[0].id as string, result: {} }), false);
  });

  await t.step("a timeout tells the backend; progress moves the deadline", async () => {
    const { sent, requests } = wire();
    const timeoutMs = 4 * TIMEOUT_TICK_MS;
    const quiet = requests.request("tools/call", {}, {
      timeoutMs,
      timeoutError: () => new Error("quiet timed out"),
    });
    const busy = requests.request("tools/call", {}, {
      timeoutMs,
      timeoutError: () => new Error("busy timed out"),
    });
    const started = performance.now();
    const keepBusy = setInterval(() => busy.restartTimeout(), TIMEOUT_TICK_MS);
    try {
      await assert.rejects(quiet.result, /quiet timed out/);
      const waitedMs = performance.now() - started;
      assert.ok(waitedMs >= timeoutMs, `timed out after ${waitedMs} ms`);
      assert.equal(sent[2].method, "notifications/cancelled");
      assert.equal((sent[2].params as { requestId: string }).requestId, sent[0].id);
      assert.equal(requests.pendingCount, 1, "the request reporting progress is still waiting");
    } finally {
      clearInterval(keepBusy);
    }
    await assert.rejects(busy.result, /busy timed out/);
  });

  await t.step("closing fails every pending request and refuses new ones", async () => {
    const { sent, requests } = wire();
    const call = requests.request("tools/call", {}, options);
    requests.close();
    const error = await call.result.then(() => undefined, (e) => e);
    assert.ok(error instanceof SdkError && error.code === SdkErrorCode.ConnectionClosed);
    const late = requests.request("tools/call", {}, options);
    await assert.rejects(late.result, /Connection closed/);
    assert.equal(sent.length, 1, "nothing is written after close, not even a cancellation");
  });

  await t.step("a failed write rejects the request", async () => {
    const requests = new DirectRequests(() => Promise.reject(new Error("pipe broken")));
    await assert.rejects(requests.request("tools/call", {}, options).result, /pipe broken/);
    assert.equal(requests.pendingCount, 0);
  });
});
