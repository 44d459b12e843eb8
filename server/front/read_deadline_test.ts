// Issue 11: slow clients were never timed out. A body dripped one byte at a
// time over a real socket is cut at its deadline with 408.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { jsonRpcBody, type JsonRpcBodyEnv } from "./http_edge.ts";
import { bodyDeadlineMs } from "./read_deadline.ts";

Deno.test("the body deadline has a floor and grows with the size", () => {
  assert.equal(bodyDeadlineMs(0), 10_000);
  assert.equal(bodyDeadlineMs(64 * 1024), 11_000);
  assert.equal(bodyDeadlineMs(4 * 1024 * 1024), 74_000);
});

Deno.test("a dripped request body is answered 408 at its deadline, not held open", async () => {
  const app = new Hono<JsonRpcBodyEnv>();
  app.post(
    "/mcp",
    jsonRpcBody(1024, { floorMs: 500, minBytesPerSec: 1_000_000 }),
    (c) => c.json({ ok: true }),
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, app.fetch);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const encoder = new TextEncoder();
  let dripping = true;
  try {
    await conn.write(encoder.encode(
      "POST /mcp HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
        "content-length: 100\r\n\r\n{",
    ));
    const drip = (async () => {
      for (let i = 0; i < 30 && dripping; i++) {
        await new Promise((r) => setTimeout(r, 200));
        await conn.write(encoder.encode(" ")).catch(() => (dripping = false));
      }
    })();
    const started = performance.now();
    const buf = new Uint8Array(1024);
    const n = await Promise.race([
      conn.read(buf),
      new Promise<null>((r) => setTimeout(() => r(null), 4_000)),
    ]);
    const answer = n === null
      ? "(nothing within 4 s)"
      : new TextDecoder().decode(buf.subarray(0, n));
    assert.match(answer, /^HTTP\/1\.1 408/, answer);
    assert.match(answer, /the body did not arrive in time/);
    assert.ok(performance.now() - started < 2_000);
    dripping = false;
    await drip;
  } finally {
    dripping = false;
    conn.close();
    await server.shutdown();
  }
});
