/**
 * Raft messages between gateway nodes: one outbound connection per peer
 * (`peer_link.ts`), mutually authenticated with the cluster secret
 * (`handshake.ts`), over TCP or TLS (`peer_tls.ts`), bounded queues, and a listener that bounds what a
 * stranger can make it hold (`inbound_guard.ts`): a few KiB per frame, a cap
 * on connections in their handshake and a handshake deadline.
 *
 * Raft tolerates lost messages, so a full queue drops (and counts) rather than
 * blocking the node; the node hears about it through `onUnreachable`.
 *
 * @module
 */
import { ConfigError, type Message, type NodeId } from "@safla/core";
import { importSecret } from "./auth.ts";
import { decodeMessages } from "./codec.ts";
import { FrameKind, FrameReader } from "./frames.ts";
import {
  answerHandshake,
  type Claimed,
  HandshakeError,
  type HandshakeIdentity,
  MAX_HANDSHAKE_FRAME_BYTES,
} from "./handshake.ts";
import { InboundGuard, type InboundStats, ReportLimiter } from "./inbound_guard.ts";
import {
  denoPeerConn,
  listenPlain,
  type PeerConn,
  type PeerListener,
  splitAddress,
} from "./peer_conn.ts";
import { type LinkHost, PeerLink } from "./peer_link.ts";
import { dialTls, listenTls, type PeerTls } from "./peer_tls.ts";

export type { InboundStats } from "./inbound_guard.ts";

/** Something worth logging happened in the transport. */
export type PeerEvent =
  | {
    kind: "rejected";
    remote: string;
    claimedNodeId: string;
    reason: string;
    /** Rejections not reported since the last report (the log is rate-limited). */
    suppressed: number;
  }
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
  /** Deadline of a handshake, on both sides (default {@link DEFAULT_HANDSHAKE_TIMEOUT_MS}). */
  handshakeTimeoutMs?: number;
  /**
   * Most inbound connections in their handshake at once (default
   * {@link DEFAULT_MAX_UNAUTHENTICATED}); beyond it the oldest is closed.
   */
  maxUnauthenticated?: number;
  /** TLS certificates; without them peers talk plain TCP (still authenticated by the secret). */
  tls?: PeerTls;
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

/** Default deadline of a handshake, on both sides. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 5_000;

/** Default bound of connections accepted but not yet authenticated. */
export const DEFAULT_MAX_UNAUTHENTICATED = 32;

/** Smallest frame limit accepted. */
const MIN_FRAME_BYTES = 4096;

/** Default largest frame: 64 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;

/**
 * The peer transport of one node.
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
export class PeerTransport implements LinkHost {
  #options: PeerTransportOptions;
  #identity: Promise<HandshakeIdentity>;
  #listener!: PeerListener;
  #links = new Map<NodeId, PeerLink>();
  #inbound = new Set<PeerConn>();
  #guard: InboundGuard;
  #rejections = new ReportLimiter();
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
  /** Deadline of a handshake. */
  readonly handshakeTimeoutMs: number;

  private constructor(options: PeerTransportOptions, key: CryptoKey) {
    this.#options = options;
    this.#identity = Promise.resolve({ clusterId: options.clusterId, nodeId: options.nodeId, key });
    this.maxQueuedMessages = options.maxQueuedMessages ?? 4096;
    this.minBackoffMs = options.minBackoffMs ?? 50;
    this.maxBackoffMs = options.maxBackoffMs ?? 2_000;
    this.maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.#guard = new InboundGuard(options.maxUnauthenticated ?? DEFAULT_MAX_UNAUTHENTICATED);
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
    positive("handshakeTimeoutMs", options.handshakeTimeoutMs);
    positive("maxUnauthenticated", options.maxUnauthenticated);
    const transport = new PeerTransport(options, await importSecret(options.secret));
    const admit = (conn: PeerConn) => transport.#admit(conn);
    transport.#listener = options.tls
      ? await listenTls(
        options.hostname,
        options.port,
        options.tls,
        transport.handshakeTimeoutMs,
        admit,
      )
      : listenPlain(options.hostname, options.port, admit);
    for (const [peer, address] of Object.entries(options.peers)) transport.addPeer(peer, address);
    transport.#tasks.push(transport.#listener.done);
    return transport;
  }

  /** The port actually listened on. */
  get port(): number {
    return this.#listener.port;
  }

  /** @internal */
  identity(): Promise<HandshakeIdentity> {
    return this.#identity;
  }

  /** @internal */
  async dial(address: string, signal: AbortSignal): Promise<PeerConn> {
    if (this.#options.tls) return await dialTls(address, this.#options.tls, signal);
    const conn = await Deno.connect(splitAddress(address));
    conn.setNoDelay(true);
    return denoPeerConn(conn);
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

  /** Counters of the listener: connections in their handshake, evicted, rejected. */
  inboundStats(): InboundStats {
    return this.#guard.stats();
  }

  #admit(conn: PeerConn): void {
    if (this.#closing) return conn.close();
    this.#guard.admit(conn);
    this.#inbound.add(conn);
    this.#serve(conn).finally(() => this.#inbound.delete(conn));
  }

  #reject(conn: PeerConn, claimed: Claimed, reason: string): void {
    conn.close();
    const evicted = this.#guard.rejected(conn);
    if (this.#closing) return;
    const suppressed = this.#rejections.admit(performance.now());
    if (suppressed === undefined) return;
    this.emit({
      kind: "rejected",
      remote: conn.remote,
      claimedNodeId: claimed.nodeId,
      reason: evicted ? "closed to make room: too many connections in their handshake" : reason,
      suppressed,
    });
  }

  async #serve(conn: PeerConn): Promise<void> {
    const reader = new FrameReader(conn.readable, MAX_HANDSHAKE_FRAME_BYTES);
    const claimed: Claimed = { nodeId: "?" };
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      conn.close();
    }, this.handshakeTimeoutMs);
    let peer: NodeId;
    try {
      const io = { reader, write: (bytes: Uint8Array) => conn.write(bytes) };
      peer = await answerHandshake(io, await this.#identity, claimed);
    } catch (error) {
      const reason = timedOut
        ? `handshake timed out after ${this.handshakeTimeoutMs} ms`
        : reader.looksLikeTls()
        ? "the dialler speaks TLS, but this node listens on plain TCP (set --peer-tls-*)"
        : error instanceof HandshakeError
        ? error.reason
        : error instanceof Error
        ? error.message
        : String(error);
      return this.#reject(conn, claimed, reason);
    } finally {
      clearTimeout(timer);
    }
    this.#guard.authenticated(conn);
    reader.maxFrameBytes = this.maxFrameBytes;
    try {
      for (;;) {
        const frame = await reader.next();
        if (!frame) return conn.close();
        if (frame.kind !== FrameKind.messages) {
          return this.#reject(conn, claimed, `unexpected frame kind ${frame.kind}`);
        }
        const messages = decodeMessages(frame.payload);
        if (messages.some((m) => m.from !== peer || m.to !== this.#options.nodeId)) {
          return this.#reject(conn, claimed, "message addressed from or to the wrong node");
        }
        this.#options.onMessages(messages);
      }
    } catch (error) {
      // A broken stream from an authenticated peer, or our own shutdown, is no intrusion.
      conn.close();
      if (!this.#closing) {
        const reason = error instanceof Error ? error.message : String(error);
        this.emit({ kind: "disconnected", peer, reason });
      }
    }
  }

  /** Stops listening, closes every connection and waits for the link loops to end. */
  async close(): Promise<void> {
    this.#closing = true;
    this.#listener.close();
    for (const link of this.#links.values()) link.close();
    for (const conn of this.#inbound) conn.close();
    await Promise.allSettled(this.#tasks);
  }
}

function positive(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
    throw new ConfigError("peer transport", name, `must be a positive integer, got ${value}`);
  }
}
