/**
 * TLS between nodes, under the secret handshake: the dialler checks that the
 * listener's certificate chains to the cluster CA and names the address it
 * dialled; with `mutual`, the listener requires the same of the dialler's
 * certificate. The dialler is `Deno.connectTls`; the listener is Node's TLS
 * server (Deno's own cannot ask for client certificates), whose connections
 * count against the transport's pre-authentication bounds from the moment
 * TCP accepts them, TLS handshake included.
 *
 * @module
 */
import tls from "node:tls";
import type { Socket } from "node:net";
import { denoPeerConn, type PeerConn, type PeerListener, splitAddress } from "./peer_conn.ts";

/** Certificates of one node (PEM text). */
export interface PeerTls {
  /** This node's certificate chain; names (SAN) the host part of its peer address. */
  cert: string;
  /** The certificate's private key. */
  key: string;
  /** The CA that signs every node's certificate. */
  ca: string;
  /** Require and verify a certificate from every dialler, too. */
  mutual: boolean;
}

/** Where {@link loadPeerTls} reads the certificates from. */
export interface PeerTlsFiles {
  /** PEM certificate chain of this node. */
  certFile: string;
  /** PEM private key. */
  keyFile: string;
  /** PEM CA certificate. */
  caFile: string;
  /** Require client certificates. */
  mutual: boolean;
}

/** A certificate file is missing or not PEM. */
export class PeerTlsError extends Error {
  /** Names the file and what is wrong. */
  constructor(detail: string) {
    super(`peer TLS: ${detail}`);
    this.name = "PeerTlsError";
  }
}

/**
 * Reads and checks the PEM files.
 *
 * @example
 * ```ts ignore
 * const tls = await loadPeerTls({ certFile: "n1.crt", keyFile: "n1.key", caFile: "ca.crt", mutual: true });
 * ```
 */
export async function loadPeerTls(files: PeerTlsFiles): Promise<PeerTls> {
  const read = async (path: string, what: string, marker: RegExp) => {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      throw new PeerTlsError(`cannot read the ${what} ${path}: ${(error as Error).message}`);
    }
    if (!marker.test(text)) throw new PeerTlsError(`${path} holds no PEM ${what}`);
    return text;
  };
  return {
    cert: await read(files.certFile, "certificate", /-----BEGIN CERTIFICATE-----/),
    key: await read(files.keyFile, "private key", /-----BEGIN [A-Z ]*PRIVATE KEY-----/),
    ca: await read(files.caFile, "CA certificate", /-----BEGIN CERTIFICATE-----/),
    mutual: files.mutual,
  };
}

/**
 * Dials a peer over TLS, verifying its certificate against the cluster CA;
 * `signal` closes a handshake still in progress.
 *
 * @example
 * ```ts ignore
 * const conn = await dialTls("10.0.0.2:9080", await loadPeerTls(files), AbortSignal.timeout(5_000));
 * ```
 */
export async function dialTls(
  address: string,
  config: PeerTls,
  signal: AbortSignal,
): Promise<PeerConn> {
  const conn = await Deno.connectTls({
    ...splitAddress(address),
    caCerts: [config.ca],
    cert: config.cert,
    key: config.key,
  });
  const abandon = () => {
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  if (signal.aborted) abandon();
  signal.addEventListener("abort", abandon, { once: true });
  try {
    await conn.handshake();
  } catch (error) {
    abandon();
    throw new Error(`TLS with ${address} failed: ${(error as Error).message}`);
  } finally {
    signal.removeEventListener("abort", abandon);
  }
  return denoPeerConn(conn);
}

/** A connection accepted by the TLS listener; usable once its TLS handshake is done. */
class TlsPeerConn implements PeerConn {
  readonly readable: ReadableStream<Uint8Array>;
  readonly remote: string;
  #secure = Promise.withResolvers<tls.TLSSocket>();
  #socket: tls.TLSSocket | undefined;
  #closed = false;

  constructor(readonly raw: Socket) {
    this.remote = `${raw.remoteAddress}:${raw.remotePort}`;
    // An unhandled rejection would end the process; readers see the failure through the stream.
    this.#secure.promise.catch(() => {});
    this.readable = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#secure.promise.then((socket) => {
          let ended = false;
          const end = (error?: Error) => {
            if (ended) return;
            ended = true;
            if (error) controller.error(error);
            else controller.close();
          };
          socket.on("data", (chunk: Uint8Array) => {
            if (ended) return;
            controller.enqueue(chunk);
            if ((controller.desiredSize ?? 0) <= 0) socket.pause();
          });
          socket.on("end", () => end());
          socket.on("close", () => end());
          socket.on("error", (error: Error) => end(error));
        }, (error) => controller.error(error));
      },
      pull: () => {
        this.#socket?.resume();
      },
      cancel: () => this.close(),
    });
    raw.on("close", () => this.fail("closed during the TLS handshake"));
  }

  secured(socket: tls.TLSSocket): void {
    if (this.#closed) return void socket.destroy();
    this.#socket = socket;
    this.#secure.resolve(socket);
  }

  fail(reason: string): void {
    this.#secure.reject(new Error(reason));
  }

  async write(bytes: Uint8Array): Promise<void> {
    const socket = await this.#secure.promise;
    await new Promise<void>((resolve, reject) =>
      socket.write(bytes, (error) => (error ? reject(error) : resolve()))
    );
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.fail("closed");
    this.#socket?.destroy();
    this.raw.destroy();
  }
}

/**
 * Listens for TLS peers. `onConn` gets each connection as TCP accepts it;
 * a failed TLS handshake fails its reads with the reason.
 *
 * @example
 * ```ts ignore
 * const listener = await listenTls("0.0.0.0", 9080, tls, 5_000, (conn) => serve(conn));
 * ```
 */
export async function listenTls(
  hostname: string,
  port: number,
  config: PeerTls,
  handshakeTimeoutMs: number,
  onConn: (conn: PeerConn) => void,
): Promise<PeerListener> {
  const pending = new WeakMap<Socket, TlsPeerConn>();
  const server = tls.createServer({
    cert: config.cert,
    key: config.key,
    ca: [config.ca],
    requestCert: config.mutual,
    rejectUnauthorized: config.mutual,
    handshakeTimeout: handshakeTimeoutMs,
  });
  // Node's TLS socket keeps the TCP socket it wraps as `_parent`.
  const rawOf = (socket: tls.TLSSocket) => (socket as unknown as { _parent?: Socket })._parent;
  server.on("connection", (raw: Socket) => {
    const conn = new TlsPeerConn(raw);
    pending.set(raw, conn);
    onConn(conn);
  });
  server.on("secureConnection", (socket: tls.TLSSocket) => {
    const raw = rawOf(socket);
    const conn = raw && pending.get(raw);
    if (conn) conn.secured(socket);
    else socket.destroy();
  });
  server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
    const raw = rawOf(socket);
    if (raw) pending.get(raw)?.fail(`TLS handshake failed: ${error.message}`);
  });
  await new Promise<void>((resolve, reject) => {
    // The same error as a plain listener's, so callers tell a busy port the same way.
    server.once(
      "error",
      (error: Error & { code?: string }) =>
        reject(error.code === "EADDRINUSE" ? new Deno.errors.AddrInUse(error.message) : error),
    );
    server.listen(port, hostname, () => {
      server.removeAllListeners("error");
      resolve();
    });
  });
  const { port: bound } = server.address() as { port: number };
  const done = Promise.withResolvers<void>();
  // As the plain listener's accept loop does, an error after listening ends it.
  server.on("error", (error: Error) => done.reject(error));
  return {
    port: bound,
    close() {
      server.close();
      done.resolve();
    },
    done: done.promise,
  };
}
