/**
 * A bare JSON-RPC client for `/mcp`, for tests that need to control session
 * headers exactly (no SDK client in between).
 *
 * @module
 */

/** The protocol version the 2025-era tests speak. */
export const SESSION_PROTOCOL_VERSION = "2025-06-18";

/** A JSON-RPC error as it came back. */
export interface RpcError {
  /** JSON-RPC code. */
  code: number;
  /** Message. */
  message: string;
  /** Structured data. */
  data?: Record<string, unknown>;
}

/** One answer: HTTP status, session header and the decoded message. */
export interface RpcAnswer {
  /** HTTP status. */
  status: number;
  /** `Mcp-Session-Id` of the response, if any. */
  sessionId: string | null;
  /** `Content-Type` of the response ("" if none). */
  contentType: string;
  /** The raw body: a JSON message, or every SSE event of a streamed reply. */
  text: string;
  /** The whole JSON-RPC message, if the body held one (of a stream, the first event's). */
  body: Record<string, unknown> | undefined;
  /** Its `result`. */
  result?: Record<string, unknown>;
  /** Its `error`. */
  error?: RpcError;
}

/** Posts one JSON-RPC message to `${url}/mcp`; reads a JSON or single-event SSE answer. */
export async function mcpRpc(
  url: string,
  message: Record<string, unknown>,
  sessionId?: string,
  timeoutMs = 15_000,
): Promise<RpcAnswer> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  if (sessionId) {
    headers["mcp-session-id"] = sessionId;
    headers["mcp-protocol-version"] = SESSION_PROTOCOL_VERSION;
  }
  const response = await fetch(`${url}/mcp`, {
    method: "POST",
    headers,
    body: JSON.stringify(message),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  const data = text.split("\n").find((line) => line.startsWith("data: "));
  const json = (data ? data.slice("data: ".length) : text).trim();
  const body = json === "" ? undefined : JSON.parse(json) as Record<string, unknown>;
  return {
    status: response.status,
    sessionId: response.headers.get("mcp-session-id"),
    contentType: response.headers.get("content-type") ?? "",
    text,
    body,
    result: body?.result as Record<string, unknown> | undefined,
    error: body?.error as RpcError | undefined,
  };
}
