/**
 * The legacy HTTP+SSE front (protocol 2024-11-05) for old clients: `GET /sse`
 * opens an event stream whose first event names the endpoint to POST
 * messages to; responses and server-initiated messages flow back on the
 * stream. One transport per stream; the SDK `Server` on top is a 2025 session.
 *
 * @module
 */
import type { JSONRPCMessage, Transport } from "@modelcontextprotocol/server";
import { OutboundGate } from "./outbound_gate.ts";

/** A server transport over one SSE stream plus POSTed messages. */
export class SseFrontTransport implements Transport {
  readonly sessionId: string;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  #controller?: ReadableStreamDefaultController<Uint8Array>;
  #encoder = new TextEncoder();
  #closed = false;
  #keepAlive?: ReturnType<typeof setInterval>;
  readonly #outbound: OutboundGate;
  /** The streaming response the GET must return. */
  readonly response: Response;

  /**
   * `endpoint` is the POST path; the session id is appended as a query
   * parameter. `outbound` bounds what waits for the client (outbound_gate.ts).
   */
  constructor(
    endpoint: string,
    sessionId: string,
    outbound = new OutboundGate(),
    keepAliveMs = 15_000,
  ) {
    this.sessionId = sessionId;
    this.#outbound = outbound;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
        this.#write(`event: endpoint\ndata: ${endpoint}?sessionId=${sessionId}\n\n`);
      },
      cancel: () => void this.close(),
    });
    this.#keepAlive = setInterval(() => this.#write(": keepalive\n\n"), keepAliveMs);
    this.response = outbound.wrap(
      new Response(stream, {
        headers: {
          "content-type": "text/event-stream",
          "cache-control": "no-cache, no-transform",
          connection: "keep-alive",
        },
      }),
    );
  }

  /** Nothing to do: the stream opened in the constructor. */
  start(): Promise<void> {
    return Promise.resolve();
  }

  #write(frame: string): void {
    const controller = this.#controller;
    if (this.#closed || controller === undefined) return;
    controller.enqueue(this.#encoder.encode(frame));
  }

  /** Sends one message as a `message` event, unless the client fell behind (outbound_gate.ts). */
  send(message: JSONRPCMessage): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`SSE session ${this.sessionId} is closed`));
    const frame = `event: message\ndata: ${JSON.stringify(message)}\n\n`;
    const decision = this.#outbound.offer(message, frame.length);
    if (decision === "close") {
      this.onerror?.(new Error(`SSE session ${this.sessionId}: client is not reading; closing`));
      void this.close();
    }
    if (decision === "send") this.#write(frame);
    return Promise.resolve();
  }

  /** Delivers a POSTed message to the server. */
  receive(message: JSONRPCMessage): void {
    this.onmessage?.(message);
  }

  /** Ends the stream. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    clearInterval(this.#keepAlive);
    try {
      this.#controller?.close();
    } catch {
      // The client already went away; the stream is closed either way.
    }
    this.onclose?.();
    return Promise.resolve();
  }
}
