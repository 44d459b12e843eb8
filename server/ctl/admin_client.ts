/**
 * A small client of one node's admin API (`server/cluster/admin/`), for the
 * operator CLI: every request carries the admin credential, every answer
 * that is not 2xx becomes an {@link AdminApiError} with the node's own
 * message, and a watch is read as the server-sent events it is.
 *
 * @module
 */

/** A non-2xx answer of the admin API, or a node that could not be reached. */
export class AdminApiError extends Error {
  /** HTTP status; 0 when the node did not answer. */
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "AdminApiError";
  }
}

/** One event of `GET /admin/watch`. */
export interface WatchMessage {
  event: string;
  data: Record<string, unknown>;
}

/** Longest a single admin request may take before the CLI gives up on it. */
const REQUEST_TIMEOUT_MS = 130_000;

/** The admin API of the node at `endpoint`, called with `token`. */
export class AdminClient {
  readonly endpoint: string;
  readonly #token: string | undefined;

  constructor(endpoint: string, token: string | undefined) {
    this.endpoint = endpoint.replace(/\/+$/, "");
    this.#token = token;
  }

  /** GETs `path` and returns its JSON body. */
  get(path: string): Promise<Record<string, unknown>> {
    return this.#json("GET", path);
  }

  /** Sends `body` as JSON with `method` and returns the JSON answer and its status. */
  async send(
    method: "POST" | "PUT" | "DELETE",
    path: string,
    body?: Record<string, unknown>,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await this.#fetch(method, path, body);
    return { status: response.status, body: await response.json() };
  }

  /** Reads `GET /admin/watch` until `onMessage` returns false or the stream ends. */
  async watch(path: string, onMessage: (message: WatchMessage) => boolean): Promise<void> {
    const response = await this.#fetch("GET", path);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const message = parseEvent(block);
          if (message !== undefined && !onMessage(message)) return;
        }
      }
    } finally {
      await reader.cancel().catch(() => {});
    }
  }

  async #json(method: string, path: string): Promise<Record<string, unknown>> {
    const response = await this.#fetch(method, path);
    return await response.json();
  }

  async #fetch(method: string, path: string, body?: Record<string, unknown>): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(`${this.endpoint}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: path.startsWith("/admin/watch")
          ? undefined
          : AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new AdminApiError(0, `cannot reach ${this.endpoint}: ${reason}`);
    }
    if (response.ok) return response;
    const text = await response.text();
    let message = text;
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      message = String(parsed.error_description ?? parsed.error ?? parsed.reason ?? text);
    } catch { /* not JSON: the text is the message */ }
    throw new AdminApiError(response.status, `${response.status}: ${message.trim()}`);
  }
}

function parseEvent(block: string): WatchMessage | undefined {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  if (data.length === 0) return undefined;
  return { event, data: JSON.parse(data.join("\n")) };
}
