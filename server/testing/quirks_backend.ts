/**
 * The test backend over Streamable HTTP (both eras), bent the ways servers in
 * the wild bend the spec (DESIGN.md §10), one {@link Quirk} at a time, so the
 * gateway's tolerance of each is tested against a server that really does it.
 * The real SDK server answers; a layer in front rewrites what it sent.
 *
 * @module
 */
import { createMcpHandler } from "@modelcontextprotocol/server";
import { createTestBackend } from "./backend.ts";

/**
 * - `no-result-type`: 2026-07-28 results lack their required `resultType`.
 * - `ndjson-listen`: `subscriptions/listen` answers newline-delimited JSON
 *   under `Content-Type: application/json` instead of an SSE stream.
 * - `malformed-tool`: `tools/call` of `test_simple_text` answers a result whose
 *   `content` is not an array (a result no client can use).
 * - `echo-headers`: `tools/call` of `echo` answers the request headers it received.
 */
export type Quirk = "no-result-type" | "ndjson-listen" | "malformed-tool" | "echo-headers";

/** Methods answered with a stream (or a negotiation the quirks leave alone). */
const STREAMS = new Set(["server/discover", "subscriptions/listen"]);

/** A running quirks backend. */
export interface QuirksBackend {
  /** Its `/mcp` URL. */
  url: string;
  /** Requests received, by JSON-RPC method. */
  methods: Map<string, number>;
  close(): Promise<void>;
}

/** Starts a quirks backend on a free loopback port. */
export async function startQuirksBackend(quirks: readonly Quirk[]): Promise<QuirksBackend> {
  const bent = new Set(quirks);
  const counters = new Map<string, number>();
  const dynamicTools: { count: number; onToolsChanged?: () => void } = { count: 0 };
  const handler = createMcpHandler(() =>
    createTestBackend({ replicaId: "quirks", counters, dynamicTools })
  );
  dynamicTools.onToolsChanged = () => handler.notify.toolsChanged();
  const methods = new Map<string, number>();
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => resolve(port),
  }, async (request) => {
    const text = request.method === "POST" ? await request.text() : "";
    const message = text === "" ? {} : JSON.parse(text);
    const method: string = message.method ?? "";
    methods.set(method, (methods.get(method) ?? 0) + 1);
    if (bent.has("echo-headers") && method === "tools/call" && message.params?.name === "echo") {
      const headers = Object.fromEntries(request.headers);
      return answer(message.id, {
        content: [{ type: "text", text: JSON.stringify(headers) }],
        resultType: "complete",
      });
    }
    if (
      bent.has("malformed-tool") && method === "tools/call" &&
      message.params?.name === "test_simple_text"
    ) {
      return answer(message.id, { content: "not an array", resultType: "complete" });
    }
    const response = await handler.fetch(
      new Request(request.url, {
        method: request.method,
        headers: request.headers,
        body: text || null,
      }),
    );
    if (bent.has("ndjson-listen") && method === "subscriptions/listen") return asNdjson(response);
    if (bent.has("no-result-type") && !STREAMS.has(method)) return withoutResultType(response);
    return response;
  });
  const port = await listening;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    methods,
    close: () => server.shutdown(),
  };
}

function answer(id: unknown, result: Record<string, unknown>): Response {
  return Response.json({ jsonrpc: "2.0", id, result });
}

/** Each JSON-RPC message of an SSE (or JSON) body, as it arrives. */
function messages(response: Response): ReadableStream<string> {
  const sse = (response.headers.get("content-type") ?? "").includes("text/event-stream");
  let partial = "";
  return response.body!.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TransformStream<string, string>({
      transform(chunk, controller) {
        if (!sse) {
          partial += chunk;
          return;
        }
        const lines = (partial + chunk).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          if (line.startsWith("data: ")) controller.enqueue(line.slice("data: ".length));
        }
      },
      flush(controller) {
        if (!sse && partial.trim() !== "") controller.enqueue(partial);
      },
    }),
  );
}

function asNdjson(response: Response): Response {
  const body = messages(response).pipeThrough(
    new TransformStream<string, string>({
      transform: (json, controller) => controller.enqueue(`${json}\n`),
    }),
  ).pipeThrough(new TextEncoderStream());
  return new Response(body, {
    status: response.status,
    headers: { "content-type": "application/json" },
  });
}

async function withoutResultType(response: Response): Promise<Response> {
  if (response.body === null || response.status !== 200) return response;
  // The reply alone, as a JSON body (notifications sent before it are dropped).
  let reply: string | undefined;
  for await (const json of messages(response)) {
    const message = JSON.parse(json);
    if (message.id === undefined) continue;
    if (message.result !== undefined) delete message.result.resultType;
    reply = JSON.stringify(message);
  }
  return new Response(reply, { status: 200, headers: { "content-type": "application/json" } });
}
