/**
 * A lean MCP client for the load generator: just the 2025 session protocol
 * (initialize, notifications/initialized, requests, DELETE at the end) over
 * Streamable HTTP, and the same over newline-delimited stdio, with no schema
 * layer. The SDK client costs the load generator more CPU per call than our
 * gateway spends, and on a small machine that CPU is taken from the systems
 * under test, compressing the differences between them; this client keeps
 * the measuring cheap and equal for every system.
 *
 * @module
 */

/** The protocol version the lean client asks for; it uses whatever the server answers. */
export const LEAN_PROTOCOL_VERSION = "2025-06-18";

/** A request failed: HTTP status, JSON-RPC error, malformed reply, or closed connection. */
export class LeanCallError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = "LeanCallError";
  }
}

/** A JSON-RPC response as it arrives: a result or an error for an id. */
interface RpcResponse {
  jsonrpc?: unknown;
  id?: unknown;
  result?: unknown;
  error?: { code?: unknown; message?: unknown };
}

const MAX_REASON_CHARS = 200;

function clip(text: string): string {
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS)}…` : text;
}

/** The result of a response, or a {@link LeanCallError} saying what was wrong. */
function resultOf(response: RpcResponse): unknown {
  if (response.jsonrpc !== "2.0") throw new LeanCallError("malformed reply: no jsonrpc");
  if (response.error !== undefined) {
    const { code, message } = response.error ?? {};
    throw new LeanCallError(`JSON-RPC error ${String(code)}: ${clip(String(message))}`);
  }
  if (typeof response.result !== "object" || response.result === null) {
    throw new LeanCallError("malformed reply: result is not an object");
  }
  return response.result;
}

function isResponseTo(message: unknown, id: number): message is RpcResponse {
  if (typeof message !== "object" || message === null) return false;
  const m = message as RpcResponse & { method?: unknown };
  return m.id === id && m.method === undefined;
}

function initializeParams(): Record<string, unknown> {
  return {
    protocolVersion: LEAN_PROTOCOL_VERSION,
    capabilities: {},
    clientInfo: { name: "safla-gateway-bench-lean", version: "1" },
  };
}

function negotiatedVersion(result: unknown): string {
  const version = (result as { protocolVersion?: unknown }).protocolVersion;
  if (typeof version !== "string" || version === "") {
    throw new LeanCallError("initialize result carries no protocolVersion");
  }
  return version;
}

/**
 * The JSON-RPC response to `id` in an SSE reply body: events in order,
 * notifications, requests and comments skipped, the first response to `id`
 * taken. The body is read whole: servers close the stream after the response
 * (the spec's SHOULD; every system benchmarked does), and one read of the
 * whole body costs the client ~40 µs less per call than a stream reader's
 * two reads (measured, 2 reads per reply) — client CPU that, on a shared
 * machine, would be taken from the SSE-replying systems under test. A stream
 * left open fails its call when the phase gives up on it.
 */
function responseFromSse(body: string, id: number): unknown {
  const text = body.includes("\r") ? body.replaceAll("\r\n", "\n").replaceAll("\r", "\n") : body;
  let from = 0;
  while (from < text.length) {
    const boundary = text.indexOf("\n\n", from);
    // A last event without its blank line was cut off: the stream ended mid-event.
    if (boundary < 0) break;
    const data = sseData(text.slice(from, boundary));
    from = boundary + 2;
    if (data === undefined) continue;
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      throw new LeanCallError(`malformed SSE data: ${clip(data)}`);
    }
    if (isResponseTo(message, id)) return resultOf(message);
  }
  throw new LeanCallError("SSE stream ended without the reply");
}

/** The `data` of one SSE event (its data lines joined), or undefined for a comment-only event. */
function sseData(event: string): string | undefined {
  let data: string | undefined;
  for (const line of event.split("\n")) {
    if (!line.startsWith("data:")) continue; // event:, id:, retry: and comments
    const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}

/**
 * One Streamable HTTP session. Requests go out as separate POSTs, so calls in
 * flight are concurrent HTTP requests on Deno's pooled keep-alive connections.
 */
export class LeanHttpSession {
  #nextId = 1;
  #headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };

  private constructor(readonly url: string) {}

  /** The session id the server gave, and the protocol version it negotiated. */
  sessionId: string | undefined;
  protocolVersion: string | undefined;

  /** Opens a session: initialize, then notifications/initialized; `headers` go on every request. */
  static async connect(
    url: string,
    signal?: AbortSignal,
    headers: Record<string, string> = {},
  ): Promise<LeanHttpSession> {
    const session = new LeanHttpSession(url);
    session.#headers = { ...session.#headers, ...headers };
    const id = session.#nextId++;
    const response = await fetch(url, {
      method: "POST",
      headers: session.#headers,
      body: JSON.stringify({
        jsonrpc: "2.0",
        id,
        method: "initialize",
        params: initializeParams(),
      }),
      signal,
    });
    const sessionId = response.headers.get("mcp-session-id") ?? undefined;
    const result = await session.#reply(response, id);
    const version = negotiatedVersion(result);
    session.sessionId = sessionId;
    session.protocolVersion = version;
    session.#headers = {
      ...session.#headers,
      "mcp-protocol-version": version,
      ...(sessionId === undefined ? {} : { "mcp-session-id": sessionId }),
    };
    await session.notify("notifications/initialized", {}, signal);
    return session;
  }

  /** Sends a request and returns its result; throws {@link LeanCallError} on any failure. */
  async request(method: string, params: unknown, signal?: AbortSignal): Promise<unknown> {
    const id = this.#nextId++;
    const response = await fetch(this.url, {
      method: "POST",
      headers: this.#headers,
      body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
      signal,
    });
    return await this.#reply(response, id);
  }

  /** Sends a notification; the server must accept it (202). */
  async notify(method: string, params: unknown, signal?: AbortSignal): Promise<void> {
    const response = await fetch(this.url, {
      method: "POST",
      headers: this.#headers,
      body: JSON.stringify({ jsonrpc: "2.0", method, params }),
      signal,
    });
    const text = await response.text();
    if (response.status !== 202 && !response.ok) {
      throw new LeanCallError(`HTTP ${response.status} to ${method}: ${clip(text)}`);
    }
  }

  /** Ends the session with DELETE; a server that does not allow it (405) is fine. */
  async close(): Promise<void> {
    if (this.sessionId === undefined) return;
    const response = await fetch(this.url, {
      method: "DELETE",
      headers: this.#headers,
      signal: AbortSignal.timeout(5_000),
    });
    await response.body?.cancel();
    this.sessionId = undefined;
  }

  async #reply(response: Response, id: number): Promise<unknown> {
    if (!response.ok) {
      throw new LeanCallError(`HTTP ${response.status}: ${clip(await response.text())}`);
    }
    const type = response.headers.get("content-type") ?? "";
    if (type.startsWith("text/event-stream")) return responseFromSse(await response.text(), id);
    if (!type.startsWith("application/json")) {
      await response.body?.cancel();
      throw new LeanCallError(`HTTP ${response.status} with content-type ${type || "none"}`);
    }
    let message: unknown;
    try {
      message = await response.json();
    } catch {
      throw new LeanCallError("malformed JSON reply");
    }
    const found = Array.isArray(message)
      ? message.find((m) => isResponseTo(m, id))
      : isResponseTo(message, id)
      ? message
      : undefined;
    if (found === undefined) throw new LeanCallError("JSON reply does not answer the request");
    return resultOf(found);
  }
}

/** Requests in flight on one stdio connection, at most this many. */
const MAX_STDIO_PENDING = 4096;

/**
 * One session with a server spawned over stdio: newline-delimited JSON-RPC,
 * responses matched by id, notifications ignored, server pings answered.
 */
export class LeanStdioSession {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #encoder = new TextEncoder();
  readonly #pending = new Map<
    number,
    { resolve: (r: RpcResponse) => void; reject: (e: Error) => void }
  >();
  #nextId = 1;
  #closed: LeanCallError | undefined;
  readonly #reading: Promise<void>;

  /** The protocol version the server negotiated. */
  protocolVersion: string | undefined;

  private constructor(command: string, args: string[]) {
    this.#child = new Deno.Command(command, {
      args,
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#reading = this.#read();
  }

  /** The server process id, for cleanup of its tree. */
  get pid(): number {
    return this.#child.pid;
  }

  /** Spawns `command` and opens a session; the process is ended if that fails. */
  static async connect(
    command: string,
    args: string[],
    signal?: AbortSignal,
  ): Promise<LeanStdioSession> {
    const session = new LeanStdioSession(command, args);
    try {
      const result = await session.request("initialize", initializeParams(), signal);
      session.protocolVersion = negotiatedVersion(result);
      await session.#send({ jsonrpc: "2.0", method: "notifications/initialized", params: {} });
      return session;
    } catch (error) {
      await session.close();
      throw error;
    }
  }

  /** Sends a request and returns its result; throws {@link LeanCallError} on any failure. */
  async request(method: string, params: unknown, signal?: AbortSignal): Promise<unknown> {
    if (this.#closed !== undefined) throw this.#closed;
    if (this.#pending.size >= MAX_STDIO_PENDING) {
      throw new LeanCallError(`over ${MAX_STDIO_PENDING} requests in flight`);
    }
    signal?.throwIfAborted();
    const id = this.#nextId++;
    const reply = new Promise<RpcResponse>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
    });
    const onAbort = () => {
      this.#pending.get(id)?.reject(new LeanCallError("request aborted"));
      this.#pending.delete(id);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await this.#send({ jsonrpc: "2.0", id, method, params });
      return resultOf(await reply);
    } catch (error) {
      this.#pending.delete(id); // the write failed: no reply will come for it
      throw error instanceof LeanCallError ? error : new LeanCallError(String(error));
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Closes stdin and ends the server process. */
  async close(): Promise<void> {
    this.#closed ??= new LeanCallError("session closed");
    // Not awaited: a server that stopped reading must not hold the close.
    this.#writer.close().catch(() => {});
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    await this.#child.status;
    await this.#reading;
  }

  async #send(message: unknown): Promise<void> {
    await this.#writer.write(this.#encoder.encode(`${JSON.stringify(message)}\n`));
  }

  async #read(): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    try {
      for await (const chunk of this.#child.stdout) {
        pending += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line !== "") this.#dispatch(line);
        }
      }
    } catch {
      // The pipe broke: every pending request fails below.
    }
    this.#closed ??= new LeanCallError("server closed stdout");
    for (const { reject } of this.#pending.values()) reject(this.#closed);
    this.#pending.clear();
  }

  #dispatch(line: string): void {
    let message: RpcResponse & { method?: unknown };
    try {
      message = JSON.parse(line);
    } catch {
      return; // not a message (a server logging to stdout): nothing pending can match it
    }
    if (typeof message.method === "string") {
      if (message.id === undefined) return; // a notification
      // A request from the server: answer ping, refuse the rest (we declared no capabilities).
      const reply = message.method === "ping"
        ? { jsonrpc: "2.0", id: message.id, result: {} }
        : { jsonrpc: "2.0", id: message.id, error: { code: -32601, message: "not supported" } };
      this.#send(reply).catch(() => {});
      return;
    }
    if (typeof message.id !== "number") return;
    const waiter = this.#pending.get(message.id);
    if (waiter === undefined) return;
    this.#pending.delete(message.id);
    waiter.resolve(message);
  }
}
