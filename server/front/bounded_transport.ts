/**
 * The SDK's Streamable HTTP server transport with a bound on its standalone
 * (GET) stream: messages that belong to no request (log lines, resource
 * updates, list changes, requests pushed to the client) pass the session's
 * {@link OutboundGate} first. Messages of a request go to that request's own
 * stream, which ends with it.
 *
 * @module
 */
import {
  type JSONRPCMessage,
  type RequestId,
  WebStandardStreamableHTTPServerTransport,
  type WebStandardStreamableHTTPServerTransportOptions,
} from "@modelcontextprotocol/server";
import type { OutboundGate } from "./outbound_gate.ts";

/** SSE framing around a message's JSON (`event: message\ndata: ...\n\n` plus an id). */
const FRAME_OVERHEAD_BYTES = 64;

/** See the module doc. */
export class BoundedStreamableTransport extends WebStandardStreamableHTTPServerTransport {
  readonly #gate: OutboundGate;

  /** A transport whose GET stream `gate` bounds. */
  constructor(gate: OutboundGate, options: WebStandardStreamableHTTPServerTransportOptions) {
    super(options);
    this.#gate = gate;
  }

  /** Sends `message`, unless it is for the GET stream and that stream is full. */
  override send(
    message: JSONRPCMessage,
    options?: { relatedRequestId?: RequestId },
  ): Promise<void> {
    if (options?.relatedRequestId !== undefined || !("method" in message) || !this.#gate.open) {
      return super.send(message, options);
    }
    const decision = this.#gate.offer(
      message,
      JSON.stringify(message).length + FRAME_OVERHEAD_BYTES,
    );
    if (decision === "close") this.closeStandaloneSSEStream();
    return decision === "send" ? super.send(message, options) : Promise.resolve();
  }
}
