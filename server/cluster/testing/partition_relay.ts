/**
 * A fault-injecting relay for Raft peer links on loopback: each node's peer
 * address points at the relay, which forwards to the node's real listener.
 * The relay reads the first frame of each connection (the `hello` that names
 * the dialling node), so it knows every link's direction and can cut any of
 * them: a cut link drops its open connections and refuses new ones, which is
 * what a partition looks like to the transport.
 *
 * @module
 */
import type { NodeId } from "@safla/core";
import { encodeFrame, FrameKind, FrameReader } from "@safla/transports/peer/frames";
import { helloSender } from "@safla/transports/peer/handshake";
import { freePort } from "@safla/transports/host/testing";
import type { MemberAddress } from "@safla/transports/host";
import { generateSecret } from "../cluster_args.ts";
import { LocalCluster } from "../local_cluster.ts";

interface Link {
  from: NodeId;
  to: NodeId;
  conns: Deno.Conn[];
}

const HELLO_TIMEOUT_MS = 2_000;

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/**
 * Relays between the nodes of one cluster.
 *
 * @example
 * ```ts ignore
 * const relay = PartitionRelay.start({ n1: "127.0.0.1:9001", n2: "127.0.0.1:9002" });
 * relay.cut("n1", "n2");
 * relay.healAll();
 * await relay.close();
 * ```
 */
export class PartitionRelay {
  readonly #listeners = new Map<NodeId, Deno.TcpListener>();
  readonly #targets: Record<NodeId, string>;
  readonly #cut = new Set<string>();
  readonly #links = new Map<string, Link>();
  readonly #tasks: Promise<void>[] = [];
  readonly #dial: (hostname: string, port: number) => Promise<Deno.TcpConn>;

  private constructor(
    targets: Record<NodeId, string>,
    dial: (hostname: string, port: number) => Promise<Deno.TcpConn>,
  ) {
    this.#targets = targets;
    this.#dial = dial;
  }

  /**
   * Starts one relay listener per node, forwarding to `targets[id]` ("host:port").
   * `dial` opens the upstream connection (tests slow it down to cut a link mid-dial).
   */
  static start(
    targets: Record<NodeId, string>,
    dial = (hostname: string, port: number) => Deno.connect({ hostname, port }),
  ): PartitionRelay {
    const relay = new PartitionRelay(targets, dial);
    for (const id of Object.keys(targets)) {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: freePort() });
      relay.#listeners.set(id, listener);
      relay.#tasks.push(relay.#accept(id, listener));
    }
    return relay;
  }

  /** The address other nodes must dial to reach `id`. */
  address(id: NodeId): string {
    const listener = this.#listeners.get(id);
    if (!listener) throw new RangeError(`no relay for ${id}`);
    return `127.0.0.1:${listener.addr.port}`;
  }

  /** Stops traffic that `from` sends to `to`. */
  cut(from: NodeId, to: NodeId): void {
    const key = `${from}>${to}`;
    this.#cut.add(key);
    const link = this.#links.get(key);
    if (link) { for (const conn of link.conns.splice(0)) closeQuietly(conn); }
  }

  /** Cuts every link to and from `id`. */
  isolate(id: NodeId): void {
    for (const other of Object.keys(this.#targets)) {
      if (other === id) continue;
      this.cut(id, other);
      this.cut(other, id);
    }
  }

  /** Restores every link. */
  healAll(): void {
    this.#cut.clear();
  }

  async #accept(to: NodeId, listener: Deno.TcpListener): Promise<void> {
    try {
      for await (const conn of listener) this.#tasks.push(this.#relay(to, conn));
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  }

  async #relay(to: NodeId, inbound: Deno.TcpConn): Promise<void> {
    const reader = new FrameReader(inbound.readable, 64 * 1024);
    const timer = setTimeout(() => closeQuietly(inbound), HELLO_TIMEOUT_MS);
    let upstream: Deno.TcpConn | undefined;
    try {
      const hello = await reader.next();
      if (hello?.kind !== FrameKind.hello) return closeQuietly(inbound);
      const from = helloSender(hello.payload);
      const key = `${from}>${to}`;
      if (this.#cut.has(key)) return closeQuietly(inbound);
      const target = this.#targets[to];
      const separator = target.lastIndexOf(":");
      upstream = await this.#dial(target.slice(0, separator), Number(target.slice(separator + 1)));
      clearTimeout(timer);
      // cut() may have run while this connection was being dialled: it could
      // not close a connection it did not know of yet, so look again.
      if (this.#cut.has(key)) {
        closeQuietly(upstream);
        return closeQuietly(inbound);
      }
      const link = this.#links.get(key) ?? { from, to, conns: [] };
      this.#links.set(key, link);
      link.conns.push(inbound, upstream);
      // The dialler waits for the challenge after its hello, so nothing else is buffered yet.
      reader.release();
      await upstream.write(encodeFrame(FrameKind.hello, hello.payload));
      const up = upstream;
      await Promise.allSettled([
        inbound.readable.pipeTo(up.writable),
        up.readable.pipeTo(inbound.writable),
      ]);
      link.conns = link.conns.filter((c) => c !== inbound && c !== up);
    } catch {
      closeQuietly(inbound);
      if (upstream) closeQuietly(upstream);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes every listener and connection. */
  async close(): Promise<void> {
    for (const listener of this.#listeners.values()) {
      try {
        listener.close();
      } catch { /* already closed */ }
    }
    for (const link of this.#links.values()) {
      for (const conn of link.conns.splice(0)) closeQuietly(conn);
    }
    await Promise.allSettled(this.#tasks);
  }
}

/** A local 3-process cluster whose Raft links all run through one {@link PartitionRelay}. */
export interface RelayedCluster {
  /** The node processes. */
  cluster: LocalCluster;
  /** The relay that cuts and heals their links. */
  relay: PartitionRelay;
  /** The node ids, `n1`..`n3`. */
  ids: NodeId[];
}

/** Starts three nodes in `dataDir` whose peers reach each other only through a relay. */
export async function startRelayedCluster(options: {
  clusterId: string;
  dataDir: string;
  demo?: boolean;
  requestTimeoutMs?: number;
}): Promise<RelayedCluster> {
  const ids = ["n1", "n2", "n3"];
  const realPeers: Record<NodeId, string> = Object.fromEntries(
    ids.map((id) => [id, `127.0.0.1:${freePort()}`]),
  );
  const relay = PartitionRelay.start(realPeers);
  const members: Record<NodeId, MemberAddress> = Object.fromEntries(
    ids.map((id) => [id, { peer: relay.address(id), url: `http://127.0.0.1:${freePort()}` }]),
  );
  try {
    const cluster = await LocalCluster.start({
      nodes: 3,
      basePort: 0,
      members,
      peerListen: realPeers,
      dataDir: options.dataDir,
      secret: generateSecret(),
      clusterId: options.clusterId,
      requestTimeoutMs: options.requestTimeoutMs ?? 1_500,
      demo: options.demo,
    });
    return { cluster, relay, ids };
  } catch (error) {
    await relay.close();
    throw error;
  }
}
