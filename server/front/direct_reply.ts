/**
 * The HTTP answer to one call on the direct lane (direct_call.ts): one JSON
 * body when the result is all there is, an SSE stream as soon as anything has
 * to go out first, and keep-alives on a stream that goes quiet.
 *
 * @module
 */
import { OutboundGate } from "./outbound_gate.ts";

/** How long a direct reply may go without a byte before it turns into a stream with keep-alives. */
export const DIRECT_KEEP_ALIVE_MS = 15_000;
/** How often quiet replies are checked; a keep-alive goes out up to this much late. */
const KEEP_ALIVE_TICK_MS = 1_000;
const encoder = new TextEncoder();

/**
 * Keeps quiet direct replies alive: one ticking timer for all of them rather
 * than a timer per call. Each app owns one and closes it with its sessions.
 */
export class KeepAlive {
  #replies = new Set<DirectReply>();
  #tick?: ReturnType<typeof setTimeout>;
  #closed = false;

  /** Watches `reply` until it ends. */
  add(reply: DirectReply): void {
    if (this.#closed) return;
    this.#replies.add(reply);
    this.#tick ??= setTimeout(() => this.#sweep(), KEEP_ALIVE_TICK_MS);
  }

  /** Stops watching `reply`. */
  delete(reply: DirectReply): void {
    this.#replies.delete(reply);
  }

  /** Stops the timer; replies still open get no more keep-alives. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#tick);
    this.#tick = undefined;
    this.#replies.clear();
  }

  #sweep(): void {
    this.#tick = undefined;
    const nowMs = performance.now();
    for (const reply of this.#replies) reply.pingIfQuiet(nowMs);
    if (this.#replies.size > 0) this.#tick = setTimeout(() => this.#sweep(), KEEP_ALIVE_TICK_MS);
  }
}

/**
 * The HTTP answer to one direct call: plain JSON when the result is all
 * there is, an SSE stream as soon as anything has to go out first (or the
 * call has been quiet for {@link DIRECT_KEEP_ALIVE_MS}).
 */
export class DirectReply {
  readonly response: Promise<Response>;
  #resolve!: (response: Response) => void;
  #sessionId: string;
  #keepAlive: KeepAlive;
  #stream?: ReadableStreamDefaultController<Uint8Array>;
  #done = false;
  /** A client that stops reading gets its progress dropped, then its stream cut. */
  readonly #outbound = new OutboundGate();
  /** When the client last got a byte, or the call began. */
  #lastSentMs = performance.now();

  constructor(sessionId: string, keepAlive: KeepAlive) {
    this.#sessionId = sessionId;
    this.#keepAlive = keepAlive;
    this.response = new Promise((resolve) => this.#resolve = resolve);
    keepAlive.add(this);
  }

  /** Sends a message before the result. */
  notify(message: Record<string, unknown>): boolean {
    if (this.#done) return false;
    const frame = `event: message\ndata: ${JSON.stringify(message)}\n\n`;
    const decision = this.#outbound.offer(message, frame.length);
    if (decision === "close") {
      this.#end();
      return false;
    }
    return decision === "drop" || this.#enqueue(frame);
  }

  /** Sends the response and ends the reply. */
  finish(message: Record<string, unknown>): void {
    if (this.#done) return;
    this.#end();
    const json = JSON.stringify(message);
    if (this.#stream === undefined) {
      this.#resolve(
        new Response(json, {
          status: 200,
          headers: { "content-type": "application/json", "mcp-session-id": this.#sessionId },
        }),
      );
      return;
    }
    this.#enqueue(`event: message\ndata: ${json}\n\n`);
    this.#close();
  }

  /** Ends the reply without a response: the client cancelled the call. */
  abandon(): void {
    if (this.#done) return;
    this.#end();
    this.#open();
    this.#close();
  }

  /** Sends an SSE comment when nothing went out for {@link DIRECT_KEEP_ALIVE_MS}. */
  pingIfQuiet(nowMs: number): void {
    if (!this.#done && nowMs - this.#lastSentMs >= DIRECT_KEEP_ALIVE_MS) {
      this.#enqueue(": keepalive\n\n");
    }
  }

  #end(): void {
    this.#done = true;
    this.#keepAlive.delete(this);
  }

  #open(): ReadableStreamDefaultController<Uint8Array> {
    if (this.#stream !== undefined) return this.#stream;
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => controller = c,
      // The client went away: nothing more can reach it.
      cancel: () => this.#end(),
    });
    this.#stream = controller;
    this.#resolve(this.#outbound.wrap(
      new Response(body, {
        status: 200,
        headers: {
          "content-type": "text/event-stream",
          "cache-control": "no-cache, no-transform",
          connection: "keep-alive",
          "x-accel-buffering": "no",
          "mcp-session-id": this.#sessionId,
        },
      }),
    ));
    return controller;
  }

  /** False when the client closed the stream: nothing reaches it any more. */
  #enqueue(text: string): boolean {
    this.#lastSentMs = performance.now();
    try {
      this.#open().enqueue(encoder.encode(text));
      return true;
    } catch {
      // The client closed the stream; the call's outcome has nowhere to go.
      return false;
    }
  }

  #close(): void {
    try {
      this.#stream?.close();
    } catch {
      // Already closed by the client.
    }
  }
}
