/**
 * Calls that cross to another node of the cluster: when no local replica of a
 * service can take a call (all down, breakers open) and none was sent, the
 * gateway hands it to a node that has one instead of failing with "no replica
 * available" until its own replicas restart. The request goes over the nodes'
 * HTTP API, authenticated with the cluster token, and the receiving node runs
 * it on its own replicas only, so a call crosses at most once.
 *
 * Retry rules are the local ones: a node that answers "none here either" never
 * ran the call, so the next node is tried; a node that may have run it (the
 * connection broke after sending) is followed by another only for calls safe
 * to repeat. What a backend answered, error or not, is final. Forwarded calls
 * carry no server→client requests or progress (a plain request and reply).
 *
 * @module
 */
import { ProtocolError } from "@modelcontextprotocol/server";
import { OUTCOME_UNKNOWN } from "./jsonrpc_codes.ts";

/** Header with the cluster token on forwarded calls (the same as the store's forwarding). */
export const CLUSTER_AUTH_HEADER = "x-safla-cluster-auth";
/** Path of forwarded calls on a node's HTTP API. */
export const FORWARDED_CALL_PATH = "/cluster/v1/mcp-call";
/** Largest forwarded call body accepted. */
const MAX_FORWARDED_BODY_BYTES = 4 * 1024 * 1024;

/** One call to run on another node. */
export interface RemoteCall {
  service: string;
  method: string;
  params: Record<string, unknown>;
  /** Whether the call may run twice (read-only or idempotent). */
  repeatSafe: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
}

/** Where the gateway sends calls it cannot serve locally. */
export interface RemoteCaller {
  /** The reply of a node that ran the call; undefined when no node could take it. */
  call(call: RemoteCall): Promise<Record<string, unknown> | undefined>;
}

/** A forwarded call's answer on the wire. */
type WireAnswer =
  | { result: Record<string, unknown> }
  | { error: { code: number; message: string; data?: unknown }; executed: boolean };

/** Sends calls to the other nodes' HTTP APIs, in turn. */
export class HttpRemoteCaller implements RemoteCaller {
  #next = 0;

  /** `peers()` lists the base URLs of the other nodes; `token` is the cluster token. */
  constructor(
    readonly peers: () => string[],
    readonly token: Promise<string>,
  ) {}

  async call(call: RemoteCall): Promise<Record<string, unknown> | undefined> {
    const peers = this.peers();
    // Start at a different node each time, so one node does not take every forwarded call.
    const first = this.#next++ % Math.max(1, peers.length);
    for (let i = 0; i < peers.length; i++) {
      const url = peers[(first + i) % peers.length];
      let answer: WireAnswer;
      try {
        const response = await fetch(`${url}${FORWARDED_CALL_PATH}`, {
          method: "POST",
          headers: { "content-type": "application/json", [CLUSTER_AUTH_HEADER]: await this.token },
          body: JSON.stringify({
            service: call.service,
            method: call.method,
            params: call.params,
            timeoutMs: call.timeoutMs,
          }),
          signal: call.signal === undefined
            ? AbortSignal.timeout(call.timeoutMs)
            : AbortSignal.any([call.signal, AbortSignal.timeout(call.timeoutMs)]),
        });
        if (response.status !== 200) {
          // Refused before running (not a gateway node, wrong token, too large).
          await response.body?.cancel();
          continue;
        }
        answer = await response.json() as WireAnswer;
      } catch (error) {
        if (call.signal?.aborted) throw error;
        if (isConnectFailure(error) || call.repeatSafe) continue;
        throw new ProtocolError(
          OUTCOME_UNKNOWN,
          `service "${call.service}": the call was forwarded to ${url} and its reply was lost; ` +
            `it may have run there`,
          { service: call.service, method: call.method, node: url, outcome: "unknown" },
        );
      }
      if ("result" in answer) return answer.result;
      if (!answer.executed) continue;
      throw new ProtocolError(answer.error.code, answer.error.message, answer.error.data);
    }
    return undefined;
  }
}

function isConnectFailure(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; depth++) {
    if (/client error \(Connect\)|Connection refused|ECONNREFUSED/i.test(e.message)) return true;
    e = e.cause;
  }
  return false;
}

/** What a node does with a call another node forwarded to it. */
export interface ForwardedCallTarget {
  /**
   * Runs the call on local replicas only. Rejects with {@link NotServedHere}
   * when no local replica took it (nothing ran).
   */
  callForwarded(
    service: string,
    method: string,
    params: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>>;
}

/** No local replica took a forwarded call; it did not run here. */
export class NotServedHere extends Error {
  /** Wraps the error a local client would have got. */
  constructor(readonly error: ProtocolError) {
    super(error.message);
    this.name = "NotServedHere";
  }
}

/** The HTTP handler of {@link FORWARDED_CALL_PATH} on a node. */
export function forwardedCallHandler(
  target: ForwardedCallTarget,
  token: Promise<string>,
  maxTimeoutMs: number,
): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.headers.get(CLUSTER_AUTH_HEADER) !== await token) {
      return Response.json({ error: "missing or wrong cluster token" }, { status: 401 });
    }
    const length = Number(request.headers.get("content-length") ?? "0");
    if (length > MAX_FORWARDED_BODY_BYTES) {
      return Response.json({ error: "forwarded call too large" }, { status: 413 });
    }
    let body: { service?: unknown; method?: unknown; params?: unknown; timeoutMs?: unknown };
    try {
      body = await request.json();
    } catch {
      return Response.json({ error: "body must be JSON" }, { status: 400 });
    }
    const { service, method, params } = body;
    if (
      typeof service !== "string" || typeof method !== "string" ||
      typeof params !== "object" || params === null || Array.isArray(params)
    ) {
      return Response.json({ error: "expected {service, method, params}" }, { status: 400 });
    }
    const timeoutMs = typeof body.timeoutMs === "number" && body.timeoutMs > 0
      ? Math.min(body.timeoutMs, maxTimeoutMs)
      : maxTimeoutMs;
    const signal = AbortSignal.any([request.signal, AbortSignal.timeout(timeoutMs)]);
    let answer: WireAnswer;
    try {
      answer = {
        result: await target.callForwarded(
          service,
          method,
          params as Record<string, unknown>,
          signal,
        ),
      };
    } catch (error) {
      const executed = !(error instanceof NotServedHere);
      const e = error instanceof NotServedHere ? error.error : error;
      answer = e instanceof ProtocolError
        ? { error: { code: e.code, message: e.message, data: e.data }, executed }
        : { error: { code: -32603, message: String((e as Error)?.message ?? e) }, executed };
    }
    return Response.json(answer);
  };
}
