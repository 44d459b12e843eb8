/**
 * The outbound side of the peer transport: one connection per peer carrying
 * batched frames, a bounded queue, and reconnects with jittered exponential
 * backoff.
 *
 * @module
 */
import type { Message, NodeId } from "@safla/core";
import { encodeMessageBatches, frameBatchLength } from "./codec.ts";
import { encodeFrame, FrameKind, FrameReader } from "./frames.ts";
import {
  dialHandshake,
  HandshakeError,
  type HandshakeIdentity,
  MAX_HANDSHAKE_FRAME_BYTES,
} from "./handshake.ts";
import type { PeerConn } from "./peer_conn.ts";
import type { PeerEvent } from "./peer_transport.ts";

/** What a link needs from its transport. */
export interface LinkHost {
  readonly maxQueuedMessages: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly maxFrameBytes: number;
  readonly handshakeTimeoutMs: number;
  identity(): Promise<HandshakeIdentity>;
  /** Opens a connection; `signal` aborts a dial still in progress (e.g. a TLS handshake). */
  dial(address: string, signal: AbortSignal): Promise<PeerConn>;
  emit(event: PeerEvent): void;
  unreachable(peer: NodeId): void;
}

/** The link to one peer. */
export class PeerLink {
  queue: Message[] = [];
  sent = 0;
  dropped = 0;
  connected = false;
  closed = false;
  #wake: (() => void) | undefined;
  #conn: PeerConn | undefined;

  constructor(
    readonly peer: NodeId,
    public address: string,
    readonly transport: LinkHost,
  ) {}

  enqueue(messages: Message[]): void {
    const room = this.transport.maxQueuedMessages - this.queue.length;
    const accepted = messages.length <= room ? messages : messages.slice(0, Math.max(0, room));
    for (const m of accepted) this.queue.push(m);
    const dropped = messages.length - accepted.length;
    if (dropped > 0) this.#drop(dropped);
    this.#wake?.();
  }

  #drop(count: number): void {
    this.dropped += count;
    this.transport.emit({ kind: "dropped", peer: this.peer, count });
    this.transport.unreachable(this.peer);
  }

  async run(): Promise<void> {
    let backoffMs = this.transport.minBackoffMs;
    while (!this.closed) {
      if (this.queue.length === 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      if (!this.#conn) {
        try {
          this.#conn = await this.#connect();
          this.connected = true;
          backoffMs = this.transport.minBackoffMs;
          this.transport.emit({ kind: "connected", peer: this.peer });
        } catch (error) {
          const lost = this.queue.length;
          this.queue = [];
          if (lost > 0) this.#drop(lost);
          if (this.closed) return;
          const reason = error instanceof HandshakeError ? error.reason : String(error);
          this.transport.emit({ kind: "disconnected", peer: this.peer, reason });
          await this.#sleep(backoffMs * (0.5 + Math.random() / 2));
          backoffMs = Math.min(backoffMs * 2, this.transport.maxBackoffMs);
          continue;
        }
      }
      const limitBytes = this.transport.maxFrameBytes;
      const batch = this.queue.splice(0, frameBatchLength(this.queue, limitBytes - 1));
      // The frame's length counts its kind byte besides the payload.
      const { payloads, oversized } = encodeMessageBatches(batch, limitBytes - 1);
      for (const m of oversized) {
        this.transport.emit({ kind: "oversized", peer: this.peer, type: m.type, limitBytes });
      }
      if (oversized.length > 0) this.#drop(oversized.length);
      let unsent = batch.length - oversized.length;
      try {
        for (const { payload, count } of payloads) {
          await this.#conn.write(encodeFrame(FrameKind.messages, payload));
          this.sent += count;
          unsent -= count;
        }
      } catch (error) {
        this.#disconnect(String(error));
        this.#drop(unsent);
      }
    }
  }

  /**
   * Connects and authenticates within one deadline: a listener that accepts
   * but never completes TLS, or an address that drops SYNs, must not hold
   * the link (and its queue) forever.
   */
  async #connect(): Promise<PeerConn> {
    const timeoutMs = this.transport.handshakeTimeoutMs;
    let conn: PeerConn | undefined;
    let reader: FrameReader | undefined;
    let timedOut = false;
    const deadline = Promise.withResolvers<never>();
    const abort = new AbortController();
    const timer = setTimeout(() => {
      timedOut = true;
      abort.abort();
      conn?.close();
      deadline.reject(
        new HandshakeError(`handshake with ${this.address} timed out after ${timeoutMs} ms`),
      );
    }, timeoutMs);
    deadline.promise.catch(() => {});
    const dialing = this.transport.dial(this.address, abort.signal);
    try {
      conn = await Promise.race([dialing, deadline.promise]);
      reader = new FrameReader(conn.readable, MAX_HANDSHAKE_FRAME_BYTES);
      const io = { reader, write: (bytes: Uint8Array) => conn!.write(bytes) };
      await Promise.race([
        dialHandshake(io, await this.transport.identity(), this.peer),
        deadline.promise,
      ]);
      reader.release();
      return conn;
    } catch (error) {
      // A dial that completes after the deadline is closed as it arrives.
      if (!conn) dialing.then((late) => late.close(), () => {});
      conn?.close();
      if (timedOut) {
        throw new HandshakeError(`handshake with ${this.address} timed out after ${timeoutMs} ms`);
      }
      if (reader?.looksLikeTls()) {
        throw new HandshakeError(
          "the peer answered with TLS, but this node dials plain TCP (set --peer-tls-*)",
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#wake = () => {
        if (this.closed) {
          clearTimeout(timer);
          resolve();
        }
      };
    });
  }

  #disconnect(reason: string): void {
    if (!this.#conn) return;
    this.#conn.close();
    this.#conn = undefined;
    this.connected = false;
    this.transport.emit({ kind: "disconnected", peer: this.peer, reason });
  }

  close(): void {
    this.closed = true;
    this.#disconnect("closed");
    this.#wake?.();
  }
}
