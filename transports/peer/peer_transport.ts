/**
 * Raft messages between gateway nodes over TCP: one outbound connection per
 * peer carrying batched frames, mutual authentication with the cluster
 * secret, bounded queues, and reconnects with jittered exponential backoff.
 *
 * Raft tolerates lost messages, so a full queue drops (and counts) rather than
 * blocking the node; the node hears about it through `onUnreachable`.
 *
 * @module
 */
import { ConfigError, type Message, type NodeId } from "@safla/core";
import { importSecret, nonce, packFields, prove, unpackFields, verify } from "./auth.ts";
import { decodeMessages, encodeMessageBatches, frameBatchLength } from "./codec.ts";
import { encodeFrame, FrameKind, FrameReader } from "./frames.ts";

/** Something worth logging happened in the transport. */
export type PeerEvent =
  | { kind: "rejected"; remote: string; claimedNodeId: string; reason: string }
  | { kind: "connected"; peer: NodeId }
  | { kind: "disconnected"; peer: NodeId; reason: string }
  | { kind: "dropped"; peer: NodeId; count: number }
  /** A message larger than a frame may be was dropped instead of breaking the link. */
  | { kind: "oversized"; peer: NodeId; type: string; limitBytes: number };

/** Options of {@link PeerTransport.start}. */
export interface PeerTransportOptions {
  /** This node. */
  nodeId: NodeId;
  /** Cluster identity; peers of another cluster are rejected. */
  clusterId: string;
  /** Shared secret (at least 16 characters). */
  secret: string;
  /** Address to listen on. */
  hostname: string;
  /** Port to listen on; 0 picks a free one. */
  port: number;
  /** Addresses ("host:port") of the other members. */
  peers: Record<NodeId, string>;
  /** Called with each batch of messages that arrived from an authenticated peer. */
  onMessages: (messages: Message[]) => void;
  /** Called when messages to a peer could not be delivered. */
  onUnreachable?: (peer: NodeId) => void;
  /** Log sink. */
  onEvent?: (event: PeerEvent) => void;
  /** Bound of each peer's outbound queue. */
  maxQueuedMessages?: number;
  /**
   * Largest frame accepted or sent (default {@link DEFAULT_MAX_FRAME_BYTES}).
   * Batches are split into frames below it; a single message above it is
   * dropped and reported (`oversized`), never sent: the receiver would drop
   * the whole connection, heartbeats included.
   */
  maxFrameBytes?: number;
  /** First reconnect delay; doubles up to `maxBackoffMs`. */
  minBackoffMs?: number;
  /** Longest reconnect delay. */
  maxBackoffMs?: number;
}

/** Counters of one peer link. */
export interface PeerLinkStats {
  /** Whether an authenticated connection is up. */
  connected: boolean;
  /** Messages waiting. */
  queued: number;
  /** Messages written to the socket. */
  sent: number;
  /** Messages dropped because the queue was full or the link broke. */
  dropped: number;
}

const HANDSHAKE_TIMEOUT_MS = 5_000;

/** Smallest frame limit accepted. */
const MIN_FRAME_BYTES = 4096;

/** Default largest frame: 64 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

class PeerLink {
  queue: Message[] = [];
  sent = 0;
  dropped = 0;
  connected = false;
  closed = false;
  #wake: (() => void) | undefined;
  #conn: Deno.TcpConn | undefined;

  constructor(
    readonly peer: NodeId,
    public address: string,
    readonly transport: PeerTransport,
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
          this.transport.emit({ kind: "disconnected", peer: this.peer, reason: String(error) });
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
          await this.#write(this.#conn, encodeFrame(FrameKind.messages, payload));
          this.sent += count;
          unsent -= count;
        }
      } catch (error) {
        this.#disconnect(String(error));
        this.#drop(unsent);
      }
    }
  }

  async #write(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) written += await conn.write(bytes.subarray(written));
  }

  async #connect(): Promise<Deno.TcpConn> {
    const separator = this.address.lastIndexOf(":");
    const hostname = this.address.slice(0, separator);
    const port = Number(this.address.slice(separator + 1));
    const conn = await Deno.connect({ hostname, port });
    conn.setNoDelay(true);
    const reader = new FrameReader(conn.readable, 4096);
    const timer = setTimeout(() => conn.close(), HANDSHAKE_TIMEOUT_MS);
    try {
      const { clusterId, nodeId, key } = this.transport.identity();
      const clientNonce = nonce();
      await this.#write(
        conn,
        encodeFrame(FrameKind.hello, packFields([clusterId, nodeId, clientNonce])),
      );
      const challenge = await reader.next();
      if (challenge?.kind !== FrameKind.challenge) throw new Error("peer did not send a challenge");
      const [serverNonce, serverProof] = unpackFields(challenge.payload, 2);
      const serverOk = await verify(
        await key,
        ["server", clusterId, clientNonce, serverNonce],
        serverProof,
      );
      if (!serverOk) throw new Error(`peer ${this.peer} at ${this.address} failed authentication`);
      const proof = await prove(await key, ["client", clusterId, nodeId, serverNonce, clientNonce]);
      await this.#write(conn, encodeFrame(FrameKind.auth, proof));
      reader.release();
      return conn;
    } catch (error) {
      try {
        conn.close();
      } catch { /* already closed by the handshake timeout */ }
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
    try {
      this.#conn.close();
    } catch { /* the socket is already gone */ }
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

/**
 * The TCP peer transport of one node.
 *
 * @example
 * ```ts
 * const transport = await PeerTransport.start({
 *   nodeId: "n1", clusterId: "c", secret: "a-long-enough-secret", hostname: "127.0.0.1", port: 0,
 *   peers: { n2: "127.0.0.1:7002" }, onMessages: (batch) => console.log(batch.length),
 * });
 * await transport.close();
 * ```
 */
export class PeerTransport {
  #options: PeerTransportOptions;
  #key: Promise<CryptoKey>;
  #listener: Deno.TcpListener;
  #links = new Map<NodeId, PeerLink>();
  #inbound = new Set<Deno.Conn>();
  #tasks: Promise<void>[] = [];
  #closing = false;
  /** Bound of each outbound queue. */
  readonly maxQueuedMessages: number;
  /** Reconnect backoff bounds. */
  readonly minBackoffMs: number;
  /** Reconnect backoff bounds. */
  readonly maxBackoffMs: number;
  /** Largest frame accepted or sent. */
  readonly maxFrameBytes: number;

  private constructor(
    options: PeerTransportOptions,
    key: Promise<CryptoKey>,
    listener: Deno.TcpListener,
  ) {
    this.#options = options;
    this.#key = key;
    this.#listener = listener;
    this.maxQueuedMessages = options.maxQueuedMessages ?? 4096;
    this.minBackoffMs = options.minBackoffMs ?? 50;
    this.maxBackoffMs = options.maxBackoffMs ?? 2_000;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Validates the options, starts listening and returns the transport. */
  static async start(options: PeerTransportOptions): Promise<PeerTransport> {
    const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    // The handshake's frames are small, but a limit that cannot carry an
    // append or a snapshot chunk is a configuration mistake.
    if (!Number.isSafeInteger(maxFrameBytes) || maxFrameBytes < MIN_FRAME_BYTES) {
      throw new ConfigError(
        "peer transport",
        "maxFrameBytes",
        `must be an integer >= ${MIN_FRAME_BYTES}, got ${maxFrameBytes}`,
      );
    }
    const key = importSecret(options.secret);
    await key;
    const listener = Deno.listen({
      hostname: options.hostname,
      port: options.port,
      transport: "tcp",
    });
    const transport = new PeerTransport(options, key, listener);
    for (const [peer, address] of Object.entries(options.peers)) transport.addPeer(peer, address);
    transport.#tasks.push(transport.#accept());
    return transport;
  }

  /** The port actually listened on. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** @internal */
  identity(): { clusterId: string; nodeId: NodeId; key: Promise<CryptoKey> } {
    return { clusterId: this.#options.clusterId, nodeId: this.#options.nodeId, key: this.#key };
  }

  /** @internal */
  emit(event: PeerEvent): void {
    this.#options.onEvent?.(event);
  }

  /** @internal */
  unreachable(peer: NodeId): void {
    this.#options.onUnreachable?.(peer);
  }

  /** Adds or re-addresses a member. */
  addPeer(peer: NodeId, address: string): void {
    if (peer === this.#options.nodeId) return;
    const existing = this.#links.get(peer);
    if (existing) {
      existing.address = address;
      return;
    }
    const link = new PeerLink(peer, address, this);
    this.#links.set(peer, link);
    this.#tasks.push(link.run());
  }

  /** Removes a member and drops its queue. */
  removePeer(peer: NodeId): void {
    this.#links.get(peer)?.close();
    this.#links.delete(peer);
  }

  /** Queues messages for their recipients; messages to unknown peers are reported unreachable. */
  send(messages: readonly Message[]): void {
    const byPeer = new Map<NodeId, Message[]>();
    for (const m of messages) {
      const list = byPeer.get(m.to);
      if (list) list.push(m);
      else byPeer.set(m.to, [m]);
    }
    for (const [peer, batch] of byPeer) {
      const link = this.#links.get(peer);
      if (link) link.enqueue(batch);
      else this.unreachable(peer);
    }
  }

  /** Per-peer counters. */
  stats(): Record<NodeId, PeerLinkStats> {
    const out: Record<NodeId, PeerLinkStats> = {};
    for (const [peer, link] of this.#links) {
      out[peer] = {
        connected: link.connected,
        queued: link.queue.length,
        sent: link.sent,
        dropped: link.dropped,
      };
    }
    return out;
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#inbound.add(conn);
        this.#serve(conn).finally(() => this.#inbound.delete(conn));
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }

  async #serve(conn: Deno.Conn): Promise<void> {
    const remote = `${(conn.remoteAddr as Deno.NetAddr).hostname}:${
      (conn.remoteAddr as Deno.NetAddr).port
    }`;
    const reader = new FrameReader(conn.readable, this.maxFrameBytes);
    let claimed = "?";
    let authenticated = false;
    const close = () => {
      try {
        conn.close();
      } catch { /* already closed */ }
    };
    const reject = (reason: string) => {
      this.emit({ kind: "rejected", remote, claimedNodeId: claimed, reason });
      close();
    };
    const timer = setTimeout(() => reject("handshake timed out"), HANDSHAKE_TIMEOUT_MS);
    try {
      const hello = await reader.next();
      if (hello?.kind !== FrameKind.hello) return reject("no hello frame");
      const [clusterBytes, nodeBytes, clientNonce] = unpackFields(hello.payload, 3);
      const clusterId = new TextDecoder().decode(clusterBytes);
      claimed = new TextDecoder().decode(nodeBytes);
      if (clusterId !== this.#options.clusterId) return reject(`wrong cluster "${clusterId}"`);
      const key = await this.#key;
      const serverNonce = nonce();
      const serverProof = await prove(key, ["server", clusterId, clientNonce, serverNonce]);
      await conn.write(encodeFrame(FrameKind.challenge, packFields([serverNonce, serverProof])));
      const auth = await reader.next();
      if (auth?.kind !== FrameKind.auth) return reject("no auth frame");
      const ok = await verify(
        key,
        ["client", clusterId, claimed, serverNonce, clientNonce],
        auth.payload,
      );
      if (!ok) return reject("bad cluster secret");
      clearTimeout(timer);
      authenticated = true;
      for (;;) {
        const frame = await reader.next();
        if (!frame) return;
        if (frame.kind !== FrameKind.messages) return reject(`unexpected frame kind ${frame.kind}`);
        const messages = decodeMessages(frame.payload);
        if (messages.some((m) => m.from !== claimed || m.to !== this.#options.nodeId)) {
          return reject("message addressed from or to the wrong node");
        }
        this.#options.onMessages(messages);
      }
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      // A broken stream from an authenticated peer, or our own shutdown, is no intrusion.
      if (this.#closing) close();
      else if (authenticated) {
        this.emit({ kind: "disconnected", peer: claimed, reason });
        close();
      } else reject(reason);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops listening, closes every connection and waits for the link loops to end. */
  async close(): Promise<void> {
    this.#closing = true;
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    for (const link of this.#links.values()) link.close();
    for (const conn of this.#inbound) {
      try {
        conn.close();
      } catch { /* already closed */ }
    }
    await Promise.allSettled(this.#tasks);
  }
}
