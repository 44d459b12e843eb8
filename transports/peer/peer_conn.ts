/**
 * One peer connection as the transport uses it, whatever carries it (plain
 * TCP or TLS, a Deno connection or a Node TLS socket).
 *
 * @module
 */

/** A byte connection to a peer. */
export interface PeerConn {
  /** The bytes the peer sends. */
  readonly readable: ReadableStream<Uint8Array>;
  /** "host:port" of the other end, for the log. */
  readonly remote: string;
  /** Writes all of `bytes`. */
  write(bytes: Uint8Array): Promise<void>;
  /** Closes the connection; safe to call more than once. */
  close(): void;
}

/** A listener handing each accepted connection to a callback. */
export interface PeerListener {
  /** The port listened on. */
  readonly port: number;
  /** Stops accepting; connections already handed out stay open. */
  close(): void;
  /** Settles when the accept loop has ended. */
  readonly done: Promise<void>;
}

/** Formats an address for the log. */
export function formatAddress(addr: Deno.Addr): string {
  return addr.transport === "tcp" || addr.transport === "udp"
    ? `${addr.hostname}:${addr.port}`
    : addr.transport;
}

/**
 * Adapts a Deno connection (TCP or TLS).
 *
 * @example
 * ```ts ignore
 * const conn = denoPeerConn(await Deno.connect({ hostname: "127.0.0.1", port: 9001 }));
 * await conn.write(new Uint8Array([1]));
 * conn.close();
 * ```
 */
export function denoPeerConn(conn: Deno.Conn): PeerConn {
  let closed = false;
  return {
    readable: conn.readable,
    remote: formatAddress(conn.remoteAddr),
    async write(bytes) {
      let written = 0;
      while (written < bytes.length) written += await conn.write(bytes.subarray(written));
    },
    close() {
      if (closed) return;
      closed = true;
      try {
        conn.close();
      } catch { /* the other end or a stream already closed it */ }
    },
  };
}

/**
 * Splits "host:port" (IPv6 hosts in brackets) into its parts.
 *
 * @example
 * ```ts
 * import { splitAddress } from "./peer_conn.ts";
 * console.assert(splitAddress("[::1]:9001").hostname === "::1");
 * ```
 */
export function splitAddress(address: string): { hostname: string; port: number } {
  const separator = address.lastIndexOf(":");
  return {
    hostname: address.slice(0, separator).replace(/^\[|\]$/g, ""),
    port: Number(address.slice(separator + 1)),
  };
}

/**
 * Listens on plain TCP.
 *
 * @example
 * ```ts ignore
 * const listener = listenPlain("127.0.0.1", 0, (conn) => conn.close());
 * listener.close();
 * ```
 */
export function listenPlain(
  hostname: string,
  port: number,
  onConn: (conn: PeerConn) => void,
): PeerListener {
  const listener = Deno.listen({ hostname, port, transport: "tcp" });
  const done = (async () => {
    try {
      for await (const conn of listener) {
        conn.setNoDelay(true);
        onConn(denoPeerConn(conn));
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) throw error;
    }
  })();
  return {
    port: listener.addr.port,
    close() {
      try {
        listener.close();
      } catch { /* already closed */ }
    },
    done,
  };
}
