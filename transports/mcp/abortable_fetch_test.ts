import assert from "node:assert/strict";
import { abortableFetch } from "./abortable_fetch.ts";

const GC_PROBE = new URL("./testing/abort_after_gc.ts", import.meta.url);

/** A server whose responses stream `tick` events until the client goes away. */
function streamingServer() {
  let ended = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/json") return Response.json({ hello: "world" }, { headers: { "x-test": "1" } });
    if (path === "/redirect") return Response.redirect(new URL("/json", request.url), 302);
    let timer: ReturnType<typeof setInterval> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        timer = setInterval(
          () => controller.enqueue(new TextEncoder().encode("data: tick\n\n")),
          10,
        );
      },
      cancel() {
        clearInterval(timer);
        ended.resolve();
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream" } });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    /** Resolves when the current stream's client went away. */
    ended: () => ended.promise,
    reset: () => ended = Promise.withResolvers<void>(),
    close: () => server.shutdown(),
  };
}

Deno.test("abortableFetch: an abort after a garbage collection still ends the streaming response", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--expose-gc", GC_PROBE.pathname, "abortable"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, stderr);
  const result = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.deepEqual(result, {
    mode: "abortable",
    serverSawEnd: true,
    readAfterAbort: "error: cancelled by the test",
  });
});

Deno.test("abortableFetch: passes responses through and ends them on abort", async (t) => {
  const server = streamingServer();
  try {
    await t.step("a whole body, status, headers and url come through unchanged", async () => {
      const response = await abortableFetch(`${server.url}/json`, {
        signal: new AbortController().signal,
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("x-test"), "1");
      assert.equal(response.url, `${server.url}/json`);
      assert.deepEqual(await response.json(), { hello: "world" });
    });

    await t.step("a followed redirect keeps its url and redirected flag", async () => {
      const response = await abortableFetch(`${server.url}/redirect`, {
        signal: new AbortController().signal,
      });
      assert.equal(response.redirected, true);
      assert.equal(response.url, `${server.url}/json`);
      await response.body?.cancel();
    });

    await t.step("without a signal the response is fetch's own", async () => {
      const response = await abortableFetch(`${server.url}/json`);
      assert.deepEqual(await response.json(), { hello: "world" });
    });

    await t.step(
      "an abort mid-stream errors the reader with the reason and ends the request",
      async () => {
        server.reset();
        const controller = new AbortController();
        const response = await abortableFetch(`${server.url}/stream`, {
          signal: controller.signal,
        });
        const reader = response.body!.getReader();
        assert.equal((await reader.read()).done, false);
        const reason = new Error("stop");
        controller.abort(reason);
        await assert.rejects(async () => {
          while (!(await reader.read()).done) { /* drain what was buffered */ }
        }, (error) => error === reason);
        await server.ended();
      },
    );

    await t.step("cancelling the body ends the request", async () => {
      server.reset();
      const response = await abortableFetch(`${server.url}/stream`, {
        signal: new AbortController().signal,
      });
      await response.body!.cancel();
      await server.ended();
    });

    await t.step("a signal aborted before the call rejects as fetch does", async () => {
      const controller = new AbortController();
      controller.abort(new Error("too late"));
      await assert.rejects(
        abortableFetch(`${server.url}/json`, { signal: controller.signal }),
        /too late/,
      );
    });
  } finally {
    await server.close();
  }
});
