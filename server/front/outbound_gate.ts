/**
 * A bound on what waits to reach one client over one event stream. A backend
 * can produce notifications far faster than a client reads them (issue 11: a
 * backend flooding 100 listening sessions froze a node for 24 s at 2.3 GiB),
 * and a client may stop reading altogether; either way the gateway must not
 * buffer without limit.
 *
 * The gate counts messages and bytes handed to the stream and counts them off
 * as the HTTP layer takes them (the response body is wrapped so that it pulls
 * only when the socket can take more). Overflow policy, per kind:
 *
 * - progress and log notifications (`notifications/progress`,
 *   `notifications/message`) are dropped while the stream is over its bound,
 *   and counted (`dropped`): they are advisory, the next one supersedes them;
 * - the same holds for the node as a whole: all its streams together hold at
 *   most {@link OutboundBudget.maxBytes}, so 10 000 sessions that stop reading
 *   cannot add up to 10 000 times one stream's bound;
 * - anything else (a response, a request, `list_changed`, `resources/updated`)
 *   is still sent up to twice the bound; beyond that the stream is closed
 *   (`closed`): a client that far behind has stopped reading, and a closed
 *   stream frees what it held. The client may reconnect.
 *
 * @module
 */

/** Bounds of one stream's backlog. */
export interface OutboundLimits {
  /** Messages waiting, beyond which progress and log notifications are dropped. */
  readonly maxQueuedMessages: number;
  /** Bytes waiting, likewise. */
  readonly maxQueuedBytes: number;
}

/** The defaults: ample for a client that reads. */
export const DEFAULT_OUTBOUND_LIMITS: OutboundLimits = Object.freeze({
  maxQueuedMessages: 256,
  maxQueuedBytes: 256 * 1024,
});

/** What all the streams of one node hold together. */
export class OutboundBudget {
  /** Bytes waiting on every stream of the node. */
  bytes = 0;
  /** Bound on {@link bytes} (default 64 MiB). */
  readonly maxBytes: number;

  /** A budget of `maxBytes`. */
  constructor(maxBytes = 64 * 1024 * 1024) {
    this.maxBytes = maxBytes;
  }
}

/** A budget for streams that share none (a stream on its own). */
const UNSHARED = () => new OutboundBudget(Number.MAX_SAFE_INTEGER);

/** What to do with one message. */
export type OutboundDecision = "send" | "drop" | "close";

const DROPPABLE = new Set(["notifications/progress", "notifications/message"]);

/** True for the notifications that may be dropped when a stream is full. */
export function isDroppable(message: unknown): boolean {
  const method = (message as { method?: unknown } | null)?.method;
  return typeof method === "string" && DROPPABLE.has(method);
}

/** The overflow policy of the module doc, as a pure function of the backlog. */
export function decideOutbound(
  queued: { messages: number; bytes: number },
  sizeBytes: number,
  droppable: boolean,
  limits: OutboundLimits,
  node: { bytes: number; maxBytes: number } = { bytes: 0, maxBytes: Number.MAX_SAFE_INTEGER },
): OutboundDecision {
  const within = (factor: number) =>
    queued.messages < limits.maxQueuedMessages * factor &&
    queued.bytes + sizeBytes <= limits.maxQueuedBytes * factor &&
    node.bytes + sizeBytes <= node.maxBytes * factor;
  if (within(1)) return "send";
  if (droppable) return "drop";
  return within(2) ? "send" : "close";
}

/** The backlog of one event stream: see the module doc. */
export class OutboundGate {
  readonly #limits: OutboundLimits;
  readonly #budget: OutboundBudget;
  #messages = 0;
  #bytes = 0;
  #cancel?: () => void;
  /** Notifications dropped because the stream was full. */
  dropped = 0;
  /** Times the stream was closed because its client fell too far behind. */
  closed = 0;

  /** A gate with `limits`, sharing the node's `budget`. */
  constructor(limits: OutboundLimits = DEFAULT_OUTBOUND_LIMITS, budget = UNSHARED()) {
    this.#limits = limits;
    this.#budget = budget;
  }

  /** True while a wrapped stream is open (messages are counted only then). */
  get open(): boolean {
    return this.#cancel !== undefined;
  }

  /**
   * True when a droppable notification would be dropped now: lets a fan-out
   * skip a full stream before paying for the message's encoding.
   */
  get full(): boolean {
    return this.#cancel !== undefined &&
      decideOutbound(this.backlog, 0, true, this.#limits, this.#budget) === "drop";
  }

  /** Counts a notification dropped before it reached {@link offer}. */
  skip(): void {
    this.dropped++;
  }

  /** Messages and bytes waiting for the client. */
  get backlog(): { messages: number; bytes: number } {
    return { messages: this.#messages, bytes: this.#bytes };
  }

  /**
   * Takes over `response`'s event stream: its bytes reach the client only as
   * fast as the client reads, and are counted off the backlog as they go.
   * A newer stream replaces an older one (the older is cut).
   */
  wrap(response: Response): Response {
    if (response.body === null) return response;
    this.#cancel?.();
    const reader = response.body.getReader();
    let finished = false;
    const finish = () => {
      finished = true;
      if (this.#cancel === cut) this.#cancel = undefined;
      this.#messages = 0;
      this.#setBytes(0);
    };
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const cut = () => {
      if (finished) return;
      finish();
      // Erroring the body ends the HTTP response; cancelling the reader frees the backlog.
      controller.error(new Error("the client fell too far behind on this stream"));
      reader.cancel().catch(() => {});
    };
    this.#cancel = cut;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
      },
      pull: async (c) => {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (finished) return;
        if (done || value === undefined) {
          finish();
          c.close();
          return;
        }
        this.#messages = Math.max(0, this.#messages - 1);
        this.#setBytes(Math.max(0, this.#bytes - value.byteLength));
        c.enqueue(value);
      },
      cancel: (reason) => {
        finish();
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
    return new Response(body, { status: response.status, headers: response.headers });
  }

  #setBytes(bytes: number): void {
    this.#budget.bytes += bytes - this.#bytes;
    this.#bytes = bytes;
  }

  /**
   * Decides for `message`, about to be written to the stream as `sizeBytes`
   * bytes; on "close" the stream is already cut.
   */
  offer(message: unknown, sizeBytes: number): OutboundDecision {
    if (this.#cancel === undefined) return "send";
    const decision = decideOutbound(
      { messages: this.#messages, bytes: this.#bytes },
      sizeBytes,
      isDroppable(message),
      this.#limits,
      this.#budget,
    );
    if (decision === "send") {
      this.#messages++;
      this.#setBytes(this.#bytes + sizeBytes);
    } else if (decision === "drop") this.dropped++;
    else {
      this.closed++;
      this.#cancel();
    }
    return decision;
  }
}
