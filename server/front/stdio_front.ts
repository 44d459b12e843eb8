/**
 * The stdio front for desktop apps: the gateway serves one client over this
 * process's stdin/stdout, in whichever era the client opens with. Its caller
 * is the local user, known by the configured identity (`auth.stdioPrincipal`).
 *
 * @module
 */
import type {
  JSONRPCMessage,
  Server,
  Transport,
  TransportSendOptions,
} from "@modelcontextprotocol/server";
import { serveStdio, StdioServerTransport } from "@modelcontextprotocol/server/stdio";
import type { Gateway } from "../gateway/gateway.ts";
import { createFrontServer, type ResumeCodec, sendListChanged } from "./front.ts";
import { Session } from "./session.ts";
import { ANONYMOUS, type Principal } from "@safla/core/access";

/** A running stdio front. */
export interface GatewayStdioHandle {
  /** Resolves when the client closes stdin. */
  closed: Promise<void>;
  /** Ends the connection. */
  close(): Promise<void>;
}

/** Passes everything through to the stdio transport, and reports when it closes. */
class ObservedTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  #inner: StdioServerTransport;

  constructor(inner: StdioServerTransport, onEnd: () => void) {
    this.#inner = inner;
    inner.onclose = () => {
      this.onclose?.();
      onEnd();
    };
    inner.onerror = (error) => this.onerror?.(error);
    inner.onmessage = (message) => this.onmessage?.(message);
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  send(message: JSONRPCMessage, _options?: TransportSendOptions): Promise<void> {
    return this.#inner.send(message);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}

/** Serves `gateway` over stdio to `principal` until stdin closes. */
export function serveGatewayStdio(
  gateway: Gateway,
  codec: ResumeCodec,
  principal: Principal = ANONYMOUS,
): GatewayStdioHandle {
  // One client at a time, in one era: a 2025 one is a session, a 2026 one is not.
  const servers = new Map<Server, Session | undefined>();
  const ended = Promise.withResolvers<void>();
  const unsubscribe = gateway.subscribe({
    listChanged: (kind) => {
      for (const server of servers.keys()) sendListChanged(server, kind);
    },
    resourceUpdated: (uri) => {
      for (const [server, session] of servers) {
        if (session?.subscriptions.has(uri)) {
          void server.sendResourceUpdated({ uri }).catch(() => {});
        }
      }
    },
  });
  const handle = serveStdio(({ era }) => {
    const session = era === "legacy" ? new Session(gateway, codec, { principal }) : undefined;
    const server = session?.server ?? createFrontServer(gateway, codec, era, undefined, principal);
    servers.set(server, session);
    server.onclose = () => {
      session?.end();
      servers.delete(server);
    };
    return server;
  }, {
    transport: new ObservedTransport(new StdioServerTransport(), () => ended.resolve()),
    onerror: (error) => console.error(`stdio front: ${error.message}`),
  });
  return {
    closed: ended.promise,
    close: async () => {
      unsubscribe();
      await handle.close();
    },
  };
}
