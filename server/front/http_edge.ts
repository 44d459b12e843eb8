/**
 * The edge rules of every MCP route, as small Hono middleware: Host and
 * Origin checks against DNS rebinding ({@link hostOriginGuard}), and a JSON
 * body that is bounded, parsed and shaped like JSON-RPC before any handler
 * sees it ({@link jsonRpcBody}). Refusals are JSON-RPC errors with the HTTP
 * status the spec asks for.
 *
 * @module
 */
import { type BodyDeadline, readWithin } from "./read_deadline.ts";
import type { MiddlewareHandler } from "hono";
import {
  readRequestBody,
  validateHostHeader,
  validateOriginHeader,
} from "@modelcontextprotocol/server";
import { INVALID_REQUEST, PARSE_ERROR } from "../gateway/jsonrpc_codes.ts";

/** Distinct Host headers whose check is remembered (they are client input, so bounded). */
const MAX_REMEMBERED_HOSTS = 64;

/** A JSON-RPC error response without a request id. */
export function jsonRpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: "2.0", id: null, error: { code, message } }, { status });
}

/** What {@link jsonRpcBody} leaves for the handlers. */
export type JsonRpcBodyEnv = { Variables: { body: unknown } };

type Check = { ok: boolean; message?: string };

/**
 * Refuses with 403 a request whose Host is not one of `hosts` or whose
 * Origin (when sent) is not one of `origins`.
 */
export function hostOriginGuard(hosts: string[], origins: string[]): MiddlewareHandler {
  // A client sends the same Host on every request; the check parses it as a URL.
  const hostChecks = new Map<string | null, Check>();
  const checkHost = (header: string | null): Check => {
    let check = hostChecks.get(header);
    if (check === undefined) {
      if (hostChecks.size >= MAX_REMEMBERED_HOSTS) hostChecks.clear();
      check = validateHostHeader(header, hosts);
      hostChecks.set(header, check);
    }
    return check;
  };
  return async (c, next) => {
    const headers = c.req.raw.headers;
    const host = checkHost(headers.get("host"));
    if (!host.ok) return jsonRpcError(403, INVALID_REQUEST, `Forbidden: ${host.message}`);
    const origin = headers.get("origin");
    if (origin !== null) {
      const check = validateOriginHeader(origin, origins);
      if (!check.ok) return jsonRpcError(403, INVALID_REQUEST, `Forbidden: ${check.message}`);
    }
    await next();
  };
}

function isMessageShape(value: unknown): boolean {
  const one = (m: unknown): boolean =>
    typeof m === "object" && m !== null && !Array.isArray(m) &&
    (m as Record<string, unknown>).jsonrpc === "2.0";
  return Array.isArray(value) ? value.length > 0 && value.every(one) : one(value);
}

/**
 * Reads a JSON-RPC message or batch of at most `maxBytes` into `c.var.body`:
 * 415 for another content type, 413 over the bound, 408 when it does not
 * arrive within its deadline (read_deadline.ts), 400 for JSON that does not
 * parse (-32700) or is not JSON-RPC 2.0 (-32600).
 */
export function jsonRpcBody(
  maxBytes: number,
  deadline?: BodyDeadline,
): MiddlewareHandler<JsonRpcBodyEnv> {
  return async (c, next) => {
    const req = c.req.raw;
    const contentType = req.headers.get("content-type") ?? "";
    if (!contentType.toLowerCase().includes("application/json")) {
      return jsonRpcError(415, INVALID_REQUEST, "Unsupported Media Type: use application/json");
    }
    // A body with a Content-Length within the limit is read in one go: the
    // HTTP framing bounds it, and the chunked read costs a stream reader and
    // a copy per chunk on every call.
    const declaredBytes = Number(req.headers.get("content-length") ?? NaN);
    const declared = declaredBytes >= 0 && declaredBytes <= maxBytes;
    const read = await readWithin(
      req,
      declared ? declaredBytes : maxBytes,
      async () =>
        declared
          ? { text: await req.text(), tooLarge: false }
          : await readRequestBody(req, maxBytes),
      deadline,
    );
    if (read === undefined) {
      return jsonRpcError(408, INVALID_REQUEST, "Request Timeout: the body did not arrive in time");
    }
    if (read.tooLarge) {
      return jsonRpcError(413, INVALID_REQUEST, `Request body exceeds ${maxBytes} bytes`);
    }
    let body: unknown;
    try {
      body = JSON.parse(read.text);
    } catch {
      return jsonRpcError(400, PARSE_ERROR, "Parse error: body is not valid JSON");
    }
    if (!isMessageShape(body)) {
      return jsonRpcError(400, INVALID_REQUEST, "Invalid Request: not a JSON-RPC 2.0 message");
    }
    c.set("body", body);
    await next();
  };
}
