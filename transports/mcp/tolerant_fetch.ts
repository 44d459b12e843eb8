/**
 * The `fetch` a Streamable HTTP backend connection uses: {@link abortableFetch},
 * plus one repair. Some servers answer a stream (`subscriptions/listen`, or
 * any reply they send as NDJSON) as newline-delimited JSON, under
 * `application/json` or an NDJSON type, where the spec has an SSE stream. The
 * SDK reads `application/json` as one JSON body, so a stream that never ends
 * held the connect for its whole timeout. Such a body is turned into the SSE
 * stream it stands for, one event per JSON value, as the values arrive.
 *
 * @module
 */
import { abortableFetch } from "./abortable_fetch.ts";
import type { DeviationLog } from "./deviations.ts";

/** Largest JSON value accepted from such a stream (a runaway server). */
const MAX_VALUE_CHARS = 16 * 1024 * 1024;
const NDJSON_TYPES = /^application\/(x-ndjson|ndjson|jsonl|x-jsonlines|json-seq)\b/i;

/** The gateway's own credential towards a backend, sent on every request. */
export interface BackendAuthorization {
  /** The `Authorization` header value to send now. */
  authorization(): Promise<string>;
  /** The backend refused it (401): the next request gets a fresh one. */
  invalidate(): void;
}

/**
 * A fetch for one backend; deviations it repairs are noted in `deviations`;
 * with `auth`, every request carries its `Authorization` header.
 */
export function tolerantFetch(
  deviations: DeviationLog,
  auth?: BackendAuthorization,
): typeof fetch {
  return async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    if (auth !== undefined) {
      const headers = new Headers(init?.headers);
      headers.set("authorization", await auth.authorization());
      init = { ...init, headers };
    }
    const response = await abortableFetch(input, init);
    if (response.status === 401) auth?.invalidate();
    const type = response.headers.get("content-type") ?? "";
    if (response.body === null || !response.ok) return response;
    const ndjson = NDJSON_TYPES.test(type);
    if (!ndjson && !(/^application\/json\b/i.test(type) && isStreamRequest(init))) {
      return response;
    }
    deviations.note(
      "ndjson-stream",
      `a stream sent as newline-delimited JSON under "${type}" is read as SSE`,
    );
    return new Response(asSse(response.body), {
      status: response.status,
      statusText: response.statusText,
      headers: { ...Object.fromEntries(response.headers), "content-type": "text/event-stream" },
    });
  };
}

/** Whether `init` posts a request whose answer is a stream by nature. */
function isStreamRequest(init: RequestInit | undefined): boolean {
  if (typeof init?.body !== "string" || init.body.length > 64 * 1024) return false;
  try {
    return JSON.parse(init.body)?.method === "subscriptions/listen";
  } catch {
    return false;
  }
}

/**
 * One SSE event per JSON value of `body`. Values are split at newlines; a
 * value spread over several lines (pretty-printed) is gathered until it parses.
 */
function asSse(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let pending = "";
  let partial = "";
  const emit = (line: string, controller: TransformStreamDefaultController<string>): void => {
    pending = pending === "" ? line : `${pending}\n${line}`;
    if (pending.trim() === "") {
      pending = "";
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(pending);
    } catch {
      if (pending.length > MAX_VALUE_CHARS) {
        throw new Error(`a JSON value in the stream exceeds ${MAX_VALUE_CHARS} characters`);
      }
      return;
    }
    pending = "";
    controller.enqueue(`event: message\ndata: ${JSON.stringify(value)}\n\n`);
  };
  return body.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TransformStream<string, string>({
      transform(chunk, controller) {
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        if (partial.length > MAX_VALUE_CHARS) {
          throw new Error(`a line in the stream exceeds ${MAX_VALUE_CHARS} characters`);
        }
        for (const line of lines) emit(line, controller);
      },
      flush(controller) {
        if (partial !== "") emit(partial, controller);
      },
    }),
  ).pipeThrough(new TextEncoderStream());
}
