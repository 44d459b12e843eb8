/**
 * One gateway instance, started in-process: the gateway over its backends,
 * the management tools, and the HTTP app on `Deno.serve`. `serve` on the CLI
 * runs one alone; each node of a cluster (a Raft member, `cluster/`) hosts one.
 *
 * @module
 */
import { SeededRng } from "@safla/core";
import type { GatewayConfig } from "./config.ts";
import { Gateway } from "./gateway/gateway.ts";
import { createResumeCodec } from "./front/front.ts";
import { createGatewayApp, type GatewayApp } from "./front/app.ts";
import { addManagementTools } from "./control/management.ts";
import { ServiceDirectory } from "./control/service_directory.ts";
import { type SessionDirectory, StoreSessionDirectory } from "./control/session_directory.ts";
import type { StateStore } from "./store/types.ts";
import { installCallGate } from "./quota/mod.ts";
import type { EraCache } from "@safla/transports";

/** Options of {@link startGatewayInstance}. */
export interface GatewayInstanceOptions {
  config: GatewayConfig;
  /**
   * Port to listen on; 0 picks a free one. Absent: no listener, for a host
   * (a cluster node) that serves `http.app` on its own port.
   */
  port?: number;
  hostname?: string;
  /**
   * HMAC key for `requestState` across input rounds. Nodes of one cluster
   * must share it; a random per-process key is used when absent.
   */
  stateKey?: Uint8Array;
  /** Seed of the balancer's random choices. */
  seed?: number;
  /**
   * The cluster's replicated state store: services registered at runtime are
   * shared through it, and the state-store management tools use it.
   */
  store?: StateStore;
  /**
   * What is known about each backend's protocol era; a fresh cache (every
   * backend probed) when absent.
   */
  eraCache?: EraCache;
  /**
   * Where 2025 sessions are shared with other nodes; by default the store's
   * session keys, or none without a store.
   */
  sessionDirectory?: SessionDirectory;
}

/** A running gateway instance. */
export interface GatewayInstance {
  gateway: Gateway;
  http: GatewayApp;
  /** The port actually bound; undefined without a listener. */
  port?: number;
  url?: string;
  /** Stops serving, closes sessions and ends every backend. */
  close(): Promise<void>;
}

/** Starts an instance: connects backends (failures do not block), then listens. */
export async function startGatewayInstance(
  options: GatewayInstanceOptions,
): Promise<GatewayInstance> {
  const codec = createResumeCodec(options.stateKey ?? crypto.getRandomValues(new Uint8Array(32)));
  const gateway = new Gateway(options.config, {
    nowMs: () => performance.now(),
    rng: new SeededRng(options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]),
    sealer: codec,
    eraCache: options.eraCache,
  });
  const directory = options.store === undefined
    ? undefined
    : new ServiceDirectory(options.store, gateway);
  addManagementTools(gateway, { directory, store: options.store });
  installCallGate(gateway, options.config.settings, options.store);
  await gateway.start();
  await directory?.start();
  const http = createGatewayApp({
    gateway,
    codec,
    allowedHosts: options.config.settings.allowedHosts,
    allowedOrigins: options.config.settings.allowedOrigins,
    maxRequestBodyBytes: options.config.settings.maxRequestBodyBytes,
    maxSessions: options.config.settings.maxSessions,
    maxSessionsPerPrincipal: options.config.settings.maxSessionsPerPrincipal,
    outboundLimits: {
      maxQueuedMessages: options.config.settings.maxStreamBacklogMessages,
      maxQueuedBytes: options.config.settings.maxStreamBacklogBytes,
    },
    maxOutboundBytes: options.config.settings.maxNodeBacklogBytes,
    sessionDirectory: options.sessionDirectory ??
      (options.store === undefined ? undefined : new StoreSessionDirectory(options.store)),
  });
  if (options.port === undefined) {
    return {
      gateway,
      http,
      close: async () => {
        await directory?.close();
        await http.close();
        await gateway.close();
      },
    };
  }
  const hostname = options.hostname ?? "127.0.0.1";
  const { promise: listening, resolve } = Promise.withResolvers<number>();
  const server = Deno.serve({
    hostname,
    port: options.port,
    onListen: ({ port }) => resolve(port),
  }, http.fetch);
  const port = await listening;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    gateway,
    http,
    port,
    url: `http://${host}:${port}`,
    close: async () => {
      await directory?.close();
      await http.close();
      await server.shutdown();
      await gateway.close();
    },
  };
}
