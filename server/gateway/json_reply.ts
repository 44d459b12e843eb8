/**
 * Answers a POSTed request with plain JSON when its SSE stream would carry
 * nothing but the response.
 *
 * Streamable HTTP lets the server answer a POST with either an SSE stream or
 * one JSON body, and clients must accept both. The SDK transport decides once
 * per session, and its JSON mode drops what a call sends before its result
 * (progress, logs, pushed sampling or elicitation). Deciding per request on
 * the first event keeps those: a stream whose first event is the lone
 * response becomes a JSON body; any other stream is passed on byte for byte,
 * first event included. Most calls send nothing but their result, and a JSON
 * body is cheaper than a stream for the gateway, and far cheaper for the
 * client, which otherwise parses SSE for every call.
 *
 * @module
 */

const SSE_CONTENT_TYPE = "text/event-stream";
/** How the SDK transport frames a message without an event id (no event store). */
const EVENT_PREFIX = "event: message\ndata: ";
const EVENT_END = "\n\n";
/** Longest first event inspected; larger results stream as they are. */
const MAX_INSPECTED_BYTES = 1024 * 1024;
const decoder = new TextDecoder();

/** True when `body` is one JSON-RPC request (not a batch, not a notification). */
export function isSingleRequest(body: unknown): body is { id: string | number; method: string } {
  if (typeof body !== "object" || body === null || Array.isArray(body)) return false;
  const m = body as Record<string, unknown>;
  return typeof m.method === "string" && (typeof m.id === "string" || typeof m.id === "number");
}

/** True when the client's `Accept` header takes a JSON body. */
export function acceptsJson(accept: string | null): boolean {
  return accept !== null && (accept.includes("application/json") || accept.includes("*/*"));
}

/**
 * The JSON text of the response to `id` when `chunk` is exactly one SSE event
 * carrying it, otherwise undefined.
 */
export function loneResponse(chunk: Uint8Array, id: string | number): string | undefined {
  if (chunk.byteLength > MAX_INSPECTED_BYTES) return undefined;
  const text = decoder.decode(chunk);
  if (!text.startsWith(EVENT_PREFIX) || !text.endsWith(EVENT_END)) return undefined;
  const data = text.slice(EVENT_PREFIX.length, text.length - EVENT_END.length);
  // JSON.stringify escapes newlines, so a second event or line means more than one.
  if (data.includes("\n")) return undefined;
  let message: unknown;
  try {
    message = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof message !== "object" || message === null) return undefined;
  const m = message as Record<string, unknown>;
  if (m.id !== id || m.method !== undefined || !("result" in m || "error" in m)) return undefined;
  return data;
}

/**
 * Turns the SSE answer to one request into a JSON answer when its first event
 * is the response; otherwise returns an equivalent stream.
 */
export async function preferJsonReply(
  response: Response,
  requestId: string | number,
): Promise<Response> {
  const type = response.headers.get("content-type") ?? "";
  if (response.status !== 200 || !type.startsWith(SSE_CONTENT_TYPE) || response.body === null) {
    return response;
  }
  const reader = response.body.getReader();
  const first = await reader.read();
  if (first.done) return new Response(null, { status: response.status, headers: response.headers });
  const json = loneResponse(first.value, requestId);
  if (json !== undefined) {
    // The transport closes the stream after the response; nothing else follows.
    void reader.cancel().catch(() => {});
    const headers = new Headers({ "content-type": "application/json" });
    const session = response.headers.get("mcp-session-id");
    if (session !== null) headers.set("mcp-session-id", session);
    return new Response(json, { status: 200, headers });
  }
  let replayed = false;
  const body = new ReadableStream<Uint8Array>({
    pull: async (controller) => {
      if (!replayed) {
        replayed = true;
        controller.enqueue(first.value);
        return;
      }
      const next = await reader.read();
      if (next.done) controller.close();
      else controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return new Response(body, { status: response.status, headers: response.headers });
}
