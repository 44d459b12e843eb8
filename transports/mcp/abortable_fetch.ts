/**
 * A `fetch` whose abort signal reliably ends a response that is still being
 * read.
 *
 * Deno's fetch (2.9) follows the caller's signal through the signal of an
 * internal `Request`, which the caller's signal holds only weakly. Once that
 * `Request` is garbage-collected — any time after the response headers
 * arrived — aborting the caller's signal no longer cancels a body that is
 * still streaming. For an MCP client that is a lost cancellation: a
 * 2026-07-28 client cancels a call by aborting the call's SSE reply, and the
 * server, which never sees the connection close, runs the call to its end.
 * The same goes for closing a `subscriptions/listen` or legacy SSE stream.
 * (The gateway lost about one cancellation in 25 this way; the WHATWG spec
 * says a dependent signal with abort algorithms must be kept alive.)
 *
 * {@link abortableFetch} listens on the caller's signal itself, from a
 * listener the signal holds strongly, and cancels the body when it fires.
 *
 * @module
 */

/**
 * `fetch`, but an abort after the response arrived always cancels its body
 * (closing the connection, so the server sees the request end) and errors
 * the body the caller reads with the signal's reason.
 *
 * @example
 * ```ts ignore
 * const transport = new StreamableHTTPClientTransport(url, { fetch: abortableFetch });
 * ```
 */
export async function abortableFetch(
  input: string | URL | Request,
  init?: RequestInit,
): Promise<Response> {
  const response = await fetch(input, init);
  const signal = init?.signal ?? (input instanceof Request ? input.signal : undefined);
  if (signal === undefined || signal === null || response.body === null) return response;
  return followAbort(response, signal);
}

/** The same response, with a body that ends when `signal` aborts. */
function followAbort(response: Response, signal: AbortSignal): Response {
  const source = response.body!.getReader();
  let onAbort: () => void = () => {};
  const stop = () => signal.removeEventListener("abort", onAbort);
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      onAbort = () => {
        stop();
        source.cancel(signal.reason).catch(() => {});
        controller.error(signal.reason);
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    },
    async pull(controller) {
      try {
        const { value, done } = await source.read();
        if (signal.aborted) return;
        if (done) {
          stop();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        stop();
        if (!signal.aborted) controller.error(error);
      }
    },
    cancel(reason) {
      stop();
      return source.cancel(reason);
    },
  });
  const wrapped = new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  // Keep what a Response built here would lose.
  Object.defineProperties(wrapped, {
    url: { value: response.url },
    redirected: { value: response.redirected },
    type: { value: response.type },
  });
  return wrapped;
}
