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
import { PolicyStore } from "./access/policy_store.ts";
import type { PolicyWriter } from "./access/policy_admin.ts";
import type { EraCache } from "@safla/transports";
import { metricsAccess, metricsRoute, NodeMetrics } from "./ops/metrics.ts";
import { hostOriginGuard } from "./front/http_edge.ts";
import { localhostAllowedHostnames } from "@modelcontextprotocol/server";
import { authEnabled } from "./auth/auth_config.ts";
import { Authenticator } from "./auth/authenticator.ts";

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
  /** This node's id in the cluster (names its audit batches); a random one when absent. */
  nodeId?: string;
  /**
   * Where the gateway reports its calls, served at `/metrics`; a fresh one
   * (gateway and sessions only) when absent. A cluster node passes one that
   * also reads its Raft node.
   */
  metrics?: NodeMetrics;
}

/** A running gateway instance. */
export interface GatewayInstance {
  gateway: Gateway;
  http: GatewayApp;
  /** Authenticates callers when the config turns auth on (a cluster node's admin API uses it too). */
  authenticator?: Authenticator;
  /** The port actually bound; undefined without a listener. */
  port?: number;
  url?: string;
  /** Where runtime policy changes go (the replicated store); absent without a store. */
  policies?: PolicyWriter;
  /** Stops serving, closes sessions and ends every backend. */
  close(): Promise<void>;
}

/** Starts an instance: connects backends (failures do not block), then listens. */
export async function startGatewayInstance(
  options: GatewayInstanceOptions,
): Promise<GatewayInstance> {
  const codec = createResumeCodec(options.stateKey ?? crypto.getRandomValues(new Uint8Array(32)));
  // The session gauges read the app, which needs the gateway, which reports to the metrics.
  const served: { app?: GatewayApp } = {};
  const metrics = options.metrics ?? new NodeMetrics({
    sessions: () => ({
      open: served.app?.sessionCount() ?? 0,
      listening: served.app?.listeningCount() ?? 0,
    }),
  });
  const gateway = new Gateway(options.config, {
    observer: metrics,
    nowMs: () => performance.now(),
    rng: new SeededRng(options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]),
    sealer: codec,
    eraCache: options.eraCache,
  });
  const directory = options.store === undefined
    ? undefined
    : new ServiceDirectory(options.store, gateway, {
      rules: options.config.management?.registration,
    });
  const policies = options.store === undefined
    ? undefined
    : new PolicyStore(options.store, gateway.access);
  addManagementTools(gateway, {
    directory,
    store: options.store,
    management: options.config.management,
    policies,
  });
  installCallGate(gateway, options.config.settings, options.store);
  if (options.store !== undefined) {
    void gateway.access.audit.attach(options.store, options.nodeId ?? crypto.randomUUID());
  }
  // Nothing is served before the stored policies are in force (no window open to all).
  await Promise.all([policies?.start(), gateway.start()]);
  await directory?.start();
  metrics.attach(gateway);
  const authenticator = authEnabled(options.config.auth)
    ? new Authenticator(options.config.auth!)
    : undefined;
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
    auth: authenticator,
  });
  served.app = http;
  const { allowedHosts, allowedOrigins } = options.config.settings;
  const local = localhostAllowedHostnames();
  // Tool and service names are not for other web origins (DNS rebinding).
  const guard = hostOriginGuard([...local, ...allowedHosts], [...local, ...allowedOrigins]);
  http.app.get("/metrics", guard, metricsAccess(authenticator), metricsRoute(metrics));
  if (options.port === undefined) {
    return {
      gateway,
      http,
      policies,
      authenticator,
      close: async () => {
        await policies?.close();
        await gateway.access.audit.close();
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
    policies,
    close: async () => {
      await policies?.close();
      await gateway.access.audit.close();
      await directory?.close();
      await http.close();
      await server.shutdown();
      await gateway.close();
    },
  };
}
