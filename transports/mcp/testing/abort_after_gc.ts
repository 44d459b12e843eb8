/**
 * Run with `--v8-flags=--expose-gc`: opens a streaming response with
 * `fetch` or {@link abortableFetch} (argument `plain` or `abortable`), forces
 * a garbage collection, aborts, and prints as JSON whether the server saw
 * the request end.
 *
 * @module
 */
import { abortableFetch } from "../abortable_fetch.ts";

const mode = Deno.args[0];
if (mode !== "plain" && mode !== "abortable") {
  throw new Error("usage: abort_after_gc.ts plain|abortable");
}
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

const serverSawEnd = Promise.withResolvers<boolean>();
const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
  let timer: ReturnType<typeof setInterval> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      timer = setInterval(() => controller.enqueue(new TextEncoder().encode("data: tick\n\n")), 20);
    },
    cancel() {
      clearInterval(timer);
      serverSawEnd.resolve(true);
    },
  });
  request.signal.addEventListener("abort", () => serverSawEnd.resolve(true));
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
});

const controller = new AbortController();
const doFetch = mode === "plain" ? fetch : abortableFetch;
// Nothing outside this function keeps the response's Request alive.
async function open(): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const response = await doFetch(`http://127.0.0.1:${server.addr.port}/`, {
    signal: AbortSignal.any([controller.signal]),
  });
  return response.body!.getReader();
}
const reader = await open();
await reader.read();
gc();
await new Promise((resolve) => setTimeout(resolve, 20));
gc();
controller.abort(new Error("cancelled by the test"));
const readAfterAbort = await reader.read().then(
  ({ done }) => (done ? "done" : "value"),
  (error) => `error: ${(error as Error).message}`,
);
const timer = setTimeout(() => serverSawEnd.resolve(false), 1_000);
const sawEnd = await serverSawEnd.promise;
clearTimeout(timer);
console.log(JSON.stringify({ mode, serverSawEnd: sawEnd, readAfterAbort }));
await reader.cancel().catch(() => {});
await server.shutdown();
