/**
 * What a backend sends on its own (log lines, resource updates, and 2025
 * server→client requests), routed to the client that caused it or, when none
 * can be told apart, handled so that no client sees what may not be its own.
 *
 * @module
 */
import { ProtocolError } from "@modelcontextprotocol/server";
import type { CallContext } from "./call_context.ts";
import type { ListKind } from "./catalog_view.ts";
import { INVALID_PARAMS, METHOD_NOT_FOUND } from "./jsonrpc_codes.ts";
import { clientCan } from "./wire_meta.ts";

/** Gateway events a front subscribes to. */
export interface GatewayListener {
  listChanged?(kind: ListKind): void;
  resourceUpdated?(uri: string): void;
  /** A log message not tied to one in-flight request. */
  log?(params: Record<string, unknown>): void;
}

/**
 * The calls in flight on one replica, each with the backend's count of requests
 * sent read just before it was sent: a server→client request can only belong to
 * a call the backend could have received before sending it.
 */
export type CallsInFlight = ReadonlyMap<CallContext, number>;

/** Routes one gateway's backend events; counts what it could not route. */
export class BackendEvents {
  /** Log lines dropped because calls of several clients were in flight. */
  logsDropped = 0;
  /** `roots/list` requests answered by the gateway itself (no roots). */
  rootsAnswered = 0;
  readonly #listeners: ReadonlySet<GatewayListener>;

  /** Routes to `listeners` (the gateway's own set, read at each event). */
  constructor(listeners: ReadonlySet<GatewayListener>) {
    this.#listeners = listeners;
  }

  /** A notification of a replica of `serviceName` with `inFlight` calls on it. */
  onNotification(
    serviceName: string,
    inFlight: CallsInFlight,
    n: { method: string; params?: Record<string, unknown> },
  ): void {
    if (n.method === "notifications/resources/updated") {
      const uri = n.params?.uri;
      if (typeof uri === "string") { for (const l of this.#listeners) l.resourceUpdated?.(uri); }
      return;
    }
    if (n.method === "notifications/message") {
      const params = { ...n.params, logger: n.params?.logger ?? serviceName };
      // The wire does not say which call a log line belongs to. With the calls
      // in flight all of one client it is that client's; with none it is the
      // server's own and goes to every session; with calls of several clients
      // it could be any of theirs, and is dropped rather than shown to clients
      // it may not belong to.
      const owners = onePerClient(inFlight.keys());
      if (owners.length === 1) {
        void owners[0].notify({ method: n.method, params }).catch(() => {});
      } else if (owners.length === 0) {
        for (const l of this.#listeners) l.log?.(params);
      } else {
        this.logsDropped++;
      }
    }
    // list_changed: the backend refreshes its catalog and reports a state change,
    // which rebuilds the views and notifies clients once if anything changed.
  }

  /**
   * Routes a 2025 backend's server→client request to the one client whose call
   * caused it. The 2025 wire does not say which call that is, so a request can
   * only belong to a call in flight that was sent before the request arrived;
   * anything else (e.g. the `roots/list` a server sends on connect) was caused
   * by no call and is never handed to a later one. Calls in flight of one
   * client count as one owner; calls of several clients make it ambiguous,
   * and the request is refused rather than sent to a client that may not
   * have caused it.
   *
   * `roots/list` asked outside exactly one such call, or by a call whose client
   * declared no roots, is answered by the gateway with no roots: a backend
   * connection is shared by every client of the gateway and 2025 servers cache
   * the roots of their session, so one client's roots must not become the
   * roots every other client's calls run under.
   */
  async onServerRequest(
    replicaId: string,
    inFlight: CallsInFlight,
    request: { method: string; params?: Record<string, unknown> },
    signal: AbortSignal,
    requestsSentBefore: number,
  ): Promise<Record<string, unknown>> {
    const candidates: CallContext[] = [];
    for (const [ctx, sentBefore] of inFlight) {
      if (ctx.sendRequest !== undefined && sentBefore < requestsSentBefore) candidates.push(ctx);
    }
    // Several calls of one client: whichever asks, the same client answers.
    const owners = onePerClient(candidates);
    if (
      request.method === "roots/list" &&
      (owners.length !== 1 || !clientCan(owners[0].clientCapabilities, request.method))
    ) {
      this.rootsAnswered++;
      return { roots: [] };
    }
    if (owners.length === 0) {
      throw new ProtocolError(
        METHOD_NOT_FOUND,
        `${request.method} from ${replicaId}: no call in flight can answer it`,
      );
    }
    if (owners.length > 1) {
      throw new ProtocolError(
        INVALID_PARAMS,
        `${request.method} from ${replicaId}: ${owners.length} clients have calls in flight; ` +
          `cannot tell which one asked`,
      );
    }
    return await owners[0].sendRequest!(request, signal);
  }
}

/** One call per client: calls of one client connection count once. */
function onePerClient(calls: Iterable<CallContext>): CallContext[] {
  const owners: CallContext[] = [];
  for (const ctx of calls) {
    if (ctx.client !== undefined && owners.some((o) => o.client === ctx.client)) continue;
    owners.push(ctx);
  }
  return owners;
}
