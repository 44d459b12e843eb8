/**
 * Every JSON-RPC error code the gateway sends, in one place so that one code
 * means one thing on every path: JSON-RPC 2.0's own, those of MCP, and the
 * gateway's (-32010 to -32012), which clients can act on.
 *
 * @example
 * ```ts
 * import { OUTCOME_UNKNOWN } from "./jsonrpc_codes.ts";
 * const error = { code: OUTCOME_UNKNOWN, message: "the call may or may not have run" };
 * ```
 *
 * @module
 */

/** The request body is not valid JSON. */
export const PARSE_ERROR = -32700;
/** The body is JSON but not a JSON-RPC request. */
export const INVALID_REQUEST = -32600;
/** No such method. */
export const METHOD_NOT_FOUND = -32601;
/** The method exists but its params are wrong. */
export const INVALID_PARAMS = -32602;
/** Something failed inside the gateway. */
export const INTERNAL_ERROR = -32603;
/** Streamable HTTP: the `Mcp-Session-Id` names no session here (sent with HTTP 404). */
export const SESSION_NOT_FOUND = -32001;
/** 2026-07-28: no such resource. The 2025 wire has no such code; the SDK sends it as invalid params. */
export const RESOURCE_NOT_FOUND_2026 = -32002;
/** The service behind this name is unavailable. */
export const SERVICE_UNAVAILABLE = -32010;
/** The call may or may not have run; it was not retried. */
export const OUTCOME_UNKNOWN = -32011;
/** This node is cut off from the cluster's quorum; nothing was run. */
export const MINORITY_PARTITION = -32012;
/** The caller may not do this (e.g. a management tool without the `safla:admin` scope). */
export const FORBIDDEN = -32013;
/** The caller is over a quota or its concurrent-call limit; `data.retryAfterMs` says when to retry. */
export const RATE_LIMITED = -32014;
