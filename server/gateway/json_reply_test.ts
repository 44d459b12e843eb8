import assert from "node:assert/strict";
import { acceptsJson, isSingleRequest, loneResponse, preferJsonReply } from "./json_reply.ts";

const encoder = new TextEncoder();
const event = (message: unknown): Uint8Array =>
  encoder.encode(`event: message\ndata: ${JSON.stringify(message)}\n\n`);

function sse(chunks: Uint8Array[], headers: Record<string, string> = {}): Response {
  return new Response(
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const c of chunks) controller.enqueue(c);
        controller.close();
      },
    }),
    { status: 200, headers: { "content-type": "text/event-stream", ...headers } },
  );
}

Deno.test("json_reply", async (t) => {
  await t.step("only single requests and JSON-accepting clients qualify", () => {
    assert.equal(isSingleRequest({ jsonrpc: "2.0", id: 1, method: "tools/call" }), true);
    assert.equal(isSingleRequest({ jsonrpc: "2.0", method: "notifications/initialized" }), false);
    assert.equal(isSingleRequest([{ jsonrpc: "2.0", id: 1, method: "ping" }]), false);
    assert.equal(acceptsJson("application/json, text/event-stream"), true);
    assert.equal(acceptsJson("text/event-stream"), false);
    assert.equal(acceptsJson(null), false);
  });

  await t.step("a lone response event for the request id is its JSON text", () => {
    const response = {
      jsonrpc: "2.0",
      id: 7,
      result: { content: [{ type: "text", text: "a\nb" }] },
    };
    assert.deepEqual(JSON.parse(loneResponse(event(response), 7)!), response);
    assert.equal(loneResponse(event(response), 8), undefined, "another id");
    assert.equal(
      loneResponse(event({ jsonrpc: "2.0", method: "notifications/progress", params: {} }), 7),
      undefined,
    );
    const two = new Uint8Array([...event(response), ...event(response)]);
    assert.equal(loneResponse(two, 7), undefined, "two events in one chunk");
    assert.equal(loneResponse(encoder.encode(": keepalive\n\n"), 7), undefined);
  });

  await t.step("a stream that holds only the response becomes a JSON body", async () => {
    const message = { jsonrpc: "2.0", id: "x", error: { code: -32602, message: "bad" } };
    const reply = await preferJsonReply(sse([event(message)], { "mcp-session-id": "s1" }), "x");
    assert.equal(reply.headers.get("content-type"), "application/json");
    assert.equal(reply.headers.get("mcp-session-id"), "s1");
    assert.deepEqual(await reply.json(), message);
  });

  await t.step("progress before the result keeps the stream, byte for byte", async () => {
    const chunks = [
      event({ jsonrpc: "2.0", method: "notifications/progress", params: { progress: 1 } }),
      event({ jsonrpc: "2.0", id: 3, result: {} }),
    ];
    const reply = await preferJsonReply(sse(chunks), 3);
    assert.equal(reply.headers.get("content-type"), "text/event-stream");
    const text = await reply.text();
    assert.equal(text, new TextDecoder().decode(new Uint8Array([...chunks[0], ...chunks[1]])));
  });

  await t.step("non-SSE answers pass through untouched", async () => {
    const accepted = new Response(null, { status: 202 });
    assert.equal(await preferJsonReply(accepted, 1), accepted);
  });
});
